"""Bech32 (BIP 173) without its length limit, as age uses it for keys.

age encodes recipients (`age1…`) and identities (`AGE-SECRET-KEY-1…`) this way; keys
are longer than BIP 173's 90 characters, so that limit is not applied.
"""

from __future__ import annotations

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_VALUES = {c: i for i, c in enumerate(_CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for i, generator in enumerate(_GENERATOR):
            if (top >> i) & 1:
                checksum ^= generator
    return checksum


def _expand_hrp(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: bytes | list[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    acc = 0
    bits = 0
    out: list[int] = []
    mask = (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & mask)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & mask)
    elif bits >= from_bits or (acc << (to_bits - bits)) & mask:
        # Leftover bits must be fewer than one input group and all zero, or the
        # same bytes would have two encodings.
        raise ValueError("invalid bech32 padding")
    return out


def encode(hrp: str, data: bytes) -> str:
    """Encode `data` under the human-readable part `hrp`, in lowercase."""
    hrp = hrp.lower()
    words = _convert_bits(data, 8, 5, pad=True)
    checksum = _polymod([*_expand_hrp(hrp), *words, 0, 0, 0, 0, 0, 0]) ^ 1
    words += [(checksum >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[w] for w in words)


def decode(text: str) -> tuple[str, bytes]:
    """Decode a Bech32 string into (lowercase hrp, data); raise ValueError if invalid."""
    if text.lower() != text and text.upper() != text:
        raise ValueError("bech32 string mixes upper and lower case")
    if any(ord(c) < 33 or ord(c) > 126 for c in text):
        raise ValueError("bech32 string has a character outside printable ASCII")
    text = text.lower()
    separator = text.rfind("1")
    if separator < 1 or separator + 7 > len(text):
        raise ValueError("bech32 string has no separator or is too short")
    hrp = text[:separator]
    try:
        words = [_VALUES[c] for c in text[separator + 1 :]]
    except KeyError as exc:
        raise ValueError(f"bech32 string has an invalid character {exc.args[0]!r}") from None
    if _polymod(_expand_hrp(hrp) + words) != 1:
        raise ValueError("bech32 checksum mismatch")
    return hrp, bytes(_convert_bits(words[:-6], 5, 8, pad=False))
