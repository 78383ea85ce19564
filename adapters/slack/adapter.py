"""``SlackAdapter``: one workspace through slack-bolt's AsyncApp, over Socket Mode or HTTP.

Inbound, every request is verified by bolt (HTTP: HMAC-SHA256 of the raw body with the
signing secret, a 5-minute window, a constant-time compare; Socket Mode: our own
authenticated socket), checked for the configured workspace, queued in the ``Inbox`` and
acknowledged at once; the inbox then looks profiles up (``users.info``, with the e-mail
where ``users:read.email`` is granted), translates, and hands each event to the sink.
Commands and button clicks are answered through their ``response_url``, shown only to the
person who asked. Outbound, ``send`` paces each channel to about one message a second,
lets slack_sdk wait out 429s, tags every message with its outbox idempotency key in the
message metadata (so ``reconcile`` can find it after a crash) and maps every failure to
the domain's send errors.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import ValidationError
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.base import LiveAdapter
from adapters.imports.slack_translate import SlackDirectory
from adapters.slack.backfill import LastSeen, Reader, backfill_channel, default_oldest, member_channels
from adapters.slack.blocks import neutralise
from adapters.slack.client import api_error, send_error, web_client
from adapters.slack.commands import (
    REFUSED_WORKSPACE,
    click_events,
    command_event,
    foreign_workspace,
)
from adapters.slack.inbox import Inbox, Job
from adapters.slack.pacing import ChannelPacer, RealTimer, Timer
from adapters.slack.profiles import Profiles
from adapters.slack.sender import Sender
from adapters.slack.settings import SlackSecrets, SlackSettings
from adapters.slack.socket import SocketClient, SocketHandler
from adapters.slack.translate import translate_event, users_in
from bot.core.clock import Clock, SystemClock
from bot.core.errors import CohortbotError, ConfigurationError
from bot.core.events import Event
from bot.core.outbound import (
    Capabilities,
    CommandReply,
    EventSink,
    OutboundMessage,
    SendReceipt,
)

log = logging.getLogger(__name__)

PLATFORM = "slack"
CAPABILITIES = Capabilities(
    platform=PLATFORM,
    dm=True,
    post=True,
    buttons=True,
    blocks=True,
    html=False,
    max_length=3000,  # one section block; longer texts are split into several
    immediate_replies=True,
    idempotent_send=False,
)


class SlackAdapter:
    """The ``LiveAdapter`` for Slack; build it from the ``[adapters.slack]`` settings.

    ``last_seen`` turns the start-up back-fill on (see ``adapters.slack.backfill``).
    ``clock`` stamps events that carry no time; ``timer`` paces sends and waits out 429s
    (tests pass virtual ones).
    """

    def __init__(
        self,
        settings: SlackSettings,
        *,
        secrets: SlackSecrets | None = None,
        last_seen: LastSeen | None = None,
        clock: Clock | None = None,
        timer: Timer | None = None,
    ) -> None:
        self.settings = settings
        self.secrets = secrets or settings.secrets()
        self.last_seen = last_seen
        self.clock = clock or SystemClock()
        self.timer = timer or RealTimer()
        self.client = web_client(
            self.secrets.bot_token,
            base_url=settings.api_base_url,
            timeout=settings.timeout,
            timer=self.timer,
            rate_limit_retries=settings.rate_limit_retries,
        )
        http = settings.mode == "http"
        if http and not self.secrets.signing_secret:
            raise ConfigurationError("Slack HTTP mode needs the signing secret")
        # Bolt's request verification stays on for HTTP: it is what makes a forged or
        # replayed request a 401. Socket Mode requests arrive over our own authenticated
        # socket and carry no signature.
        self.app = AsyncApp(
            client=self.client,
            signing_secret=self.secrets.signing_secret,
            request_verification_enabled=http,
            process_before_response=True,  # listeners only queue work, so acking after them is quick
            name="cohortbot-slack",
            logger=logging.getLogger("adapters.slack.bolt"),
        )
        self.app.event(re.compile(".*"))(self._on_event)
        self.app.command(settings.command)(self._on_command)
        # Every click is acknowledged (a 404 shows the person a warning); only our buttons
        # (``cohort:`` action ids) become events.
        self.app.action(re.compile(".*"))(self._on_action)
        self.inbox = Inbox(timer=self.timer)
        self.sender = Sender(
            self.client, pacer=ChannelPacer(settings.channel_interval, timer=self.timer), clock=self.clock
        )
        self.directory = SlackDirectory(users={})
        self.profile = Profiles(self.client, directory=self.directory, clock=self.clock)
        self._sink: EventSink | None = None
        self._accepting = False  # between start() and stop(): new requests are queued
        self._own: frozenset[str] = frozenset()  # the bot's user and bot ids, from auth.test
        self._socket: SocketHandler | None = None
        self._backfill: asyncio.Task[int] | None = None
        #: Set once the start-up back-fill has finished (or was not asked for).
        self.backfilled = asyncio.Event()

    @classmethod
    def from_section(
        cls,
        section: Mapping[str, Any],
        *,
        last_seen: LastSeen | None = None,
        clock: Clock | None = None,
        timer: Timer | None = None,
    ) -> SlackAdapter:
        """Build from the ``[adapters.slack]`` table of cohortbot.toml (``enabled`` already removed)."""
        try:
            settings = SlackSettings.model_validate(dict(section))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'slack'}: "
                + err["msg"].removeprefix("Value error, ")
                for err in exc.errors()
            )
            raise ConfigurationError(f"[adapters.slack] cannot work: {problems}") from exc
        return cls(settings, last_seen=last_seen, clock=clock, timer=timer)

    # -- LiveAdapter ---------------------------------------------------------------------

    @property
    def platform(self) -> str:
        return PLATFORM

    @property
    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    async def start(self, sink: EventSink) -> None:
        """Listen (Socket Mode connects here; HTTP mode answers on ``routes()``), then back-fill."""
        await self._check_workspace()
        self._sink = sink
        self._accepting = True
        self.inbox.start()
        if self.settings.mode == "socket":
            client = SocketClient(
                app_token=self.secrets.app_token,
                web_client=self.client,
                ping_interval=self.settings.ping_interval,
                logger=logging.getLogger("adapters.slack.socket"),
                fixed_url=self.settings.socket_mode_url,
            )
            self._socket = SocketHandler(self.app, client)
            await self._socket.client.open()
        self.backfilled.clear()
        if self.last_seen is not None and self.settings.backfill_days > 0:
            self._backfill = asyncio.create_task(self._backfill_once(), name="slack-backfill")
        else:
            self.backfilled.set()
        log.info("slack: listening (%s mode, workspace %s)", self.settings.mode, self.settings.team_id)

    async def _check_workspace(self) -> None:
        """``auth.test``: a token for another workspace, or a dead one, stops start-up with its reason."""
        try:
            resp = await self.client.auth_test()
        except SlackApiError as exc:
            error = api_error(exc)
            if error in ("invalid_auth", "not_authed", "token_revoked", "account_inactive", "token_expired"):
                raise ConfigurationError(f"Slack refused the bot token ({error})") from exc
            log.warning("slack: auth.test failed (%s); continuing", error or exc)
            return
        except (TimeoutError, OSError) as exc:
            log.warning("slack: auth.test failed (%s); continuing", exc)
            return
        team = resp.get("team_id")
        # The bot's own messages are dropped live (bolt ignores self events); the back-fill
        # drops them too, so both paths store the same.
        self._own = frozenset(str(v) for v in (resp.get("user_id"), resp.get("bot_id")) if v)
        if team != self.settings.team_id:
            raise ConfigurationError(
                f"the Slack bot token belongs to workspace {team}, but team_id is {self.settings.team_id}"
            )

    async def stop(self) -> None:
        """Refuse new requests (Slack sends them again later), then deliver what was accepted."""
        self._accepting = False
        if self._backfill is not None:
            self._backfill.cancel()
            await asyncio.gather(self._backfill, return_exceptions=True)
            self._backfill = None
        if self._socket is not None:
            await self._socket.client.shut()
            self._socket = None
        await self.inbox.stop()
        self._sink = None

    async def send(self, message: OutboundMessage) -> SendReceipt:
        return await self.sender.send(message)

    async def reconcile(self, message: OutboundMessage) -> SendReceipt | None:
        return await self.sender.reconcile(message)

    # -- HTTP mode -----------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """The route the bot's aiohttp server mounts in HTTP mode (none in Socket Mode)."""
        if self.settings.mode != "http":
            return []
        return [web.post(self.settings.http_path, self.handle_http)]

    def aiohttp_app(self) -> web.Application:
        """A standalone aiohttp application with ``routes()`` (tests, or a separate port)."""
        app = web.Application()
        app.add_routes(self.routes())
        return app

    async def handle_http(self, request: web.Request) -> web.Response:
        if self.settings.mode != "http":
            return web.Response(status=404)
        if not self._accepting:  # not started, or stopping: Slack tries again later
            return web.Response(status=503, text="not accepting events now")
        bolt_response = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    # -- inbound -------------------------------------------------------------------------

    def _admit(self) -> None:
        """A listener raising makes bolt answer 500 (HTTP) or not ack (Socket Mode): Slack retries."""
        if not self._accepting:
            raise CohortbotError("the Slack adapter is stopping; Slack will send this again")

    async def _on_event(self, body: dict[str, Any]) -> None:
        self._admit()
        if body.get("team_id") != self.settings.team_id:
            log.warning("slack: event from workspace %s ignored", body.get("team_id"))
            return
        event_id = str(body.get("event_id") or "")
        if not self.inbox.first_sight(event_id):
            log.debug("slack: repeated event %s dropped", event_id)
            return
        event = body.get("event")
        if isinstance(event, Mapping):
            received = self.clock.now()
            label = event_id or str(event.get("type"))
            self.inbox.put(Job(label=label, run=partial(self._deliver, event, received)))

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        self._admit()
        if foreign_workspace(body, team_id=self.settings.team_id):
            log.warning("slack: command from workspace %s refused", body.get("team_id"))
            await ack(text=REFUSED_WORKSPACE)
            return
        await ack()
        event = command_event(body, team_id=self.settings.team_id, received_at=self.clock.now())
        response_url = _text(body.get("response_url"))
        run = partial(self._deliver_interactive, event, response_url, event.actor.external_id)
        self.inbox.put(Job(label=f"command {event.command}", run=run))

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        self._admit()
        await ack()
        if foreign_workspace(body, team_id=self.settings.team_id):
            log.warning("slack: click from another workspace ignored")
            return
        response_url = _text(body.get("response_url"))
        for click in click_events(body, team_id=self.settings.team_id, received_at=self.clock.now()):
            run = partial(self._deliver_interactive, click, response_url, click.actor.external_id)
            self.inbox.put(Job(label=f"click {click.action}", run=run))

    def _live_sink(self) -> EventSink:
        if self._sink is None:
            raise CohortbotError("the Slack adapter is not started")
        return self._sink

    async def _deliver(self, event: Mapping[str, Any], received: datetime) -> None:
        sink = self._live_sink()
        for user in users_in(event):
            for profile in await self.profile(user):
                await sink(profile)
        for item in translate_event(event, team_id=self.settings.team_id, directory=self.directory,
                                    received_at=received):
            await sink(item)

    async def _deliver_interactive(self, event: Event, response_url: str, user_id: str) -> None:
        reply = await self._live_sink()(event)
        if reply is not None:
            try:
                await self._answer(reply, response_url=response_url, user_id=user_id)
            except Exception:  # the command ran; running it again would not help the answer
                log.exception("slack: could not answer %s", type(event).__name__)

    async def _answer(self, reply: CommandReply, *, response_url: str, user_id: str) -> None:
        text = neutralise(reply.text)
        if reply.attachment is not None:
            name, content = reply.attachment
            try:
                channel = await self.sender.dm_channel(user_id)
                await self.client.files_upload_v2(channel=channel, filename=name, content=content, title=name)
            except Exception as exc:
                log.exception("slack: could not upload %s for %s", name, user_id)
                text += f"\n(The file {name} could not be attached: {send_error(exc)}; ask again later.)"
        if not response_url:
            return
        hook = AsyncWebhookClient(response_url, timeout=self.settings.timeout)
        resp = await hook.send(
            text=text,
            response_type="ephemeral" if reply.ephemeral else "in_channel",
            replace_original=False,
        )
        if resp.status_code != 200:
            log.warning("slack: response_url answered %s: %s", resp.status_code, resp.body)

    # -- back-fill -----------------------------------------------------------------------

    async def backfill(self) -> int:
        """Read every channel's history since the last stored message; returns messages read."""
        if self.last_seen is None:
            return 0
        read = Reader(self.client, timer=self.timer)
        channels = list(self.settings.backfill_channels) or await member_channels(read)
        total = 0
        for channel in channels:
            try:
                stored = await self.last_seen(channel)
                # The store keeps Slack's native id "C…:ts"; a bare ts is accepted as well.
                oldest = stored.rpartition(":")[2] if stored else default_oldest(
                    self.clock.now(), days=self.settings.backfill_days
                )
                total += await backfill_channel(
                    read, channel, team_id=self.settings.team_id, oldest=oldest,
                    limit=self.settings.backfill_limit, directory=self.directory, own=self._own,
                    profiles=self.profile, deliver=self._deliver_many,
                )
            except asyncio.CancelledError:
                raise
            except Exception:  # one channel's failure leaves the others (and the next start) to try
                log.exception("slack: back-fill of %s stopped", channel)
        log.info("slack: back-fill read %d message(s) in %d channel(s)", total, len(channels))
        return total

    async def _backfill_once(self) -> int:
        try:
            return await self.backfill()
        except Exception:  # e.g. users.conversations failed: the next start tries again
            log.exception("slack: back-fill failed")
            return 0
        finally:
            self.backfilled.set()

    async def _deliver_many(self, events: list[Event]) -> None:
        """Started in order, so the sink queues them in order and stores them in few transactions."""
        sink = self._live_sink()
        await asyncio.gather(*(sink(e) for e in events))


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


if TYPE_CHECKING:  # mypy holds the adapter to the protocol the app and the outbox worker use

    def _is_live_adapter(adapter: SlackAdapter) -> LiveAdapter:
        return adapter
