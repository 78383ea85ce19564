"""Rules for ``location``: country domains, the time zones of mail, the hours people are awake."""

from __future__ import annotations

import math

from segmentation.rules.base import Finding, Params, RuleContext

# ---- location ------------------------------------------------------------------------

#: Time-zone offsets (minutes east of UTC, standard and summer) to a country where one
#: dominates, else a region. Regions carry an "R-" prefix so they never read as a country.
_OFFSET_PLACE: dict[int, str] = {
    -600: "R-NAM",
    -540: "R-NAM",
    -480: "R-NAM",
    -420: "R-NAM",
    -360: "R-NAM",
    -300: "R-NAM",
    -240: "R-AMER",
    -210: "CA",
    -180: "R-SAM",
    -150: "CA",
    0: "R-EU",
    60: "R-EU",
    120: "R-EU",
    180: "R-EU",
    210: "IR",
    240: "R-ME",
    270: "AF",
    300: "PK",
    330: "IN",
    345: "NP",
    360: "BD",
    420: "R-SEA",
    480: "R-EAS",
    540: "R-EAS",
    570: "AU",
    600: "AU",
    630: "AU",
    660: "AU",
    720: "NZ",
    780: "NZ",
}
_COUNTRY_REGION: dict[str, tuple[str, ...]] = {
    "R-EU": (
        "GB",
        "IE",
        "PT",
        "ES",
        "FR",
        "BE",
        "NL",
        "LU",
        "DE",
        "AT",
        "CH",
        "IT",
        "DK",
        "NO",
        "SE",
        "FI",
        "PL",
        "CZ",
        "SK",
        "HU",
        "SI",
        "HR",
        "RS",
        "RO",
        "BG",
        "GR",
        "EE",
        "LV",
        "LT",
        "UA",
        "RU",
        "TR",
        "IS",
        "BY",
        "MD",
    ),
    "R-NAM": ("US", "CA", "MX"),
    "R-AMER": ("US", "CA", "CL", "VE", "BO", "PY"),
    "R-SAM": ("BR", "AR", "UY", "CL"),
    "R-EAS": ("CN", "TW", "HK", "SG", "MY", "PH", "JP", "KR"),
    "R-SEA": ("TH", "VN", "ID", "KH"),
    "R-ME": ("AE", "OM"),
}


def region_of_offset(minutes: int) -> str | None:
    return _OFFSET_PLACE.get(minutes)


def _consistent(country: str, place: str) -> bool:
    return country == place or country in _COUNTRY_REGION.get(place, ())


def country_domain(ctx: RuleContext, p: Params) -> Finding | None:
    for d in ctx.domains:
        if d.country:
            return Finding(
                d.country, f"e-mail address under the country domain .{d.domain.rsplit('.', 1)[-1]}"
            )
    return None


def time_zone_region(ctx: RuleContext, p: Params) -> Finding | None:
    offsets = ctx.features.tz_offsets
    total = sum(offsets.values())
    if total == 0:
        return None
    places: dict[str, int] = {}
    for minutes, n in offsets.items():
        place = region_of_offset(int(minutes))
        if place:
            places[place] = places.get(place, 0) + n
    if not places:
        return None
    place = max(places, key=lambda k: places[k])
    share = places[place] / total
    if share < p.get("min_share", 0.6):
        return None
    common = max(offsets, key=lambda k: offsets[k])
    tz = f"UTC{int(common) // 60:+03d}{abs(int(common)) % 60:02d}"
    # A country domain that fits the time zone is more precise than the region.
    for d in ctx.domains:
        if d.country and _consistent(d.country, place):
            return Finding(d.country, f"mail sent from time zone {tz} fits .{d.country.lower()}", share)
    return Finding(place, f"{share:.0%} of mail sent from time zone {tz}", share)


def active_hours_region(ctx: RuleContext, p: Params) -> Finding | None:
    """When people are awake: the middle of a member's active hours, read as local mid-afternoon.

    Weak on its own (night owls exist), so its weight is set below the decision threshold:
    it corroborates a country domain or a time zone rather than deciding alone.
    """
    hours = ctx.features.hours_utc
    total = sum(hours)
    if total < p.get("min_activities", 20):
        return None
    # Circular mean of the hour of day, so 23:00 and 01:00 average to midnight, not noon.
    x = sum(n * math.cos(2 * math.pi * h / 24) for h, n in enumerate(hours))
    y = sum(n * math.sin(2 * math.pi * h / 24) for h, n in enumerate(hours))
    spread = math.hypot(x, y) / total
    if spread < p.get("min_concentration", 0.3):
        return None  # active around the clock: a team account or a wanderer
    centre_utc = (math.degrees(math.atan2(y, x)) / 15) % 24
    offset = round(((_LOCAL_MIDDAY - centre_utc + 12) % 24) - 12) * 60
    place = region_of_offset(offset) or region_of_offset(offset + 60) or region_of_offset(offset - 60)
    if place is None:
        return None
    for d in ctx.domains:
        if d.country and _consistent(d.country, place):
            return Finding(d.country, f"active hours fit .{d.country.lower()}", spread)
    return Finding(place, f"most active around {centre_utc:.0f}:00 UTC, afternoon in {place}", spread)


_LOCAL_MIDDAY = 15.0  # the middle of a typical waking day (roughly 08:00 to 22:00)
