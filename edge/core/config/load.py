"""Reads `doorbell.toml` and turns pydantic's errors into messages a user can act on."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from edge.core.config.models import Config

DEFAULT_CONFIG_PATH = Path("/etc/doorbell/doorbell.toml")


class ConfigError(Exception):
    """A config that cannot be used; the message has one line per problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def load_config(path: Path | str = DEFAULT_CONFIG_PATH) -> Config:
    """Read and validate the TOML file at `path`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"cannot read: {exc}"]) from None
    return parse_config(text, source=str(path))


def parse_config(text: str, source: str = "<config>") -> Config:
    """Validate TOML text; a `ConfigError` names each bad key, its value and what is allowed."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [f"not valid TOML: {exc}"]) from None
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, [_describe(err) for err in exc.errors()]) from None


def _key_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not part.startswith(("function-", "tuple[", "list[")):
            path += f".{part}" if path else part
    return path or "(top level)"


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = Config
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return model
        model = annotation
    return model


def _describe(err: Any) -> str:
    loc = tuple(err["loc"])
    key = _key_path(loc)
    if err["type"] == "extra_forbidden":
        parent = _model_at(loc[:-1])
        allowed = ", ".join(parent.model_fields) if parent else ""
        return f"{key}: unknown key; allowed here: {allowed}"
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        return f"{key}: required"
    if isinstance(err["input"], dict):
        return f"{key}: {message}"
    return f"{key} = {err['input']!r}: {message}"
