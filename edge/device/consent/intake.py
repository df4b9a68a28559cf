"""Taking a footage request in: validate it, record its arrival, store it as pending.

The same path serves the MQTT handler and `doorbell requests add`. The device only
records the request (a device-signed `request.received` entry, then the pending row and
its status event); it never answers with footage. Requests from the network are capped,
so a flood can fill neither the disk nor the owner's list.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.core.store.requests import Source, StoredRequest, open_book, parse_request
from edge.device.consent.device_audit import DeviceAudit

log = logging.getLogger(__name__)

MAX_PENDING = 50
"""Pending requests beyond which new ones are refused until the owner answers some."""


class RequestRefusedError(ValueError):
    """A valid request that cannot be taken now (too many pending)."""


class RequestIntake:
    """Receives footage requests for the state directory `state_dir`."""

    def __init__(
        self,
        state_dir: Path,
        audit: DeviceAudit,
        *,
        clock: Callable[[], float] = time.time,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.audit = audit
        self._clock = clock
        self._max_pending = max_pending

    def on_footage_request(self, payload: dict[str, Any]) -> StoredRequest:
        """The MQTT handler (`<prefix>/requests/new`); raises ValueError to refuse."""
        stored = self.submit(payload, "mqtt")
        log.info("footage request %s from %s is pending", stored.id, stored.request.organisation)
        return stored

    def submit(self, data: Any, source: Source) -> StoredRequest:
        """Validate and store a request as pending; a repeat of a known request returns it.

        Raises `InvalidRequestError` or `RequestRefusedError` (both ValueError).
        """
        request = parse_request(data)
        request_id = request.request_id()
        # Each call opens its own connection: the MQTT thread and the CLI both come here.
        with open_book(self.state_dir, create=True) as book:
            known = book.get(request_id)
            if known is not None:
                return known
            if book.count_pending() >= self._max_pending:
                raise RequestRefusedError(
                    f"{self._max_pending} requests are already pending; answer some first"
                )
            # Ledger first: a request in the table is always one the ledger has seen.
            self.audit.request_received(request_id, source, request.payload())
            return book.add(request, source, self._clock())
