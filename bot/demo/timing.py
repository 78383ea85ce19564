"""When people write: each persona's hours in their own time zone, and how long answers take.

Time of day is evidence (a hobbyist writes in the evening and at weekends, an engineer
at a company during office hours), so times are drawn in the member's local zone and
converted to UTC, and every reply is nudged into its author's waking hours.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

from bot.demo.people import Person
from bot.demo.world import END, zone


def _local_hour(rng: random.Random, hours: str, weekend: bool) -> float:
    if hours == "work":
        return rng.triangular(7.5, 18.5, 11.0) if not weekend else rng.uniform(9, 22)
    if hours == "evening":
        if weekend:
            return rng.uniform(9, 23.5)
        # Weekday evenings mostly, now and then a message before work.
        return rng.uniform(6.5, 8.5) if rng.random() < 0.2 else rng.uniform(18, 23.9)
    if hours == "student":
        return rng.uniform(10, 26) % 24
    return rng.uniform(7, 23.5)


def _keep_day(rng: random.Random, hours: str, weekend: bool) -> bool:
    if hours == "work":
        return not weekend or rng.random() < 0.06
    if hours == "evening":
        return weekend or rng.random() < 0.55  # weekends count about twice a weekday
    return True


def opening_time(rng: random.Random, person: Person, *, not_after: datetime | None = None) -> datetime:
    """A moment in the person's active window at an hour that suits them, in UTC, whole seconds."""
    lo = person.active_from
    hi = min(person.active_until, not_after or END) - timedelta(hours=2)
    if hi <= lo:
        hi = lo + timedelta(hours=1)
    tz = zone(person.tz)
    span = (hi - lo).total_seconds()
    chosen = lo
    for _ in range(40):
        day = (lo + timedelta(seconds=rng.uniform(0, span))).astimezone(tz)
        weekend = day.weekday() >= 5
        if not _keep_day(rng, person.hours, weekend):
            continue
        hour = _local_hour(rng, person.hours, weekend)
        local = day.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(hours=hour)
        # Re-attach the zone: crossing a DST change while adding hours must yield the real offset.
        local = local.replace(tzinfo=None).replace(tzinfo=tz)
        chosen = local.astimezone(UTC).replace(microsecond=0)
        if lo <= chosen < hi:
            return chosen
    return lo.replace(microsecond=0) + timedelta(seconds=int(span // 2))


def reply_delay(rng: random.Random, platform: str) -> timedelta:
    """Chat answers come within minutes, list answers within hours; both have long tails."""
    if platform == "mail":
        minutes = rng.lognormvariate(math.log(150), 1.0)
    else:
        minutes = rng.lognormvariate(math.log(12), 1.2)
    return timedelta(minutes=max(1.0, min(minutes, 3 * 24 * 60)))


def awake(rng: random.Random, person: Person, at: datetime) -> datetime:
    """Move a moment forward into the person's waking (or working) hours."""
    tz = zone(person.tz)
    local = at.astimezone(tz)
    if local.hour < 7:
        local = local.replace(hour=7, minute=0, second=0) + timedelta(minutes=rng.randrange(0, 180))
    if person.hours == "work" and (local.weekday() >= 5 or local.hour >= 19) and rng.random() < 0.8:
        days = 1
        while (local + timedelta(days=days)).weekday() >= 5:
            days += 1
        local = (local + timedelta(days=days)).replace(hour=8, minute=0, second=0) + timedelta(
            minutes=rng.randrange(0, 180))
    local = local.replace(tzinfo=None).replace(tzinfo=tz)
    return local.astimezone(UTC).replace(microsecond=0)
