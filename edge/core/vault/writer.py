"""Encrypting to recipients: the header goes out on open, the payload as data is pushed.

The encoder pushes bytes as it produces them; the writer seals whole 64 KiB chunks as
soon as it knows they are not the last, so memory stays at two chunk buffers whatever
the file size.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from types import TracebackType

from edge.core.vault.errors import IncompatibleRecipientsError
from edge.core.vault.format import FILE_KEY_SIZE, serialise_header
from edge.core.vault.keys import Recipient, is_post_quantum
from edge.core.vault.scrypt import ScryptRecipient
from edge.core.vault.stream import PAYLOAD_NONCE_SIZE, Sink, StreamWriter, payload_key


def check_recipients(recipients: list[Recipient]) -> None:
    """Raise IncompatibleRecipientsError unless `recipients` may share one file.

    The spec's rules: a passphrase (scrypt) recipient stands alone, and a post-quantum
    recipient is not mixed with classic ones, whose stanza a future quantum computer
    could open to get the file key.
    """
    if not recipients:
        raise ValueError("at least one recipient is needed")
    if len(recipients) > 1 and any(isinstance(r, ScryptRecipient) for r in recipients):
        raise IncompatibleRecipientsError("a passphrase recipient must be the only recipient")
    post_quantum = [is_post_quantum(r) for r in recipients]
    if any(post_quantum) and not all(post_quantum):
        raise IncompatibleRecipientsError(
            "post-quantum (age1pq1...) and classic (age1...) recipients cannot share a file: "
            "the classic one would let a future quantum computer open it; "
            "use only age1pq1... recipients or only classic ones"
        )


class AgeWriter:
    """A push-style age encryptor. `close()` finishes the file; it never closes the sink.

    The sink receives views of reused buffers, so like any `io` writer it must copy or
    write out the bytes before `write` returns.
    """

    def __init__(self, recipients: Iterable[Recipient], sink: Sink) -> None:
        recipients = list(recipients)
        check_recipients(recipients)
        file_key = os.urandom(FILE_KEY_SIZE)
        stanzas = [stanza for recipient in recipients for stanza in recipient.wrap(file_key)]
        nonce = os.urandom(PAYLOAD_NONCE_SIZE)
        self._sink = sink
        sink.write(serialise_header(stanzas, file_key) + nonce)
        self._stream = StreamWriter(payload_key(file_key, nonce), sink)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt `data` (any length, including zero)."""
        self._stream.write(data)

    def close(self) -> None:
        """Seal the final chunk and flush the sink. Calling it again does nothing."""
        self._stream.close()
        flush = getattr(self._sink, "flush", None)
        if flush is not None:
            flush()

    def abort(self) -> None:
        """Give up: no final chunk is written, so the partial output fails as truncated."""
        self._stream.abort()

    def __enter__(self) -> AgeWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # After an error the output must not look complete, so it is left unfinished.
        if exc_type is None:
            self.close()
        else:
            self.abort()


def open_writer(recipients: Iterable[Recipient], sink: Sink) -> AgeWriter:
    """Start an age file for `recipients` on `sink` (header written now)."""
    return AgeWriter(recipients, sink)
