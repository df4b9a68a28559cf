"""The trust file: public keys the owner pinned, one per line, for verifiers to use.

    # comments and blank lines are ignored
    owner ed25519:<base64>      an owner signing key (may sign owner entries, manifests)
    device ed25519:<base64>     a doorbell's device key (signs device entries, checkpoints)
    witness ed25519:<base64>    a home-server witness key (cosigns checkpoints)

`doorbell keygen` writes the owner line; the device line is `device.pub` of the
doorbell's state directory, the witness line what `doorbell watch` prints at start.
Verifiers trust these keys, never the ones a manifest or a device config asserts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edge.core.keytext import parse_public_key, public_key_text

ROLES = ("owner", "device", "witness")


class TrustFileError(ValueError):
    """A trust file that cannot be read; the message names the line."""


@dataclass(frozen=True)
class Trust:
    """Pinned keys by role."""

    owner: tuple[str, ...] = ()
    device: tuple[str, ...] = ()
    witness: tuple[str, ...] = ()
    source: str = field(default="", compare=False)

    def merged(self, other: Trust) -> Trust:
        """Both sets of keys (command-line keys added to a file's)."""
        return Trust(
            _unique(self.owner + other.owner),
            _unique(self.device + other.device),
            _unique(self.witness + other.witness),
            self.source or other.source,
        )


def _unique(keys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(keys))


def canonical_key(text: str) -> str:
    """The one spelling of an `ed25519:` key; ValueError when it is not one."""
    return public_key_text(parse_public_key(text))


def trust_line(role: str, key: str) -> str:
    """One line of a trust file."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    return f"{role} {canonical_key(key)}\n"


def load_trust(path: Path) -> Trust:
    """Read a trust file; TrustFileError naming the first bad line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise TrustFileError(f"cannot read the trust file {path}: {exc}") from None
    keys: dict[str, list[str]] = {role: [] for role in ROLES}
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) != 2 or words[0] not in ROLES:
            raise TrustFileError(
                f"{path} line {number}: expected '<{'|'.join(ROLES)}> ed25519:<base64>'"
            )
        try:
            keys[words[0]].append(canonical_key(words[1]))
        except ValueError as exc:
            raise TrustFileError(f"{path} line {number}: {exc}") from None
    return Trust(
        _unique(tuple(keys["owner"])),
        _unique(tuple(keys["device"])),
        _unique(tuple(keys["witness"])),
        str(path),
    )
