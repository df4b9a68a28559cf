"""The one text form of a moment: RFC 3339 in UTC with milliseconds and a `Z`
(`2026-11-27T23:15:00.000Z`), used by the ledger, the index, MQTT payloads and the key file."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(moment: datetime) -> str:
    """`moment` as RFC 3339 in UTC; a naive datetime is refused (ValueError)."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no timezone; give it one")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def unix_rfc3339(seconds: float | None) -> str | None:
    """Unix seconds as RFC 3339 (None stays None)."""
    if seconds is None:
        return None
    return rfc3339(datetime.fromtimestamp(seconds, UTC))


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 time with an explicit offset (or `Z`); ValueError otherwise."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None or "T" not in text:
        raise ValueError(f"not an RFC 3339 time with a timezone: {text!r}")
    return moment


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)
