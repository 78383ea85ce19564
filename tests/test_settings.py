"""The configuration file: a setting that cannot work stops start-up with a message that names it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import build_app
from bot.core.errors import ConfigurationError
from bot.settings import load_settings, parse_settings
from bot.store import Store

REPO = Path(__file__).resolve().parents[1]


def test_the_example_configuration_is_valid() -> None:
    """Every section of the example passes the model that owns it, switched-off adapters too."""
    from adapters.discord.settings import DiscordSettings
    from adapters.mail.settings import MailSettings
    from adapters.slack.settings import SlackSettings
    from bot.admin.permissions import ManagerSettings
    from messages.digest.settings import DigestSettings

    settings = load_settings(REPO / "cohortbot.example.toml")
    assert settings.timezone == "Europe/Rome"
    assert list(settings.enabled_adapters()) == ["discord"]  # slack and mail are switched off there
    assert len(ManagerSettings.from_mapping(settings.managers).managers) == 4
    assert DigestSettings.from_mapping(settings.digest).channels[0].platform == "discord"
    models = {"discord": DiscordSettings, "slack": SlackSettings, "mail": MailSettings}
    for name, section in settings.adapters.items():
        models[name].model_validate({k: v for k, v in section.items() if k != "enabled"})


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone: unknown time zone 'Mars/Olympus'"),
        ({"tiemzone": "UTC"}, "tiemzone: unknown setting (a typo?)"),
        ({"adapters": {"discrod": {}}}, "unknown adapter(s) discrod"),
        ({"web": {"port": "eighty"}}, "web.port"),
    ],
)
def test_a_setting_that_cannot_work_is_named(data: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        parse_settings(data, source="cohortbot.toml")
    assert says in str(err.value)
    assert str(err.value).startswith("cohortbot.toml: the configuration cannot work")


def test_missing_and_broken_files_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("timezone = \n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_settings(bad)


async def test_a_mistyped_manager_entry_stops_the_app(store: Store) -> None:
    settings = parse_settings({"managers": {"managers": ["discrod:123"], "discord_guild": "1"}})
    with pytest.raises(ConfigurationError, match="discrod"):
        await build_app(settings, store=store, adapters={})


async def test_no_managers_at_all_stops_a_real_run(store: Store) -> None:
    with pytest.raises(ConfigurationError, match="no managers configured"):
        await build_app(parse_settings({}), store=store, adapters={})


async def test_the_web_server_needs_its_secret(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COHORTBOT_SECRET", raising=False)
    settings = parse_settings({"web": {"enabled": True}, "managers": {"require_managers": False}})
    with pytest.raises(ConfigurationError, match="COHORTBOT_SECRET"):
        await build_app(settings, store=store, adapters={})
