"""`doorbell audit verify|show`: check the device's signed ledger, or print it.

`verify` exits 0 when the chain, every signature and the index agree; 1 naming the first
bad entry (or the first clip the ledger does not account for); 2 when the only finding
is an incomplete last line, which a power cut during an append leaves and the daemon
drops on its next append.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edge.commands import CommandError
from edge.commands.options import add_config_argument, load_device_config
from edge.core.log.ledger import Ledger
from edge.core.store.errors import StorageError
from edge.owner.state_audit import audit_state_dir

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
    add_config_argument(verify)
    verify.set_defaults(func=_verify)

    show = actions.add_parser("show", help="print the ledger entries")
    show.add_argument("--json", action="store_true", help="print a JSON list of the entries")
    add_config_argument(show)
    show.set_defaults(func=_show)


def _verify(args: argparse.Namespace) -> int:
    config = load_device_config(args.config)
    state_dir = Path(config.storage.path)
    try:
        result = audit_state_dir(state_dir, config.owner.signing_keys, check_files=args.files)
    except StorageError as exc:
        raise CommandError(str(exc)) from None
    name = Ledger.in_state_dir(state_dir).path
    chain = result.chain
    if chain.problem is not None:
        print(f"{name}: {chain.problem}", file=sys.stderr)
        print(f"{name}: the {chain.entries} entries before it verify", file=sys.stderr)
        return EXIT_BAD
    for finding in result.index_findings + result.file_findings:
        print(f"{name}: {finding}", file=sys.stderr)
    print(
        f"{name}: {chain.entries} entries, chain and signatures ok; "
        f"head seq {chain.head.seq} {chain.head.hash}"
    )
    if result.index_findings or result.file_findings:
        return EXIT_BAD
    if chain.torn_tail_bytes:
        print(
            f"{name}: incomplete last line ({chain.torn_tail_bytes} bytes without a newline): "
            "an append was cut off (power cut?); the daemon drops it on its next append",
            file=sys.stderr,
        )
        return EXIT_INCOMPLETE_TAIL
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
