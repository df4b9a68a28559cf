"""`doorbell audit verify|show`: check the device's signed ledger, or print it.

`verify` exits 0 when the chain, every signature, the signed and witnessed checkpoints
and the index agree; 1 naming the first bad entry (or the first clip the ledger does not
account for, or how the ledger differs from its checkpoints); 2 when the only finding is
an incomplete last line, which a power cut during an append leaves and the daemon drops
on its next append. Owner keys come from `--owner-key` or `--trust`; only without them
from the device config (which whoever holds the device can edit), with a warning.
`verify --mirror DIR` checks every device folder of the home server's mirror instead
(exit 0 consistent, 1 inconsistent, forged, or an alarm the witness raised).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edge.commands import CommandError
from edge.commands.options import add_config_argument, load_device_config
from edge.commands.pinning import add_pin_arguments, pinned_keys
from edge.core.log.ledger import LEDGER_FILENAME, Ledger
from edge.core.log.tree import EVIDENCE_DIR
from edge.core.log.trust import Trust
from edge.core.mirror.decisions_dir import pending_decisions
from edge.core.store.errors import StorageError
from edge.owner.state_audit import AuditResult, audit_state_dir, device_public_key

EXIT_BAD = 1
EXIT_INCOMPLETE_TAIL = 2


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `audit` command group."""
    parser = sub.add_parser("audit", help="verify or show the signed audit ledger")
    actions = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    verify = actions.add_parser(
        "verify", help="check chain, signatures and that every stored clip is recorded"
    )
    verify.add_argument(
        "--files", action="store_true", help="also re-hash every clip file against the ledger"
    )
    verify.add_argument(
        "--mirror",
        type=Path,
        metavar="DIR",
        help="check every device folder of the home server's mirror (needs pinned owner keys)",
    )
    add_pin_arguments(verify)
    add_config_argument(verify)
    verify.set_defaults(func=_verify)

    show = actions.add_parser("show", help="print the ledger entries")
    show.add_argument("--json", action="store_true", help="print a JSON list of the entries")
    add_config_argument(show)
    show.set_defaults(func=_show)


def _verify(args: argparse.Namespace) -> int:
    pins = pinned_keys(args)
    if args.mirror is not None:
        return _verify_mirror(args.mirror, pins, args.files)
    config = load_device_config(args.config)
    owner_keys = pins.owner
    if not owner_keys:
        owner_keys = tuple(config.owner.signing_keys)
        print(
            "warning: owner keys taken from the device config, which whoever holds the "
            "device can edit; pin them with --owner-key or --trust",
            file=sys.stderr,
        )
    return _verify_state_dir(Path(config.storage.path), owner_keys, pins, args.files)


def _verify_mirror(mirror: Path, pins: Trust, check_files: bool) -> int:
    if not mirror.is_dir():
        raise CommandError(f"{mirror} is not a folder")
    if not pins.owner:
        raise CommandError("owner keys are not pinned: give --owner-key or --trust FILE")
    folders = sorted(p for p in mirror.iterdir() if (p / LEDGER_FILENAME).is_file())
    if not folders:
        raise CommandError(f"no device folder with a {LEDGER_FILENAME} under {mirror}")
    worst = 0
    for folder in folders:
        code = _verify_state_dir(folder, pins.owner, pins, check_files, mirrored=True)
        worst = max(worst, code)
        waiting = pending_decisions(folder)
        if waiting:
            # Not a failure: `doorbell mirror` sends them until the device's log has them.
            print(
                f"{folder.name}: {len(waiting)} owner decision(s) pending, not yet in the "
                "device's log: " + ", ".join(p.stem for p in waiting)
            )
    return EXIT_BAD if worst else 0


def _device_key(state_dir: Path, pins: Trust) -> str:
    try:
        own = device_public_key(state_dir)
    except StorageError:
        own = None
    if not pins.device:
        if own is None:
            raise CommandError(f"no device.pub in {state_dir}; give --device-key")
        return own
    if own in pins.device or len(pins.device) == 1:
        return own if own in pins.device else pins.device[0]
    raise CommandError(f"{state_dir}: its device.pub is none of the pinned device keys")


