"""Footage requests: the strict schema of what a requester may send, and their storage.

A request names who asks, for which case, for which time window and to which age key
the footage would go. It is only ever stored as `pending`: the device never answers it
with footage by itself; the owner approves or denies it (`edge.owner.decisions`).
Requests live in their own `requests` table in the store's `index.sqlite`; a status
change and its `requests/status` outbox event (metadata only) commit together.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from edge.core.log.canonical import canonical_json, sha256_hex
from edge.core.mqtt import topics
from edge.core.mqtt.schemas import RequestStatus
from edge.core.store.index import connect, connect_existing, transaction
from edge.core.store.layout import INDEX_NAME
from edge.core.store.outbox import enqueue_events
from edge.core.timestamps import rfc3339
from edge.core.vault import InvalidKeyError, parse_recipient

Status = Literal["pending", "approved", "denied"]
Source = Literal["mqtt", "owner"]

MAX_WINDOW = timedelta(days=31)
"""Longest time window one request may ask for: a request is for an incident, not a month."""

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})", re.ASCII
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 time with a timezone, e.g. 2026-05-01T18:00:00Z")
    return datetime.fromisoformat(value).astimezone(UTC)


def _one_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must be one line of printable text")
    if value != value.strip():
        raise ValueError("must not start or end with whitespace")
    return value


def _age_recipient(value: str) -> str:
    try:
        parse_recipient(value)
    except InvalidKeyError as exc:
        raise ValueError(f"not an age X25519 recipient: {exc}") from None
    return value


Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_one_line)]
Reference = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_one_line)]
Reason = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_one_line)]
Time = Annotated[datetime, BeforeValidator(_parse_time)]


class FootageRequest(BaseModel):
    """A footage request as it arrives over MQTT (`<prefix>/requests/new`) or from the owner."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    requester: Name = Field(description="Name of the person asking.")
    organisation: Name = Field(description="Who they ask for (police force, insurer, neighbour).")
    contact: Name = Field(description="How to reach them (e-mail, phone).")
    reason: Reason = Field(description="Why they want the footage.")
    case_ref: Reference = Field(description="Their case or reference number.")
    start: Time = Field(alias="from", description="Start of the time window (RFC 3339).")
    end: Time = Field(alias="to", description="End of the time window (RFC 3339).")
    recipient: Annotated[
        str,
        Field(pattern=r"^age1[02-9ac-hj-np-z]{58}$", description="The requester's age key."),
        AfterValidator(_age_recipient),
    ]

    @model_validator(mode="after")
    def _window(self) -> FootageRequest:
        if self.end <= self.start:
            raise ValueError("'to' must be after 'from'")
        if self.end - self.start > MAX_WINDOW:
            raise ValueError(f"the time window may span at most {MAX_WINDOW.days} days")
        return self

    def payload(self) -> dict[str, str]:
        """The request in its wire form with normalised UTC times (what the ledger records)."""
        return {
            "requester": self.requester,
            "organisation": self.organisation,
            "contact": self.contact,
            "reason": self.reason,
            "case_ref": self.case_ref,
            "from": rfc3339(self.start),
            "to": rfc3339(self.end),
            "recipient": self.recipient,
        }

    def payload_sha256(self) -> str:
        """Hash of the canonical payload; decisions in the ledger name it."""
        return sha256_hex(canonical_json(self.payload()))

    def request_id(self) -> str:
        """An id derived from the content, so a request delivered twice is stored once."""
        return "req-" + self.payload_sha256()[:16]


def parse_request(data: Any) -> FootageRequest:
    """Validate a decoded JSON object; raises `InvalidRequestError` naming the first problem."""
    try:
        return FootageRequest.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequestError(_first_problem(exc)) from None


class InvalidRequestError(ValueError):
    """A footage request that does not match the schema; the message names the field."""


