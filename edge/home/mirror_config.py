"""The home server's mirror settings file (`doorbell mirror --config FILE`), a TOML file
with one `[mirror]` table whose keys are the command's long options."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class MirrorReceiverConfig(BaseModel):
    """`[mirror]` of the home server's `mirror.toml`; options on the command line win."""

    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(default=None, min_length=1, description="Broker host.")
    port: int | None = Field(default=None, ge=1, le=65535, description="Broker port.")
    tls: bool = Field(default=False, description="Use TLS with the system's CAs.")
    tls_ca: Path | None = Field(default=None, description="Use TLS with this CA file.")
    username: str | None = Field(default=None, description="Broker user name.")
    password_file: Path | None = Field(default=None, description="Broker password file.")
    dir: Path | None = Field(default=None, description="Mirror directory.")
    topic_root: str = Field(
        default="doorbell", pattern=r"^[A-Za-z0-9_.-]+$", description="Topic root."
    )
    client_id: str | None = Field(default=None, description="MQTT client id.")
    trust_new_devices: bool = Field(
        default=False, description="Pin the key a new device id first presents."
    )
    retention_days: float = Field(
        default=0.0, ge=0.0, le=36500.0, description="Delete mirrored clips older (0: never)."
    )


class MirrorConfigError(Exception):
    """The file is unreadable or a value is wrong; the text names the key."""


def load_mirror_config(path: Path) -> MirrorReceiverConfig:
    """Read `[mirror]` from a TOML file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise MirrorConfigError(f"cannot read {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise MirrorConfigError(f"{path}: not TOML: {exc}") from None
    extra = set(data) - {"mirror"}
    if extra:
        raise MirrorConfigError(f"{path}: unknown table(s) {sorted(extra)}; only [mirror]")
    try:
        return MirrorReceiverConfig.model_validate(data.get("mirror", {}))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise MirrorConfigError(f"{path}: mirror.{where}: {err['msg']}") from None
