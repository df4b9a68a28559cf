"""What the device signs for each stored segment, so anyone with `device.pub` can check that a
ciphertext came from this doorbell unchanged (the index, share packages and the mirror)."""

from __future__ import annotations


def segment_message(clip_id: str, n: int, sha256_hex: str) -> bytes:
    """The canonical bytes the device signs for one segment.

    ASCII lines `doorbell-edge segment v1`, `clip=<clip id>`, `n=<decimal>`,
    `sha256=<64 lowercase hex of the ciphertext>`, each ending in `\\n`. Clip ids cannot
    hold a newline, so the encoding is unambiguous.
    """
    return f"doorbell-edge segment v1\nclip={clip_id}\nn={n}\nsha256={sha256_hex}\n".encode("ascii")
