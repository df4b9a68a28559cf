"""`doorbell requests add|list|show|approve|deny`: the owner's side of footage requests.

`list`, `show`, `approve` and `deny` run on the owner's computer against the home
server's mirror with `--mirror DIR` (decisions are kept there, owner-signed, pending in
the device's ledger), or on the device with `--config`. `add` (device only) enters a
request received some other way (letter, e-mail) through the same strict checks as
MQTT; `approve` and `deny` need the owner key and are signed; `approve` writes the
share package of every clip in the requested window.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from edge.commands import CommandError
from edge.commands.options import (
    add_config_argument,
    add_mirror_arguments,
    add_owner_key_arguments,
    load_device_config,
    load_owner_key,
    mirror_folder,
    parse_expiry,
    read_owner_key,
)
from edge.core.log.ledger import Ledger, LedgerError
from edge.core.store.errors import StorageError
from edge.core.store.layout import DEVICE_KEY_NAME
from edge.core.store.requests import RequestBook, RequestStateError, StoredRequest, open_book
from edge.owner.decisions import approve_request, deny_request
from edge.owner.share import ShareError

if TYPE_CHECKING:
    from edge.owner.mirror_requests import MirrorRequest

T = TypeVar("T")

# (request field, option, metavar, help). The end of the window is `--until`, not `--to`,
# which is a recipient everywhere else (`share --to`).
_FIELD_OPTIONS = (
    ("requester", "--requester", "NAME", "the person asking"),
    ("organisation", "--organisation", "NAME", "who they ask for (police force, insurer, ...)"),
    ("contact", "--contact", "TEXT", "how to reach them (e-mail, phone)"),
    ("reason", "--reason", "TEXT", "why they want the footage"),
    ("case_ref", "--case-ref", "REF", "their case or reference number"),
    ("from", "--from", "TIME", "start of the time window, RFC 3339 (2026-05-01T18:00:00Z)"),
    ("to", "--until", "TIME", "end of the time window, RFC 3339 (2026-05-01T20:30:00Z)"),
    ("recipient", "--recipient", "AGE_KEY", "the requester's age public key (age1...)"),
)
_FIELDS = tuple(field for field, _o, _m, _t in _FIELD_OPTIONS)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `requests` command group."""
    parser = sub.add_parser("requests", help="list, add, approve or deny footage requests")
    actions = parser.add_subparsers(dest="requests_command", metavar="ACTION", required=True)

    add = actions.add_parser(
        "add",
        help="enter a footage request received another way",
        description="Enter a footage request received by letter or e-mail: every field as "
        "an option, or the whole request as a JSON file. Times are RFC 3339 with a zone, "
        "e.g. 2026-05-01T18:00:00Z.",
    )
    add.add_argument(
        "--from-file", dest="request_file", type=Path, metavar="FILE",
        help="the whole request as a JSON object (- = stdin), instead of the options below",
    )  # fmt: skip
    for field, option, metavar, text in _FIELD_OPTIONS:
        add.add_argument(option, dest=f"field_{field}", metavar=metavar, help=text)
    add_config_argument(add)
    add.set_defaults(func=_add)

    listing = actions.add_parser("list", help="list requests, oldest first")
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    listing.add_argument("--status", choices=("pending", "approved", "denied"))
    add_config_argument(listing)
    add_mirror_arguments(listing)
    listing.set_defaults(func=_list)

    show = actions.add_parser("show", help="show one request in full")
    show.add_argument("id")
    show.add_argument("--json", action="store_true", help="print JSON")
    add_config_argument(show)
    add_mirror_arguments(show)
    show.set_defaults(func=_show)

    approve = actions.add_parser("approve", help="share the requested window's clips")
    approve.add_argument("id")
    approve.add_argument(
        "-o", "--out", required=True, type=Path, help="new or empty folder to write"
    )
    approve.add_argument(
        "--expires", type=parse_expiry, metavar="DATE", help="share until YYYY-MM-DD"
    )
    add_owner_key_arguments(approve)
    add_config_argument(approve)
    add_mirror_arguments(approve)
    approve.set_defaults(func=_approve)

    deny = actions.add_parser("deny", help="refuse a request")
    deny.add_argument("id")
    deny.add_argument("--reason", help="why (recorded in the ledger)")
    add_owner_key_arguments(deny)
    add_config_argument(deny)
    add_mirror_arguments(deny)
    deny.set_defaults(func=_deny)


def _add(args: argparse.Namespace) -> int:
    config = load_device_config(args.config)
    state_dir = Path(config.storage.path)
    data = _request_data(args)
    if not (state_dir / DEVICE_KEY_NAME).is_file():
        raise CommandError(f"no device key in {state_dir} (has the daemon run with this config?)")
    from edge.device.consent.device_audit import DeviceAudit
    from edge.device.consent.intake import RequestIntake
    from edge.device.store.device_key import load_or_create

    try:
        audit = DeviceAudit(Ledger.in_state_dir(state_dir), load_or_create(state_dir))
        stored = RequestIntake(state_dir, audit).submit(data, "owner")
    except ValueError as exc:
        raise CommandError(f"request refused: {exc}") from None
    except (StorageError, LedgerError) as exc:
        raise CommandError(str(exc)) from None
    print(f"{stored.id} {stored.status}")
    return 0


