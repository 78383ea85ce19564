"""ISO weeks in the community's time zone: the digest's period keys and their bounds in UTC.

A week is Monday 00:00 to the next Monday 00:00 *local* time, so a community in
Europe/Berlin gets its Monday digest about the Berlin week even across a DST change
(that week is then 167 or 169 hours long, which is correct).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from bot.core.errors import BadArgument

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True, slots=True, order=True)
class Week:
    """One ISO week: ``str(week)`` is the period key, e.g. ``2026-W47``."""

    year: int
    number: int

    def __str__(self) -> str:
        return f"{self.year:04d}-W{self.number:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    def bounds(self, tz: tzinfo) -> tuple[datetime, datetime]:
        """[start, end) of the week in UTC, from local midnights in ``tz``."""
        start = datetime.combine(self.monday, time(0), tzinfo=tz)
        end = datetime.combine(self.monday + timedelta(days=7), time(0), tzinfo=tz)
        return start.astimezone(UTC), end.astimezone(UTC)

    def shifted(self, weeks: int) -> Week:
        return week_of_date(self.monday + timedelta(weeks=weeks))


def parse_week(text: str) -> Week:
    """``2026-W47`` -> Week; anything else is a BadArgument that says the expected form."""
    m = _WEEK.match(text.strip())
    if m is None:
        raise BadArgument(f"week {text!r}: expected an ISO week such as 2026-W47")
    year, number = int(m.group(1)), int(m.group(2))
    try:
        date.fromisocalendar(year, number, 1)
    except ValueError:
        raise BadArgument(f"week {text!r}: {year} has no week {number}") from None
    return Week(year, number)


def week_of_date(day: date) -> Week:
    iso = day.isocalendar()
    return Week(iso.year, iso.week)


def week_of(moment: datetime, tz: tzinfo) -> Week:
    """The week ``moment`` falls in, seen from ``tz``."""
    if moment.tzinfo is None:
        raise ValueError("week_of needs a timezone-aware datetime")
    return week_of_date(moment.astimezone(tz).date())


def last_completed_week(now: datetime, tz: tzinfo) -> Week:
    """The most recent week that has fully ended at ``now`` (the one before the current week)."""
    return week_of(now, tz).shifted(-1)


def weeks_between(first: Week, last: Week) -> list[Week]:
    """Every week from ``first`` to ``last``, both included (empty when first > last)."""
    out: list[Week] = []
    week = first
    while week <= last:
        out.append(week)
        week = week.shifted(1)
    return out
