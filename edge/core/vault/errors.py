"""Distinct failures of age decryption, so callers can tell a wrong key from a damaged file.

The hierarchy mirrors where in the file a problem was found: the armor wrapper, the
header (its syntax, then its MAC), the identities, or the STREAM payload.
"""


class VaultError(Exception):
    """Base class of every vault failure."""


class InvalidKeyError(VaultError, ValueError):
    """A recipient, identity or identity file could not be parsed."""


class IncompatibleRecipientsError(VaultError, ValueError):
    """The recipients may not share one file: a passphrase with anything else, or a
    post-quantum (`age1pq1…`) recipient with a classic one that would undo its protection."""


class ArmorError(VaultError):
    """The ASCII armor around the file breaks the strict PEM rules of the spec."""


class HeaderError(VaultError):
    """The header is malformed, unsupported or fails a check on one of its stanzas."""


class NotAgeFileError(HeaderError):
    """The input does not start like an age file at all (no age intro, no armor)."""


class HeaderMACError(HeaderError):
    """The header parsed and a file key was found, but the header MAC does not match."""


class NoIdentityMatchError(VaultError):
    """None of the given identities could unwrap the file key (wrong key or passphrase)."""

    def __init__(self, stanza_types: list[str]) -> None:
        self.stanza_types = stanza_types
        kinds = ", ".join(dict.fromkeys(stanza_types)) or "nothing"
        super().__init__(f"no identity matched any of the file's recipients ({kinds})")


class PayloadError(VaultError):
    """A payload chunk failed authentication, or the payload is malformed."""


class TruncatedError(PayloadError):
    """The payload ends before its final chunk: the file was cut short."""
