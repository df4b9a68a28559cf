"""Fuzz the age reader with mutated valid files (hypothesis).

Valid age files (binary and armored, one and two recipients, classic X25519 and hybrid
post-quantum mlkem768x25519, empty to several chunks) are damaged by a few random
edits: bit flips, overwritten, inserted and deleted bytes, truncation, appended bytes,
sealed chunks duplicated, dropped or swapped, and recipient stanzas rewritten (the
hybrid stanza's enc argument cut, lengthened, made non-canonical, given an extra
argument; the stanza type changed). Each result is decrypted with the owner's
identities (one classic, one hybrid) four ways (whole, 64 KiB at a time as
salvage does, in 1 MiB `readinto` calls as `doorbell decrypt` does, and through
`edge.owner.export.salvage_segment`). Two samples end at and just past the reader's block
of CHUNKS_PER_READ sealed chunks. The properties:
- the only exceptions are the vault's documented errors (`VaultError` subclasses; for
  salvage its `ExportError`), never anything else;
- whatever plaintext comes out is a prefix of the original, and never reaches into the
  first sealed chunk the edits touched: no byte of an unauthenticated chunk is released;
- a file that decrypts completely decrypts to exactly the original.

    python scripts/fuzz_vault.py --seconds 600 [--seed 1]

Prints the examples run and how they ended; on a failure, hypothesis's smallest
failing example, and exits 1.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from edge.core.vault import (
    MLKEM768X25519Identity,
    VaultError,
    X25519Identity,
    armor,
    decrypt_bytes,
    encrypt_bytes,
    open_reader,
)
from edge.core.vault.stream import CHUNK_SIZE, CHUNKS_PER_READ, SEALED_CHUNK_SIZE
from edge.owner.export import ExportError, salvage_segment

OWNER = X25519Identity.generate()
OTHER = X25519Identity.generate()
OWNER_PQ = MLKEM768X25519Identity.generate()
OTHER_PQ = MLKEM768X25519Identity.generate()
IDENTITIES = [OWNER, OWNER_PQ]


@dataclass(frozen=True)
class Sample:
    """A valid file, its plaintext, and where its payload starts (binary files only)."""

    name: str
    data: bytes
    plaintext: bytes
    payload_start: int | None

    def chunk_starts(self) -> list[int]:
        if self.payload_start is None:
            return [0]
        return list(range(self.payload_start, len(self.data), SEALED_CHUNK_SIZE))


def payload_start(data: bytes) -> int:
    """Offset of the first sealed chunk: after the `---` MAC line and the 16-byte nonce."""
    mac_line = data.index(b"\n---") + 1
    return data.index(b"\n", mac_line) + 1 + 16


def make_samples() -> list[Sample]:
    rng = random.Random(0)
    samples = []
    block = CHUNKS_PER_READ * CHUNK_SIZE
    for size in (0, 1, 1000, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 5000, block, block + 1):
        plain = rng.randbytes(size)
        data = encrypt_bytes([OWNER.recipient], plain)
        samples.append(Sample(f"{size} bytes", data, plain, payload_start(data)))
    plain = rng.randbytes(2 * CHUNK_SIZE)
    data = encrypt_bytes([OTHER.recipient, OWNER.recipient], plain)
    samples.append(Sample("two recipients", data, plain, payload_start(data)))
    plain = rng.randbytes(CHUNK_SIZE + 300)
    samples.append(Sample("armored", armor(encrypt_bytes([OWNER.recipient], plain)), plain, None))
    for size in (0, 1000, CHUNK_SIZE + 1):
        plain = rng.randbytes(size)
        data = encrypt_bytes([OWNER_PQ.recipient], plain)
        samples.append(Sample(f"hybrid {size} bytes", data, plain, payload_start(data)))
    plain = rng.randbytes(CHUNK_SIZE)
    data = encrypt_bytes([OTHER_PQ.recipient, OWNER_PQ.recipient], plain)
    samples.append(Sample("two hybrid recipients", data, plain, payload_start(data)))
    plain = rng.randbytes(500)
    data = armor(encrypt_bytes([OWNER_PQ.recipient], plain))
    samples.append(Sample("hybrid armored", data, plain, None))
    return samples


SAMPLES = make_samples()


@st.composite
def edits(draw: st.DrawFn, sample: Sample) -> tuple[bytes, int]:
    """A damaged copy of `sample.data` and the offset of the first byte that differs."""
    data = bytearray(sample.data)
    for _ in range(draw(st.integers(1, 3))):
        # Positions near the MAC line, chunk boundaries and the end are where parsers slip.
        mac = sample.data.find(b"\n---")
        starts = sample.chunk_starts()
        stanzas = _stanza_line_ends(sample.data)
        anchors = [max(mac, 0), len(data), *starts, *(s - 1 for s in starts), *stanzas]
        near = draw(st.sampled_from(anchors)) + draw(st.integers(-40, 40))
        anywhere = draw(st.integers(0, max(0, len(data) - 1)))
        at = min(max(0, draw(st.sampled_from([near, anywhere]))), len(data))
        kind = draw(
            st.sampled_from(
                ["flip", "set", "insert", "delete", "truncate", "append", "chunk", "stanza"]
                if sample.payload_start is not None
                else ["flip", "set", "insert", "delete", "truncate", "append"]
            )
        )
        if kind == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, SEALED_CHUNK_SIZE + 64))]
        elif kind == "truncate":
            del data[at:]
        elif kind == "append":
            data += draw(st.binary(min_size=1, max_size=SEALED_CHUNK_SIZE + 20))
        elif kind == "chunk":
            data = bytearray(_move_chunks(draw, bytes(data), sample))
        elif kind == "stanza":
            data = bytearray(_rewrite_stanza(draw, bytes(data)))
    changed = next(
        (i for i, (a, b) in enumerate(zip(data, sample.data, strict=False)) if a != b),
        min(len(data), len(sample.data)),
    )
    return bytes(data), changed


def _stanza_line_ends(data: bytes) -> list[int]:
    """Where each `-> ` stanza line starts and ends (its last argument's last characters)."""
    header = data[: data.find(b"\n---") + 1]
    anchors = []
    at = header.find(b"\n-> ")
    while at >= 0:
        anchors += [at + 1, header.index(b"\n", at + 1)]
        at = header.find(b"\n-> ", at + 1)
    return anchors


STANZA_REWRITES = [
    lambda args: [*args[:-1], args[-1][:-4]],  # enc or share 3 bytes short
    lambda args: [*args[:-1], args[-1] + "AAAA"],  # 3 bytes long
    lambda args: [*args[:-1], args[-1][:-1] + "B"],  # non-canonical last character
    lambda args: [*args, "extra"],
    lambda args: args[:1],  # no enc at all
    lambda args: [args[0].upper(), *args[1:]],  # not our type any more
    lambda args: ["X25519" if args[0] == "mlkem768x25519" else "mlkem768x25519", *args[1:]],
]


def _rewrite_stanza(draw: st.DrawFn, data: bytes) -> bytes:
    """One stanza line replaced by a plausible but wrong variant."""
    ends = _stanza_line_ends(data)
    if not ends:
        return data
    pick = draw(st.integers(0, len(ends) // 2 - 1))
    start, end = ends[2 * pick], ends[2 * pick + 1]
    parts = data[start:end].decode("latin-1").split(" ")
    args = draw(st.sampled_from(STANZA_REWRITES))(parts[1:])
    return data[:start] + " ".join(["->", *args]).encode("latin-1") + data[end:]


def _move_chunks(draw: st.DrawFn, data: bytes, sample: Sample) -> bytes:
    assert sample.payload_start is not None
    start = sample.payload_start
    chunks = [data[i : i + SEALED_CHUNK_SIZE] for i in range(start, len(data), SEALED_CHUNK_SIZE)]
    if not chunks:
        return data
    i = draw(st.integers(0, len(chunks) - 1))
    j = draw(st.integers(0, len(chunks) - 1))
    match draw(st.sampled_from(["duplicate", "drop", "swap"])):
        case "duplicate":
            chunks.insert(j, chunks[i])
        case "drop":
            del chunks[i]
        case "swap":
            chunks[i], chunks[j] = chunks[j], chunks[i]
    return data[:start] + b"".join(chunks)


class Outcomes:
    """How the examples ended, for the report."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples = 0


OUTCOMES = Outcomes()


def released_limit(sample: Sample, changed: int) -> int:
    """Most plaintext that may come out: the chunks wholly before the first edit."""
    if sample.payload_start is None:
        return len(sample.plaintext)  # armor: offsets do not map to chunks
    whole = max(0, changed - sample.payload_start) // SEALED_CHUNK_SIZE
    return whole * CHUNK_SIZE


def check(sample: Sample, damaged: bytes, changed: int) -> None:
    """The properties, for one damaged file."""
    OUTCOMES.examples += 1
    original = sample.plaintext
    intact = damaged == sample.data
    limit = len(original) if intact else released_limit(sample, changed)

    try:
        whole = decrypt_bytes(IDENTITIES, damaged)
    except VaultError as exc:
        OUTCOMES.counts[type(exc).__name__] += 1
    else:
        OUTCOMES.counts["decrypted"] += 1
        assert whole == original, "a damaged file decrypted to something else"

    released = bytearray()
    try:
        reader = open_reader(IDENTITIES, io.BytesIO(damaged))
        while block := reader.read(CHUNK_SIZE):
            released += block
            assert released == original[: len(released)], "released bytes differ"
            assert len(released) <= limit, "released plaintext of a damaged chunk"
    except VaultError:
        pass
    assert released == original[: len(released)]

    released = bytearray()
    buffer = bytearray(CHUNKS_PER_READ * CHUNK_SIZE)
    try:
        reader = open_reader(IDENTITIES, io.BytesIO(damaged))
        while count := reader.readinto(buffer):
            released += buffer[:count]
            assert released == original[: len(released)], "readinto released bytes differ"
            assert len(released) <= limit, "readinto released plaintext of a damaged chunk"
    except VaultError:
        pass

    try:
        salvaged = salvage_segment(damaged, IDENTITIES)
    except ExportError:
        return
    assert salvaged.plaintext == original[: len(salvaged.plaintext)]
    assert len(salvaged.plaintext) <= limit, "salvage released plaintext of a damaged chunk"
    if salvaged.complete:
        assert salvaged.plaintext == original


@st.composite
def cases(draw: st.DrawFn) -> tuple[Sample, bytes, int]:
    sample = draw(st.sampled_from(SAMPLES))
    damaged, changed = draw(edits(sample))
    return sample, damaged, changed


@settings(
    max_examples=500,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cases())
def fuzz(case: tuple[Sample, bytes, int]) -> None:
    check(*case)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=int.from_bytes(os.urandom(4)))
    args = parser.parse_args()
    started = time.monotonic()
    rounds = 0
    print(f"fuzzing the age reader for {args.seconds:.0f} s, seed {args.seed}", flush=True)
    while time.monotonic() - started < args.seconds:
        try:
            seed(args.seed + rounds)(fuzz)()
        except Exception:
            print(f"FAILED after {OUTCOMES.examples} examples (seed {args.seed + rounds})")
            raise
        rounds += 1
    elapsed = time.monotonic() - started
    print(f"{OUTCOMES.examples} examples in {elapsed:.0f} s ({rounds} rounds): no failure")
    for outcome, count in OUTCOMES.counts.most_common():
        print(f"  {outcome:>22}: {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