def _verify_state_dir(
    state_dir: Path,
    owner_keys: tuple[str, ...],
    pins: Trust,
    check_files: bool,
    *,
    mirrored: bool = False,
) -> int:
    name = Ledger.in_state_dir(state_dir).path
    try:
        result = audit_state_dir(
            state_dir,
            owner_keys,
            check_files=check_files,
            device_key=_device_key(state_dir, pins),
            witness_keys=pins.witness,
        )
    except StorageError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_BAD
    alarms = _alarms(state_dir) if mirrored else []
    return _report(name, result, alarms, mirrored)


def _alarms(state_dir: Path) -> list[str]:
    evidence = state_dir / EVIDENCE_DIR
    if not evidence.is_dir():
        return []
    found = []
    for folder in sorted(p for p in evidence.iterdir() if p.is_dir()):
        reason = folder / "reason.txt"
        text = reason.read_text(errors="replace").strip() if reason.is_file() else "?"
        found.append(f"the witness raised an alarm ({folder.name}): {text}")
    return found


def _report(name: Path, result: AuditResult, alarms: list[str], mirrored: bool) -> int:
    chain, tree = result.chain, result.tree
    if chain.problem is not None:
        print(f"{name}: {chain.problem}", file=sys.stderr)
        print(f"{name}: the {chain.entries} entries before it verify", file=sys.stderr)
        return EXIT_BAD
    problems = [*(tree.problems if tree else ()), *alarms]
    for finding in (*result.index_findings, *result.file_findings, *problems):
        print(f"{name}: {finding}", file=sys.stderr)
    for note in tree.notes if tree else ():
        print(f"{name}: note: {note}")
    print(
        f"{name}: {chain.entries} entries, chain and signatures ok; "
        f"head seq {chain.head.seq} {chain.head.hash}"
    )
    if tree is not None and tree.checkpoint is not None and not tree.problems:
        witnessed = f", witnessed up to {tree.witnessed.size}" if tree.witnessed else ""
        print(f"{name}: matches its signed checkpoint of {tree.checkpoint.size} entries{witnessed}")
    if result.index_findings or result.file_findings or problems:
        return EXIT_BAD
    if chain.torn_tail_bytes:
        print(
            f"{name}: incomplete last line ({chain.torn_tail_bytes} bytes without a newline): "
            "an append was cut off (power cut?); the daemon drops it on its next append",
            file=sys.stderr,
        )
        return 0 if mirrored else EXIT_INCOMPLETE_TAIL
    return 0


def _show(args: argparse.Namespace) -> int:
    config = load_device_config(args.config)
    ledger = Ledger.in_state_dir(config.storage.path)
    rows = [_parse(number, line) for number, line in ledger.lines()]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print(f"{ledger.path}: empty")
    for row in rows:
        if "error" in row:
            print(f"line {row['line']}: {row['error']}")
        else:
            print(
                f"{row.get('seq')!s:>5}  {row.get('time')!s}  {row.get('actor')!s:<6}  "
                f"{row.get('type')!s:<16}  {_summary(row.get('body'))}"
            )
    return 0


def _parse(number: int, line: bytes) -> dict[str, Any]:
    if not line.endswith(b"\n"):
        return {"line": number, "error": f"incomplete last line ({len(line)} bytes)"}
    try:
        data = json.loads(line)
    except ValueError:
        return {"line": number, "error": "not valid JSON"}
    if not isinstance(data, dict):
        return {"line": number, "error": "not a JSON object"}
    return {"line": number, **data}


def _summary(body: Any) -> str:
    if not isinstance(body, dict):
        return str(body)
    parts = []
    for key, value in body.items():
        if key == "segments" and isinstance(value, list):
            parts.append(f"segments={len(value)}")
        elif key == "payload" and isinstance(value, dict):
            parts.append(f"from={value.get('organisation')!s} case={value.get('case_ref')!s}")
        elif value is not None:
            parts.append(f"{key}={value}")
    text = " ".join(parts)
    return text if len(text) <= 120 else text[:119] + "…"
