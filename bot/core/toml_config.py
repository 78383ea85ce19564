"""Reading a TOML settings file into a validated model, with errors that name the setting.

Segmentation rules, the programme catalogue and adapter sections are all "TOML in, pydantic
model out, ConfigurationError on anything wrong"; this is that path once.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bot.core.errors import ConfigurationError

M = TypeVar("M", bound=BaseModel)


def read_settings_text(path: Path | None, *, default: Callable[[], str], what: str) -> tuple[str, str]:
    """The file's text and a name for messages; the packaged default when ``path`` is None."""
    if path is None:
        return default(), f"default {what}"
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {what} {path}: {exc.strerror}") from None


def describe(exc: ValidationError) -> str:
    """Pydantic's errors as ``where: what`` pairs, one line."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)
    )


def validate(model: type[M], data: Any, *, source: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(f"{source}: {describe(exc)}") from None


def parse_toml(model: type[M], text: str, *, source: str) -> M:
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{source}: not valid TOML: {exc}") from None
    return validate(model, raw, source=source)