def _request_data(args: argparse.Namespace) -> dict[str, Any]:
    given = {f: getattr(args, f"field_{f}") for f in _FIELDS if getattr(args, f"field_{f}")}
    source = args.request_file
    if source is None:
        missing = [option for f, option, _m, _t in _FIELD_OPTIONS if f not in given]
        if missing:
            raise CommandError(
                f"missing {', '.join(missing)} (or give the whole request with --from-file)"
            )
        return given
    if given:
        raise CommandError("give the request either with --from-file or with options, not both")
    try:
        text = sys.stdin.read() if str(source) == "-" else source.read_text("utf-8")
        data = json.loads(text)
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot read the request from {source}: {exc}") from None
    if not isinstance(data, dict):
        raise CommandError("the request must be a JSON object")
    return data


def _list(args: argparse.Namespace) -> int:
    requests: Sequence[StoredRequest | MirrorRequest]
    if args.mirror:
        requests = [r for r in _mirror_requests(args) if args.status in (None, r.status)]
    else:
        config = load_device_config(args.config)
        requests = _with_book(config.storage.path, lambda book: book.list(args.status))
    if args.json:
        print(json.dumps([r.to_json() for r in requests], indent=2, ensure_ascii=False))
    elif not requests:
        print("no requests")
    else:
        for stored in requests:
            print(_summary(stored))
    return 0


def _show(args: argparse.Namespace) -> int:
    stored: StoredRequest | MirrorRequest | None
    if args.mirror:
        stored = next((r for r in _mirror_requests(args) if r.id == args.id), None)
    else:
        config = load_device_config(args.config)
        stored = _with_book(config.storage.path, lambda book: book.get(args.id))
    if stored is None:
        raise CommandError(f"no request {args.id}")
    data = stored.to_json()
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        width = max(len(key) for key in data)
        for key, value in data.items():
            print(f"{key.ljust(width)}  {'-' if value is None else value}")
    return 0


def _approve(args: argparse.Namespace) -> int:
    if args.mirror:
        from edge.owner.mirror_requests import approve_on_mirror

        folder = mirror_folder(args)
        owner = read_owner_key(args)
        try:
            decided, package = approve_on_mirror(
                folder, args.id, owner, args.out, expires=args.expires
            )
        except (RequestStateError, ShareError, StorageError, LedgerError, OSError) as exc:
            raise CommandError(str(exc)) from None
        clips = len(package.manifest["clips"])
        print(
            f"{decided.id} approved: {clips} clip(s) for {decided.request.recipient} in "
            f"{args.out}; recorded on the mirror, pending in the device's ledger"
        )
        return 0
    from edge.device.consent.device_audit import checkpoint_now
    from edge.device.store.device_key import load_or_create

    config = load_device_config(args.config)
    owner = load_owner_key(args, config)
    state_dir = Path(config.storage.path)
    try:
        decided, package = approve_request(
            config.storage.path,
            args.id,
            owner,
            args.out,
            device_id=config.device.id,
            expires=args.expires,
            checkpoint=lambda: checkpoint_now(state_dir, load_or_create(state_dir)),
        )
    except (RequestStateError, ShareError, StorageError, LedgerError) as exc:
        raise CommandError(str(exc)) from None
    clips = len(package.manifest["clips"])
    print(f"{decided.id} approved: {clips} clip(s) for {decided.request.recipient} in {args.out}")
    if clips == 0:
        print("No clip overlaps the requested window; the package says so, signed.")
    return 0


def _deny(args: argparse.Namespace) -> int:
    if args.mirror:
        from edge.owner.mirror_requests import deny_on_mirror

        folder = mirror_folder(args)
        owner = read_owner_key(args)
        try:
            decided = deny_on_mirror(folder, args.id, owner, args.reason)
        except (RequestStateError, LedgerError, OSError) as exc:
            raise CommandError(str(exc)) from None
        print(f"{decided.id} denied; recorded on the mirror, pending in the device's ledger")
        return 0
    config = load_device_config(args.config)
    owner = load_owner_key(args, config)
    try:
        decided = deny_request(config.storage.path, args.id, owner, args.reason)
    except (RequestStateError, StorageError, LedgerError) as exc:
        raise CommandError(str(exc)) from None
    print(f"{decided.id} denied")
    return 0


def _mirror_requests(args: argparse.Namespace) -> list[MirrorRequest]:
    from edge.owner.mirror_requests import mirror_requests

    try:
        return mirror_requests(mirror_folder(args))
    except (LedgerError, ValueError, OSError) as exc:
        raise CommandError(f"cannot read the mirror's ledger copy: {exc}") from None


def _with_book(state_dir: Path, action: Callable[[RequestBook], T]) -> T:
    try:
        with open_book(Path(state_dir)) as book:
            return action(book)
    except StorageError as exc:
        raise CommandError(str(exc)) from None


def _summary(stored: StoredRequest | MirrorRequest) -> str:
    request = stored.request
    data = stored.to_json()
    window = f"{data['from']} .. {data['to']}"
    return (
        f"{stored.id}  {stored.status:<8}  {request.organisation} ({request.requester}), "
        f"case {request.case_ref}, {window}"
    )
