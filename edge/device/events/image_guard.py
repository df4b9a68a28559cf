"""Last line of defence for invariant 4: refuse any MQTT payload that could carry an image.

The schemas already leave no room for pixels; this check does not trust them. It looks
for JPEG, PNG and MP4 signatures (raw, JSON-escaped or base64-encoded) and for any run of
base64 longer than 64 characters, which is where a thumbnail would hide.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator

# Longer than a SHA-256 in hex (64 characters), which payloads legitimately carry.
MAX_BASE64_RUN = 64

_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "JPEG": (b"\xff\xd8\xff",),
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "MP4": (b"ftyp", b"moof", b"mdat"),
}
# Base64 of each signature at the three possible alignments in a longer string; a run of
# base64 shorter than the limit could still start an image that the sender truncated.
_BASE64_SIGNATURES: dict[str, tuple[str, ...]] = {
    "JPEG": ("/9j/",),
    "PNG": ("iVBORw0KGg",),
    "MP4": ("ZnR5c", "Z0eX", "mdHlw"),
}
_BASE64_RUN = re.compile(rf"[A-Za-z0-9+/]{{{MAX_BASE64_RUN + 1},}}")
_BASE64URL_RUN = re.compile(rf"[A-Za-z0-9_-]{{{MAX_BASE64_RUN + 1},}}")


class ImageDataError(ValueError):
    """A payload that looks like it carries image or video data."""


def find_image_data(payload: bytes, allowed: Iterable[str] = ()) -> str | None:
    """Return why `payload` looks like image data, or None when it is clean.

    `allowed` are known strings (the device's own topic prefixes) removed before the
    base64 check, so a long configured prefix in a discovery payload is not mistaken for
    an encoded image.
    """
    for name, signatures in _SIGNATURES.items():
        for signature in signatures:
            if signature in payload:
                return f"contains the {name} signature {signature!r}"
    text = payload.decode("utf-8", errors="replace")
    # JSON can smuggle raw bytes as \u00ff escapes: look at the decoded strings too.
    for value in _json_strings(text):
        raw = value.encode("latin-1", errors="ignore")
        for name, signatures in _SIGNATURES.items():
            if any(signature in raw for signature in signatures):
                return f"contains the {name} signature in an escaped JSON string"
    for known in sorted(allowed, key=len, reverse=True):
        if known:
            text = text.replace(known, " ")
    for name, signatures in _BASE64_SIGNATURES.items():
        for signature in signatures:
            if signature in text:
                return f"contains base64 of the {name} signature ({signature!r})"
    for pattern in (_BASE64_RUN, _BASE64URL_RUN):
        run = pattern.search(text)
        if run:
            return f"contains a base64-like run of {len(run.group())} characters"
    return None


def check_no_image_data(payload: bytes, allowed: Iterable[str] = ()) -> None:
    """Raise `ImageDataError` when `find_image_data` finds anything."""
    reason = find_image_data(payload, allowed)
    if reason is not None:
        raise ImageDataError(reason)


def _json_strings(text: str) -> Iterator[str]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
