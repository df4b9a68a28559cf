"""Attack the audit log as someone holding the doorbell's files and its device key would,
and show that each attack is caught (issue 13).

Each attack runs in a scratch directory against a real state directory (device key,
owner key, ledger, checkpoints), a real `LogWitness` (SQLite, witness key) and the real
`doorbell audit verify --mirror` / `doorbell verify` commands:

- rewrite: delete the owner's `clip.shared` entry, re-sign the device entries after it
  with the device key, append two entries -> the witness refuses the next checkpoint;
- truncate: drop the last entries -> the device's next checkpoint is a rollback, and the
  mirrored ledger no longer reaches the witnessed checkpoint;
- reorder: swap two device entries and re-sign -> not consistent with the cosigned head;
- fork: show one history to witness 1 and another of the same size to witness 2 -> each
  catches it from the other's published cosignature;
- replay: roll the device back and have it publish an old checkpoint -> refused;
- forged share: a package re-signed with fresh owner and device keys -> `doorbell
  verify` with the pinned keys exits non-zero, and without pinned keys too.

    python scripts/attack_log.py

Prints one line per attack and exits 0 only when every attack was caught.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

from edge.cli import main
from edge.core.log import entries
from edge.core.log.canonical import canonical_json
from edge.core.log.ledger import GENESIS, Entry, Ledger, entry_from_json, line_hash
from edge.core.log.signing import encode_signature
from edge.core.log.tree import SignedCheckpoint, update_checkpoint
from edge.core.mqtt.schemas import LedgerCheckpoint
from edge.device.store.device_key import DeviceKey, load_or_create
from edge.home.log_witness import LogWitness, Outcome
from edge.home.witness_key import load_or_create_witness_key
from edge.owner.owner_key import OwnerKey

PREFIX = "doorbell/front-door"


class Doorbell:
    """A state directory whose ledger the device and the owner append to."""

    def __init__(self, state: Path) -> None:
        state.mkdir(parents=True)
        self.state = state
        self.key: DeviceKey = load_or_create(state)
        self.owner = OwnerKey.generate()
        self.ledger = Ledger.in_state_dir(state)

    def device_entry(self, n: int) -> SignedCheckpoint:
        body = entries.privacy_changed(n % 2 == 0, f"button-{n}")
        self.ledger.append(self.key, entries.PRIVACY_CHANGED, body)
        return self.checkpoint()

    def owner_share(self) -> SignedCheckpoint:
        body = entries.clip_shared(["20260101T120000Z-abcd"], "age1x", "a" * 64, None, None, None)
        self.ledger.append(self.owner, entries.CLIP_SHARED, body)
        return self.checkpoint()

    def checkpoint(self) -> SignedCheckpoint:
        signed = update_checkpoint(self.ledger, self.key)
        assert signed is not None
        return signed

    def message(self, signed: SignedCheckpoint) -> LedgerCheckpoint:
        return LedgerCheckpoint.from_note(
            self.key.signing_public,
            signed.note,
            signed.previous_size,
            list(signed.consistency),
            datetime.now(UTC),
        )

    def rewrite(self, keep: list[int]) -> None:
        """Keep the entries at `keep`, in that order, re-chained and re-signed with the
        device key (owner entries keep their signature: the attacker has no owner key)."""
        old = [entry_from_json(json.loads(line)) for _n, line in self.ledger.lines()]
        prev, out = GENESIS, []
        for seq, index in enumerate(keep, start=1):
            fields = {**old[index].signed_part(), "seq": seq, "prev": prev}
            sig = old[index].sig
            if old[index].actor == "device":
                unsigned = Entry(**fields, sig="")
                sig = encode_signature(self.key.sign(canonical_json(unsigned.signed_part())))
            line = Entry(**fields, sig=sig).line()
            out.append(line)
            prev = line_hash(line)
        self.ledger.path.write_bytes(b"".join(line + b"\n" for line in out))


def witness(folder: Path, name: str) -> LogWitness:
    folder.mkdir(parents=True)
    conn = sqlite3.connect(folder / "watch.sqlite", isolation_level=None)
    key = load_or_create_witness_key(folder / "witness.key")
    return LogWitness(conn, key, f"home.example/{name}", folder / "evidence")


def witnessed(root: Path) -> tuple[Doorbell, LogWitness]:
    """Four entries (device, device, owner share, device), every checkpoint cosigned."""
    door = Doorbell(root / "state")
    home = witness(root / "w1", "w1")
    for step in (lambda: door.device_entry(1), lambda: door.device_entry(2), door.owner_share):
        home.on_checkpoint(PREFIX, door.message(step()))
    home.on_checkpoint(PREFIX, door.message(door.device_entry(3)))
    return door, home


def caught(outcome: Outcome, word: str) -> tuple[bool, str]:
    text = outcome.text or "(nothing)"
    return outcome.warning and word in text and bool(outcome.publish), text


def attack_rewrite(root: Path) -> tuple[bool, str]:
    door, home = witnessed(root)
    door.rewrite([0, 1, 3])
    door.device_entry(4)
    return caught(home.on_checkpoint(PREFIX, door.message(door.device_entry(5))), "REWRITTEN")


def attack_truncate(root: Path) -> tuple[bool, str]:
    door, home = witnessed(root)
    door.rewrite([0, 1])
    return caught(home.on_checkpoint(PREFIX, door.message(door.checkpoint())), "ROLLED BACK")


def attack_reorder(root: Path) -> tuple[bool, str]:
    door, home = witnessed(root)
    door.rewrite([1, 0, 2, 3])
    return caught(home.on_checkpoint(PREFIX, door.message(door.device_entry(5))), "REWRITTEN")


def attack_fork(root: Path) -> tuple[bool, str]:
    door = Doorbell(root / "state")
    first, second = witness(root / "w1", "w1"), witness(root / "w2", "w2")
    for n in range(3):
        message = door.message(door.device_entry(n))
        first.on_checkpoint(PREFIX, message)
        second.on_checkpoint(PREFIX, message)
    saved = door.ledger.path.read_bytes(), (door.state / "ledger.checkpoint").read_text()
    one = first.on_checkpoint(PREFIX, door.message(door.device_entry(10)))
    door.ledger.path.write_bytes(saved[0])
    (door.state / "ledger.checkpoint").write_text(saved[1])
    other = second.on_checkpoint(PREFIX, door.message(door.owner_share()))
    by_first = first.on_cosigned(PREFIX, other.publish[0][1])
    by_second = second.on_cosigned(PREFIX, one.publish[0][1])
    ok_1, text = caught(by_first, "FORKED")
    ok_2, _ = caught(by_second, "FORKED")
    return ok_1 and ok_2, text


def attack_replay(root: Path) -> tuple[bool, str]:
    door = Doorbell(root / "state")
    home = witness(root / "w1", "w1")
    old = door.message(door.device_entry(1))
    home.on_checkpoint(PREFIX, old)
    for n in (2, 3):
        home.on_checkpoint(PREFIX, door.message(door.device_entry(n)))
    door.rewrite([0])
    replayed = old.model_copy(update={"time": datetime.now(UTC)})
    return caught(home.on_checkpoint(PREFIX, replayed), "ROLLED BACK")


def attack_mirror(root: Path) -> tuple[bool, str]:
    """The rewrite again, seen by `doorbell audit verify --mirror` (exit 1 expected)."""
    door, home = witnessed(root)
    folder = root / "mirror" / "front-door"
    folder.mkdir(parents=True)
    last = home.last_cosigned(PREFIX)
    assert last is not None
    (folder / "ledger.cosigned").write_text(last[2])
    door.rewrite([0, 1, 3])
    door.device_entry(4)
    door.device_entry(5)
    for name in ("ledger.jsonl", "ledger.checkpoint", "device.pub"):
        (folder / name).write_bytes((door.state / name).read_bytes())
    code, err = run(["audit", "verify", "--mirror", str(root / "mirror"),
                     "--owner-key", door.owner.signing_public])  # fmt: skip
    return code == 1, err.strip().splitlines()[0] if err.strip() else "(nothing)"


def attack_forged_share(root: Path) -> tuple[bool, str]:
    """A manifest re-signed with a fresh owner key, naming a fresh device key."""
    from edge.owner.manifest import render_manifest, sign_manifest

    door = Doorbell(root / "state")
    forger_owner = OwnerKey.generate()
    (root / "forger").mkdir()
    forger_device = load_or_create(root / "forger")
    unsigned = {
        "format": "doorbell-share/1",
        "created": "2026-12-01T00:00:00.000Z",
        "purpose": "edited purpose",
        "expires": None,
        "recipient": "age1x",
        "request": None,
        "device": {
            "id": "front-door",
            "signing_key": forger_device.signing_public,
            "segment_signature": "doorbell-edge segment v1",
        },
        "clips": [],
    }
    package = root / "package"
    package.mkdir()
    (package / "manifest.json").write_bytes(render_manifest(sign_manifest(unsigned, forger_owner)))
    pinned = ["--owner-key", door.owner.signing_public, "--device-key", door.key.signing_public]
    code_pinned, err = run(["verify", str(package), *pinned])
    code_unpinned, _ = run(["verify", str(package)])
    return code_pinned != 0 and code_unpinned != 0, err.strip().splitlines()[-1]


def run(argv: list[str]) -> tuple[int, str]:
    out, err = StringIO(), StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


ATTACKS: dict[str, Callable[[Path], tuple[bool, str]]] = {
    "rewrite with the device key": attack_rewrite,
    "truncation": attack_truncate,
    "reordering": attack_reorder,
    "fork shown to two witnesses": attack_fork,
    "old checkpoint replayed": attack_replay,
    "rewrite, seen by audit --mirror": attack_mirror,
    "forged share with fresh keys": attack_forged_share,
}


def main_script() -> int:
    missed = 0
    with tempfile.TemporaryDirectory() as scratch:
        for n, (name, attack) in enumerate(ATTACKS.items()):
            ok, detail = attack(Path(scratch) / str(n))
            missed += not ok
            print(f"{'CAUGHT' if ok else 'MISSED'}  {name}: {detail[:150]}")
    print("every attack caught" if not missed else f"{missed} attack(s) NOT caught")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main_script())
