# Multi-stage build: a wheel is built in the first stage, only the wheel and its
# dependencies reach the runtime image, which runs as an unprivileged user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE NOTICE ./
COPY bot ./bot
COPY adapters ./adapters
COPY segmentation ./segmentation
COPY messages ./messages
COPY migrations ./migrations
RUN pip install --no-cache-dir build && python -m build --wheel --outdir /dist

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 cohortbot
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl
COPY docker/entrypoint.sh /usr/local/bin/cohortbot-entrypoint
USER cohortbot
WORKDIR /home/cohortbot
ENV COHORTBOT_DATABASE_URL=sqlite+aiosqlite:////home/cohortbot/data/cohortbot.db
VOLUME ["/home/cohortbot/data"]
# Migrate first, then run whatever cohortbot command was asked for (the live bot by default).
ENTRYPOINT ["cohortbot-entrypoint"]
CMD ["run", "--config", "/home/cohortbot/cohortbot.toml"]
