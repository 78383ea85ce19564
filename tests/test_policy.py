"""Policy rules one by one, on plain snapshots (no database): each rule can stop or shape an invitation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from bot.core.errors import ConfigurationError
from messages.policy import (
    RULES,
    MemberSnapshot,
    PastInvitation,
    Reach,
    choose_platform,
    decide,
    next_allowed,
)
from messages.programmes import PolicySettings, load_catalogue, load_catalogue_text

# Noon UTC on a Wednesday: outside quiet hours for a UTC member.
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CATALOGUE = load_catalogue()
SETTINGS = CATALOGUE.policy
BUG_HUNT = CATALOGUE.get("bug-hunt")


def developer(**changes: object) -> MemberSnapshot:
    base = MemberSnapshot(
        member_id=1,
        segments=frozenset({"developers"}),
        dimensions={"skill": "technical", "purpose": "volunteer", "engagement": "regular"},
        reach=(Reach("discord", last_active=NOW - timedelta(hours=1)),),
        tz_offset_minutes=0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_an_eligible_developer_is_invited_to_the_bug_hunt_now_on_discord() -> None:
    d = decide(developer(), BUG_HUNT, settings=SETTINGS, now=NOW)
    assert d.invite
    assert d.platform == "discord"
    assert d.not_before is None
    assert not d.needs_approval


def test_rules_table_is_ordered_and_named() -> None:
    names = [name for name, _ in RULES]
    assert names[:2] == ["never_bots", "opted_out"]
    assert names.index("once_per_programme") < names.index("cap") < names.index("quiet_hours")
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(
    ("changes", "paused", "rule"),
    [
        ({"is_bot": True}, False, "never_bots"),
        ({"consent": {"all": "out"}}, False, "opted_out"),
        ({"consent": {"programme:bug-hunt": "out"}}, False, "opted_out"),
        ({}, True, "paused"),
        (
            {"segments": frozenset({"end_users"}), "dimensions": {"skill": "non_technical"}},
            False,
            "not_eligible",
        ),
        (
            {"invitations": (PastInvitation("bug-hunt", "declined", NOW - timedelta(days=400)),)},
            False,
            "once_per_programme",
        ),
        ({"reach": (Reach("discord", undeliverable=True),)}, False, "platform"),
        ({"reach": ()}, False, "platform"),
    ],
)
def test_each_gate_skips_with_its_own_name(changes: dict[str, object], paused: bool, rule: str) -> None:
    d = decide(developer(**changes), BUG_HUNT, settings=SETTINGS, now=NOW, paused=paused)
    assert not d.invite
    assert d.rule == rule


def test_opting_in_to_another_programme_does_not_undo_this_opt_out() -> None:
    member = developer(consent={"programme:bug-hunt": "out", "programme:welcome": "in"})
    assert decide(member, BUG_HUNT, settings=SETTINGS, now=NOW).rule == "opted_out"
    assert decide(developer(consent={"all": "in"}), BUG_HUNT, settings=SETTINGS, now=NOW).invite


def test_cap_across_programmes_per_30_days() -> None:
    two = (
        PastInvitation("welcome", "sent", NOW - timedelta(days=20)),
        PastInvitation("champions", "accepted", NOW - timedelta(days=10)),
    )
    d = decide(developer(invitations=two), BUG_HUNT, settings=SETTINGS, now=NOW)
    assert (d.action, d.rule) == ("skip", "cap")
    # Once the older one is more than 30 days back, the cap has room again.
    older = (replace(two[0], at=NOW - timedelta(days=31)), two[1])
    assert decide(developer(invitations=older), BUG_HUNT, settings=SETTINGS, now=NOW).invite
    # A rejected invitation never reached the member and does not count.
    rejected = (replace(two[0], status="rejected"), two[1])
    assert decide(developer(invitations=rejected), BUG_HUNT, settings=SETTINGS, now=NOW).invite


def test_cap_is_configurable() -> None:
    one = (PastInvitation("welcome", "sent", NOW - timedelta(days=20)),)
    strict = SETTINGS.model_copy(update={"cap_per_30_days": 1})
    assert decide(developer(invitations=one), BUG_HUNT, settings=strict, now=NOW).rule == "cap"


def test_cooldown_defers_to_seven_days_after_the_last_invitation() -> None:
    last = PastInvitation("welcome", "sent", NOW - timedelta(days=2))
    d = decide(developer(invitations=(last,)), BUG_HUNT, settings=SETTINGS, now=NOW)
    assert d.invite
    assert d.not_before == last.at + timedelta(days=7)
    assert "cooldown" in d.deferred_by


def test_cooldown_also_keeps_away_from_an_invitation_planned_for_later() -> None:
    later = PastInvitation("welcome", "planned", NOW + timedelta(days=1))
    d = decide(developer(invitations=(later,)), BUG_HUNT, settings=SETTINGS, now=NOW)
    assert d.not_before == later.at + timedelta(days=7)


def test_quiet_hours_defer_to_the_morning_in_the_members_time_zone() -> None:
    # 22:30 UTC is 23:30 in UTC+1: quiet until 08:00 local = 07:00 UTC the next day.
    late = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)
    d = decide(developer(tz_offset_minutes=60), BUG_HUNT, settings=SETTINGS, now=late)
    assert d.invite
    assert d.not_before == datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
    assert d.deferred_by == ("quiet_hours",)
    # The same moment is 14:30 in UTC-8: no wait.
    assert decide(developer(tz_offset_minutes=-480), BUG_HUNT, settings=SETTINGS, now=late).not_before is None


def test_quiet_hours_after_midnight_end_the_same_morning() -> None:
    early = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    assert next_allowed(early, 0, start=time(21), end=time(8)) == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    assert next_allowed(early, 0, start=time(13), end=time(14)) == early


def test_unknown_time_zone_is_not_guessed() -> None:
    late = datetime(2026, 11, 25, 23, 0, tzinfo=UTC)
    assert decide(developer(tz_offset_minutes=None), BUG_HUNT, settings=SETTINGS, now=late).not_before is None


def test_busy_member_waits_a_day() -> None:
    d = decide(developer(recent_sends=3), BUG_HUNT, settings=SETTINGS, now=NOW)
    assert d.not_before == NOW + timedelta(days=1)
    assert "busy" in d.deferred_by


def test_business_segments_wait_for_approval_and_a_campaign_is_the_approval() -> None:
    partner = CATALOGUE.get("partner-referral")
    integrator = developer(
        segments=frozenset({"system_integrators"}), dimensions={"org_type": "system_integrator"}
    )
    d = decide(integrator, partner, settings=SETTINGS, now=NOW)
    assert d.invite and d.needs_approval and d.rule == "approval"
    assert not decide(integrator, partner, settings=SETTINGS, now=NOW, approved=True).needs_approval


def test_approval_by_segment_list() -> None:
    sniper = CATALOGUE.get("code-sniper")
    assert not decide(developer(), sniper, settings=SETTINGS, now=NOW).needs_approval
    isv = developer(segments=frozenset({"isvs"}), dimensions={"org_type": "isv"})
    assert decide(isv, sniper, settings=SETTINGS, now=NOW).needs_approval


def test_campaign_segment_replaces_the_target() -> None:
    end_user = developer(segments=frozenset({"end_users"}), dimensions={"skill": "non_technical"})
    assert decide(end_user, BUG_HUNT, settings=SETTINGS, now=NOW, segment_override="end_users").invite
    assert decide(developer(), BUG_HUNT, settings=SETTINGS, now=NOW, segment_override="end_users").rule == (
        "not_eligible"
    )


def test_platform_prefers_latest_activity_then_programme_preference() -> None:
    reach = (
        Reach("mail", last_active=NOW - timedelta(days=3)),
        Reach("slack", last_active=NOW - timedelta(hours=2)),
    )
    assert choose_platform(reach, []) == "slack"
    assert choose_platform(reach, ["mail", "discord"]) == "mail"
    undated = (Reach("mail"), Reach("discord"))
    assert choose_platform(undated, []) == "discord"
    assert choose_platform(undated, ["mail"]) == "mail"
    assert choose_platform((Reach("slack", undeliverable=True),), []) is None


def test_default_catalogue_has_the_seven_programmes() -> None:
    assert CATALOGUE.names() == [
        "welcome",
        "bug-hunt",
        "community-hero",
        "code-sniper",
        "device-testing",
        "partner-referral",
        "champions",
    ]
    assert BUG_HUNT.points_for("bug_reported") == 1 and BUG_HUNT.points_for("bug_fixed") == 3
    assert BUG_HUNT.settings.leaderboard == "quarter" and BUG_HUNT.settings.public_scoreboard
    assert CATALOGUE.get("partner-referral").approval_segments is None  # every invitation approved


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[programmes.x]\ntitle='X'\ntarget='developers'\ncolour='red'\n", "colour"),
        ("[programmes.x]\ntitle='X'\ntarget='wizards'\n", "unknown segment"),
        ("[programmes.x]\ntitle='X'\ntarget='skil == \"technical\"'\n", "unknown dimension"),
        ("[programmes.x]\ntitle='X'\ntarget='developers'\npoints={karma=1}\n", "unknown points rule"),
        ("[programmes.x]\ntitle='X'\ntarget='developers'\napproval=['wizards']\n", "unknown segment"),
        ("[programmes.x]\ntitle='X'\ntarget='developers'\nplatforms=['irc']\n", "unknown platform"),
        ("[policy]\ncap=3\n", "cap"),
        ("[programmes.x]\ntarget='developers'\n", "title"),
    ],
)
def test_bad_catalogues_name_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        load_catalogue_text(text)


def test_a_manager_copy_with_custom_segments(tmp_path: Path) -> None:
    path = tmp_path / "programmes.toml"
    path.write_text("[policy]\ncooldown_days = 3\n[programmes.x]\ntitle='X'\ntarget='wizards or makers'\n")
    cat = load_catalogue(path, segments={"wizards", "makers"})
    assert cat.names() == ["x"] and cat.policy.cooldown_days == 3
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_catalogue(tmp_path / "missing.toml")


def test_policy_settings_defaults() -> None:
    s = PolicySettings.model_validate({})
    assert (s.cap_per_30_days, s.cooldown_days, s.quiet_start, s.quiet_end) == (2, 7, time(21), time(8))