def _first_problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(part) for part in err["loc"]) or "request"
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown field"
    return f"{where}: {message}"[:300]


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """A request with its id, where it came from, when, and the owner's decision if any."""

    id: str
    status: Status
    source: Source
    received_at: float
    request: FootageRequest
    decided_at: float | None
    decision_reason: str | None
    manifest_sha256: str | None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready, with RFC 3339 times."""
        return {
            "id": self.id,
            "status": self.status,
            "source": self.source,
            "received_at": _time_text(self.received_at),
            **self.request.payload(),
            "decided_at": _time_text(self.decided_at),
            "decision_reason": self.decision_reason,
            "manifest_sha256": self.manifest_sha256,
        }


def _time_text(seconds: float | None) -> str | None:
    return None if seconds is None else rfc3339(datetime.fromtimestamp(seconds, UTC))


_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    source TEXT NOT NULL CHECK (source IN ('mqtt', 'owner')),
    received_at REAL NOT NULL,
    payload TEXT NOT NULL,
    decided_at REAL,
    decision_reason TEXT,
    manifest_sha256 TEXT
) STRICT
"""
_COLUMNS = "id, status, source, received_at, payload, decided_at, decision_reason, manifest_sha256"


class RequestBook:
    """The `requests` table on one SQLite connection (use from the thread that opened it)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        conn.execute(_SCHEMA)

    def get(self, request_id: str) -> StoredRequest | None:
        """The request with this id, or None."""
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM requests WHERE id = ?", (request_id,)
        ).fetchone()
        return _from_row(row) if row else None

    def list(self, status: Status | None = None) -> list[StoredRequest]:
        """Requests oldest first, optionally only those with `status`."""
        sql = f"SELECT {_COLUMNS} FROM requests"
        params: tuple[str, ...] = ()
        if status is not None:
            sql += " WHERE status = ?"
            params = (status,)
        rows = self._conn.execute(sql + " ORDER BY received_at, id", params).fetchall()
        return [_from_row(row) for row in rows]

    def count_pending(self) -> int:
        """How many requests wait for the owner."""
        return self._conn.execute(
            "SELECT count(*) FROM requests WHERE status = 'pending'"
        ).fetchone()[0]

    def add(self, request: FootageRequest, source: Source, received_at: float) -> StoredRequest:
        """Store a new pending request and queue its `pending` status event."""
        stored = StoredRequest(
            request.request_id(), "pending", source, received_at, request, None, None, None
        )
        with transaction(self._conn):
            self._conn.execute(
                f"INSERT INTO requests ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL)",
                (
                    stored.id,
                    "pending",
                    source,
                    received_at,
                    json.dumps(request.payload(), sort_keys=True),
                ),
            )
            _enqueue_status(self._conn, stored.id, "pending", received_at)
        return stored

    def decide(
        self,
        request_id: str,
        status: Literal["approved", "denied"],
        decided_at: float,
        reason: str | None,
        manifest_sha256: str | None,
    ) -> StoredRequest:
        """Move a pending request to `status` and queue its status event."""
        with transaction(self._conn):
            cursor = self._conn.execute(
                "UPDATE requests SET status = ?, decided_at = ?, decision_reason = ?, "
                "manifest_sha256 = ? WHERE id = ? AND status = 'pending'",
                (status, decided_at, reason, manifest_sha256, request_id),
            )
            if cursor.rowcount != 1:
                raise RequestStateError(f"request {request_id} is not pending")
            _enqueue_status(self._conn, request_id, status, decided_at)
        decided = self.get(request_id)
        assert decided is not None, "updated just now"
        return decided


class RequestStateError(Exception):
    """A decision on a request that does not exist or was already decided."""


def _enqueue_status(conn: sqlite3.Connection, request_id: str, status: Status, at: float) -> None:
    event = RequestStatus(id=request_id, status=status, time=datetime.fromtimestamp(at, UTC))
    enqueue_events(conn, [(topics.REQUEST_STATUS, json.loads(event.to_json()))], at)


def _from_row(row: tuple[Any, ...]) -> StoredRequest:
    request_id, status, source, received_at, payload, decided_at, reason, manifest = row
    return StoredRequest(
        request_id,
        status,
        source,
        received_at,
        FootageRequest.model_validate(json.loads(payload)),
        decided_at,
        reason,
        manifest,
    )


@contextmanager
def open_book(state_dir: Path, *, create: bool = False) -> Iterator[RequestBook]:
    """The request book of a state directory; with `create=False` the index must exist."""
    path = Path(state_dir) / INDEX_NAME
    conn = connect(path) if create else connect_existing(path)
    try:
        yield RequestBook(conn)
    finally:
        conn.close()
