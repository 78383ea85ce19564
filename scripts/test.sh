#!/usr/bin/env bash
# The whole test suite: lint, types, architecture contracts, then pytest on SQLite and on PostgreSQL.
# Where CI=true, a PostgreSQL server that cannot be started fails the run instead of skipping it.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
status=0

step() { printf '\n== %s\n' "$*"; }

step "ruff"; ruff check . || status=1
step "mypy"; mypy || status=1
step "import-linter"; lint-imports || status=1

# The digest's browser test drives Debian's chromium through Playwright (no browser download).
if ! command -v chromium >/dev/null 2>&1; then
    step "chromium for the digest's browser test"
    if command -v apt-get >/dev/null 2>&1 \
        && (apt-get update -q && apt-get install -y -q chromium) >/tmp/cohortbot-chromium.log 2>&1; then
        echo "installed chromium"
    else
        echo "WARNING: chromium could not be installed (see /tmp/cohortbot-chromium.log); the browser test skips"
    fi
fi

# The mail adapter's IMAP tests run Debian's dovecot as an unprivileged user (no service is started).
if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
    step "dovecot for the mail adapter's IMAP tests"
    if command -v apt-get >/dev/null 2>&1 \
        && (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-imapd) \
            >/tmp/cohortbot-dovecot.log 2>&1; then
        echo "installed dovecot-imapd"
    else
        echo "WARNING: dovecot-imapd could not be installed (see /tmp/cohortbot-dovecot.log); the IMAP tests skip"
    fi
fi

step "pytest on SQLite"
COHORTBOT_TEST_PG_URL= pytest -q "$@" || status=1

pgdir=""
cleanup() { [ -n "$pgdir" ] && bash scripts/pg.sh stop "$pgdir"; }
trap cleanup EXIT

step "pytest on PostgreSQL"
url=${COHORTBOT_TEST_PG_URL:-}
if [ -z "$url" ]; then
    pgdir=$(mktemp -d /tmp/cohortbot-pg.XXXXXX)
    if ! url=$(bash scripts/pg.sh start "$pgdir"); then
        url=""
        cat "$pgdir"/*.log 2>/dev/null | tail -20
    fi
fi
if [ -n "$url" ]; then
    COHORTBOT_TEST_PG_URL=$url pytest -q "$@" || status=1
elif [ "${CI:-}" = "true" ]; then
    echo "PostgreSQL could not be started and CI=true: failing"
    status=1
else
    echo "WARNING: PostgreSQL could not be started; the PostgreSQL run was skipped"
fi
exit $status
