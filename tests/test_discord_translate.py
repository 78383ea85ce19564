"""Pure parts of the Discord adapter: custom ids, option flattening, settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from adapters.discord.settings import DiscordSettings
from adapters.discord.splitting import NONCE_MAX, nonce_for
from adapters.discord.translate import _option_values, custom_id, parse_custom_id
from bot.core.errors import ConfigurationError
from bot.core.outbound import Button


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("cb:accept:tok42", ("accept", "tok42")),
        ("cb:solved:a:b:c", ("solved", "a:b:c")),  # values may hold colons
        ("cb:decline:", ("decline", "")),
        ("poll:1", None),  # somebody else's component
        ("cb:", None),
        ("cb::x", None),
        ("", None),
    ],
)
def test_parse_custom_id(raw: str, parsed: tuple[str, str] | None) -> None:
    assert parse_custom_id(raw) == parsed


def test_custom_id_round_trip_and_limits() -> None:
    button = Button(action="accept", value="x" * 80, label="Accept")
    assert parse_custom_id(custom_id(button)) == ("accept", "x" * 80)
    with pytest.raises(ValueError, match="100"):
        custom_id(Button(action="accept", value="x" * 95, label="Accept"))
    with pytest.raises(ValueError, match="':'"):
        custom_id(Button(action="a:b", value="v", label="A"))


def test_option_values_flatten_subcommands() -> None:
    options = [{"name": "sub", "type": 1, "options": [{"name": "x", "type": 3, "value": "hero"}]},
               {"name": "n", "type": 4, "value": 3}, {"name": "empty", "type": 3}]
    assert _option_values(options) == ["sub", "hero", "3"]
    assert _option_values(None) == []


def test_nonces_are_distinct_and_short() -> None:
    key = "cb" + "f" * 23
    nonces = [nonce_for(key, i) for i in range(12)]
    assert nonces[0] == key and len(set(nonces)) == 12 and all(len(n) <= NONCE_MAX for n in nonces)


def test_settings_reject_names_for_ids_and_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="Developer Mode"):
        DiscordSettings(guild_ids=("My Server",))
    with pytest.raises(ValidationError):
        DiscordSettings.model_validate({"token": "inline secrets are not accepted"})


def test_token_comes_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = DiscordSettings(token_env="MY_DISCORD_TOKEN")
    monkeypatch.delenv("MY_DISCORD_TOKEN", raising=False)
    with pytest.raises(ConfigurationError, match="MY_DISCORD_TOKEN"):
        settings.token()
    monkeypatch.setenv("MY_DISCORD_TOKEN", " abc \n")
    assert settings.token() == "abc"
