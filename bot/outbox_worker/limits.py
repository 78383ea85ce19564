"""Rate limits for the outbox: token buckets per destination and per platform, on the injected clock.

A bucket never reads the wall clock; time comes from the caller, so the same code paces a
live bot and ``simulate``'s virtual week. A ``RateLimited`` answer pauses the destination
until the platform's ``retry_after`` has passed, whatever tokens the bucket holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Rate:
    """``per_second`` tokens refill continuously up to ``burst``; each send takes one."""

    per_second: float
    burst: int = 1

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError("a rate needs per_second > 0 and burst >= 1")


def _default_destination() -> dict[str, Rate]:
    # Slack: about one message a second per channel; Discord: 5 per 5 s per channel or DM;
    # mail: a few a second to one address is plenty (and per-domain greylisting is the MTA's job).
    return {"slack": Rate(1.0, 1), "discord": Rate(1.0, 5), "mail": Rate(1.0, 3)}


def _default_platform() -> dict[str, Rate]:
    # Discord allows 50 requests/s per bot; Slack's postMessage tier is a few hundred a minute;
    # the SMTP relay's own limit is site configuration, 10/s is a polite default.
    return {"discord": Rate(40.0, 40), "slack": Rate(5.0, 10), "mail": Rate(10.0, 10)}


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Per platform: the rate for each destination and the rate for the platform as a whole.

    A platform absent from a mapping has no limit of that kind.
    """

    per_destination: Mapping[str, Rate] = field(default_factory=_default_destination)
    per_platform: Mapping[str, Rate] = field(default_factory=_default_platform)

    @classmethod
    def unlimited(cls) -> RateLimits:
        return cls(per_destination={}, per_platform={})


class TokenBucket:
    """Tokens refilled by elapsed (injected) time; ``pause`` blocks until a moment regardless."""

    __slots__ = ("_at", "_paused_until", "_rate", "_tokens")

    def __init__(self, rate: Rate, *, now: datetime) -> None:
        self._rate = rate
        self._tokens = float(rate.burst)
        self._at = now
        self._paused_until: datetime | None = None

    def _refill(self, now: datetime) -> None:
        if now > self._at:
            gained = (now - self._at).total_seconds() * self._rate.per_second
            self._tokens = min(float(self._rate.burst), self._tokens + gained)
            self._at = now

    def ready_at(self, now: datetime) -> datetime:
        """When a token is available (``now`` if one is)."""
        self._refill(now)
        at = now
        if self._tokens < 1.0:
            at = now + timedelta(seconds=(1.0 - self._tokens) / self._rate.per_second)
        if self._paused_until is not None and self._paused_until > at:
            at = self._paused_until
        return at

    def take(self, now: datetime) -> bool:
        if self.ready_at(now) > now:
            return False
        self._tokens -= 1.0
        return True

    def give_back(self) -> None:
        self._tokens = min(float(self._rate.burst), self._tokens + 1.0)

    def pause(self, until: datetime) -> None:
        # The platform said "not before"; after that, one send, then the normal rate.
        if self._paused_until is None or until > self._paused_until:
            self._paused_until = until
        self._tokens = min(self._tokens, 1.0)

    @property
    def paused_until(self) -> datetime | None:
        return self._paused_until

    def idle(self, now: datetime) -> bool:
        """Full and not paused: forgetting it changes nothing."""
        return self.ready_at(now) <= now and self._tokens >= self._rate.burst


#: Used for a destination of a platform that has no configured rate: effectively unlimited,
#: but still pausable by a ``RateLimited`` answer.
_OPEN = Rate(1e9, 1_000_000)


class Limiter:
    """All buckets of one worker: one per destination and one per platform."""

    def __init__(self, limits: RateLimits) -> None:
        self._limits = limits
        self._dest: dict[str, TokenBucket] = {}
        self._platform: dict[str, TokenBucket] = {}

    def _bucket(
        self, table: dict[str, TokenBucket], key: str, rate: Rate | None, now: datetime
    ) -> TokenBucket:
        bucket = table.get(key)
        if bucket is None:
            bucket = table[key] = TokenBucket(rate or _OPEN, now=now)
        return bucket

    def _dest_bucket(self, platform: str, destination: str, now: datetime) -> TokenBucket:
        return self._bucket(self._dest, destination, self._limits.per_destination.get(platform), now)

    def _platform_bucket(self, platform: str, now: datetime) -> TokenBucket:
        return self._bucket(self._platform, platform, self._limits.per_platform.get(platform), now)

    def try_take(self, platform: str, destination: str, now: datetime) -> bool:
        """Take a token from both buckets, or from neither."""
        dest = self._dest_bucket(platform, destination, now)
        plat = self._platform_bucket(platform, now)
        if dest.ready_at(now) > now or plat.ready_at(now) > now:
            return False
        dest.take(now)
        plat.take(now)
        return True

    def refund(self, platform: str, destination: str, now: datetime) -> None:
        """Give back the tokens of a send that did not happen."""
        self._dest_bucket(platform, destination, now).give_back()
        self._platform_bucket(platform, now).give_back()

    def pause(self, platform: str, destination: str, *, now: datetime, until: datetime) -> None:
        self._dest_bucket(platform, destination, now).pause(until)

    def paused_until(self, destination: str, now: datetime) -> datetime | None:
        """When a destination a platform told us to leave alone may be tried again, if later than now."""
        bucket = self._dest.get(destination)
        until = None if bucket is None else bucket.paused_until
        return until if until is not None and until > now else None

    def blocked(self, now: datetime) -> tuple[dict[str, datetime], dict[str, datetime]]:
        """Destinations and platforms without a token now, each with when it gets one."""
        dests = {k: b.ready_at(now) for k, b in self._dest.items()}
        plats = {k: b.ready_at(now) for k, b in self._platform.items()}
        return ({k: t for k, t in dests.items() if t > now}, {k: t for k, t in plats.items() if t > now})

    def forget_idle(self, now: datetime) -> None:
        """Drop full buckets, so a broadcast to ten thousand DMs does not keep ten thousand buckets."""
        for key in [k for k, b in self._dest.items() if b.idle(now)]:
            del self._dest[key]
