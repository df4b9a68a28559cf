"""Measure what the Merkle log costs the device per append, against the append itself.

For ledgers of several sizes it times, per append: the signed, fsynced append of one
entry (the anchor: what the hash-chained ledger already did); the tree work of a
checkpoint (read the ledger, hash every line, the root and the consistency proof from
the previous checkpoint); the Ed25519 signature of the checkpoint note; and the whole
`update_checkpoint` (all of that plus writing `ledger.checkpoint` atomically, fsync
included). It also prints the sizes that travel: the consistency proof, an inclusion
proof, the MQTT payload. Best of `--repeat` runs with the median beside it; the machine
is shared, so expect noise.

    python scripts/bench_log.py [--sizes 100,1000,10000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.core.keytext import public_key_text
from edge.core.log import entries, merkle
from edge.core.log.checkpoint import Checkpoint, sign_checkpoint
from edge.core.log.ledger import Ledger
from edge.core.log.tree import leaf_hashes, origin_for_key, update_checkpoint
from edge.core.mqtt.schemas import LedgerCheckpoint


class Key:
    """A throwaway Ed25519 signer standing in for the device key."""

    def __init__(self) -> None:
        self._key = Ed25519PrivateKey.generate()
        self.signing_public = public_key_text(self._key.public_key())

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def body(n: int) -> dict:  # type: ignore[type-arg]
    """A realistic `clip.stored` body (three segments), the most common entry."""
    segments = [
        entries.SegmentHash(i, f"{n:04x}{i:02x}" + "ab" * 29, 600_000, "stored") for i in range(3)
    ]
    return entries.clip_stored(
        f"20261201T{n % 240000:06d}Z-abcd", "2026-12-01T00:00:00.000Z", None, "complete", segments
    )


def timed(action: Callable[[], object], repeat: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        runs.append(time.perf_counter() - start)
    return min(runs), statistics.median(runs)


def ms(value: tuple[float, float]) -> str:
    return f"{value[0] * 1000:7.2f} ms (median {value[1] * 1000:6.2f})"


def measure(size: int, repeat: int, folder: Path) -> None:
    key = Key()
    (folder / str(size)).mkdir()
    ledger = Ledger.in_state_dir(folder / str(size))
    for n in range(size):
        ledger.append(key, entries.CLIP_STORED, body(n))
    update_checkpoint(ledger, key)
    counter = iter(range(size, size + 10 * repeat))

    append = timed(lambda: ledger.append(key, entries.CLIP_STORED, body(next(counter))), repeat)

    def tree_work() -> None:
        leaves = leaf_hashes(ledger.lines())
        merkle.root(leaves)
        merkle.consistency_proof(leaves, len(leaves) - 1)

    tree = timed(tree_work, repeat)
    leaves = leaf_hashes(ledger.lines())
    note_of = Checkpoint(origin_for_key(key.signing_public), len(leaves), merkle.root(leaves))
    sign = timed(lambda: sign_checkpoint(note_of, key), repeat)

    def append_and_checkpoint() -> None:
        ledger.append(key, entries.CLIP_STORED, body(next(counter)))
        update_checkpoint(ledger, key)

    whole = timed(append_and_checkpoint, repeat)
    ledger.append(key, entries.CLIP_STORED, body(next(counter)))
    signed = update_checkpoint(ledger, key)
    assert signed is not None
    leaves = leaf_hashes(ledger.lines())
    inclusion = merkle.inclusion_proof(leaves, len(leaves) // 2)
    payload = LedgerCheckpoint.from_note(
        key.signing_public, signed.note, signed.previous_size, list(signed.consistency),
        datetime.now(UTC),
    ).to_json()  # fmt: skip
    kib, line_bytes = ledger.path.stat().st_size // 1024, ledger.path.stat().st_size // len(leaves)
    print(f"ledger of {len(leaves)} entries ({kib} KiB, ~{line_bytes} B a line)")
    print(f"  append (anchor: sign + write + fsync)   {ms(append)}")
    print(
        f"  tree: read, hash all, root, proof       {ms(tree)}   x{tree[0] / append[0]:.2f} anchor"
    )
    print(
        f"  sign the checkpoint note                {ms(sign)}   x{sign[0] / append[0]:.2f} anchor"
    )
    print(f"  append + update_checkpoint (all)        {ms(whole)}   x{whole[0] / append[0]:.2f}")
    print(
        f"  consistency proof {len(signed.consistency)} hashes ({32 * len(signed.consistency)} B), "
        f"inclusion proof {len(inclusion)} hashes, checkpoint note {len(signed.note.encode())} B, "
        f"MQTT payload {len(payload)} B"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--dir", type=Path, help="scratch on this filesystem (fsync costs differ)")
    args = parser.parse_args()
    print(f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}")
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        for size in (int(s) for s in args.sizes.split(",")):
            measure(size, args.repeat, Path(scratch))


if __name__ == "__main__":
    main()
