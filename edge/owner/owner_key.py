"""The owner's key file: the age identity that opens clips plus the Ed25519 key that signs shares.

One file, readable by stock age (age 1.3 or later for a hybrid post-quantum identity).
Unencrypted it is an age identity file: the signing key rides in `#` comment lines,
which age ignores, so `age -d -i owner.key clip.age` works. With a passphrase the whole
text is scrypt-encrypted and armored, so `age -d owner.key` shows it and
`age -d -i owner.key clip.age` asks for the passphrase. See docs/KEYS.md.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.core.vault import (
    DEFAULT_WORK_FACTOR,
    InvalidKeyError,
    MLKEM768X25519Identity,
    NoIdentityMatchError,
    ScryptIdentity,
    ScryptRecipient,
    VaultError,
    X25519Identity,
    armor,
    decrypt_bytes,
    encrypt_bytes,
    looks_like_age,
    parse_identities,
)

SIGNING_PUBLIC_PREFIX = "ed25519:"
AgeIdentity = X25519Identity | MLKEM768X25519Identity
_TITLE = "# doorbell-edge owner key: an age identity and an Ed25519 signing key. Keep it secret."
_PUBLIC_KEY_LINE = "# public key: "
_SIGNING_PUBLIC_LINE = "# doorbell-signing-public: "
_SIGNING_KEY_LINE = "# doorbell-signing-key: "
_MAX_KEY_FILE_SIZE = 1 << 20


class OwnerKeyError(Exception):
    """The owner key file cannot be used; the message says why, in one line."""


class PassphraseRequiredError(OwnerKeyError):
    """The key file is passphrase-encrypted and no passphrase was given."""


class WrongPassphraseError(OwnerKeyError):
    """The passphrase does not open the key file."""


class NotAKeyFileError(OwnerKeyError):
    """The file is not an owner key file (or identity file, where one is accepted)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _strict_b64decode(text: str) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None
    if _b64(data) != text:
        raise ValueError("not canonical base64")
    return data


class OwnerKey:
    """The owner's age identity and Ed25519 signing key."""

    def __init__(self, identity: AgeIdentity, signing_key: Ed25519PrivateKey) -> None:
        self.identity = identity
        self._signing_key = signing_key

    @classmethod
    def generate(cls, *, post_quantum: bool = False) -> OwnerKey:
        """A new random owner key: a hybrid ML-KEM-768 + X25519 identity if `post_quantum`,
        else a classic X25519 one. `doorbell keygen` makes hybrid keys unless told otherwise."""
        identity = MLKEM768X25519Identity.generate() if post_quantum else X25519Identity.generate()
        return cls(identity, Ed25519PrivateKey.generate())

    @property
    def post_quantum(self) -> bool:
        """Whether the age identity is the hybrid post-quantum kind."""
        return isinstance(self.identity, MLKEM768X25519Identity)

    @property
    def recipient(self) -> str:
        """The `age1pq1…` or `age1…` recipient clips are encrypted to (for `owner.recipients`)."""
        return str(self.identity.recipient)

    @property
    def signing_public(self) -> str:
        """The `ed25519:…` public signing key (for `owner.signing_keys`)."""
        return SIGNING_PUBLIC_PREFIX + _b64(self._signing_key.public_key().public_bytes_raw())

    def sign(self, data: bytes) -> bytes:
        """An Ed25519 signature over `data`."""
        return self._signing_key.sign(data)

    def __repr__(self) -> str:
        return f"OwnerKey(recipient={self.recipient[:24]}…, signing_public={self.signing_public})"

    def to_text(self) -> str:
        """The unencrypted key file: a valid age identity file."""
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        seed = self._signing_key.private_bytes_raw()
        return "\n".join(
            [
                _TITLE,
                f"# created: {created}",
                _PUBLIC_KEY_LINE + self.recipient,
                _SIGNING_PUBLIC_LINE + self.signing_public,
                _SIGNING_KEY_LINE + _b64(seed),
                str(self.identity),
                "",
            ]
        )

    @classmethod
    def from_text(cls, text: str) -> OwnerKey:
        """Parse the unencrypted key file text."""
        try:
            identities = parse_identities(text)
        except InvalidKeyError as exc:
            raise NotAKeyFileError(f"not an owner key file: {exc}") from None
        seeds = [line for line in text.splitlines() if line.startswith(_SIGNING_KEY_LINE)]
        if not seeds:
            raise NotAKeyFileError(
                "not an owner key file: it is an age identity file without a signing key"
            )
        if len(identities) != 1 or len(seeds) != 1:
            raise NotAKeyFileError(
                "not an owner key file: expected one identity and one signing key"
            )
        try:
            seed = _strict_b64decode(seeds[0].removeprefix(_SIGNING_KEY_LINE))
            signing_key = Ed25519PrivateKey.from_private_bytes(seed)
        except ValueError:
            raise NotAKeyFileError("owner key file: the signing key line is damaged") from None
        key = cls(identities[0], signing_key)
        for line in text.splitlines():
            if (
                line.startswith(_SIGNING_PUBLIC_LINE)
                and line != _SIGNING_PUBLIC_LINE + key.signing_public
            ):
                raise NotAKeyFileError(
                    "owner key file: signing public key does not match its secret"
                )
            if line.startswith(_PUBLIC_KEY_LINE) and line != _PUBLIC_KEY_LINE + key.recipient:
                raise NotAKeyFileError("owner key file: public key does not match its identity")
        return key

    def save(
        self,
        path: str | os.PathLike[str],
        passphrase: bytes | None,
        *,
        work_factor: int = DEFAULT_WORK_FACTOR,
    ) -> None:
        """Write the key file, mode 0600; FileExistsError if `path` exists (never overwrites).

        With a passphrase the file is armored age, scrypt-encrypted at `work_factor`.
        """
        data = self.to_text().encode("utf-8")
        if passphrase is not None:
            data = armor(encrypt_bytes([ScryptRecipient(passphrase, work_factor)], data))
        _create_new_file(Path(path), data)

    @classmethod
    def load(cls, path: str | os.PathLike[str], passphrase: bytes | None) -> OwnerKey:
        """Read a key file written by `save` (encrypted or not)."""
        return cls.from_text(_read_key_text(Path(path), passphrase))


def load_identities(path: str | os.PathLike[str], passphrase: bytes | None) -> list[AgeIdentity]:
    """Identities from an owner key file or any age identity file, encrypted or not."""
    text = _read_key_text(Path(path), passphrase)
    try:
        return parse_identities(text)
    except InvalidKeyError as exc:
        raise NotAKeyFileError(f"{path}: not an age identity file ({exc})") from None


def _read_key_text(path: Path, passphrase: bytes | None) -> str:
    with path.open("rb") as file:
        data = file.read(_MAX_KEY_FILE_SIZE + 1)
    if len(data) > _MAX_KEY_FILE_SIZE:
        raise NotAKeyFileError(f"{path}: too large to be a key file")
    if looks_like_age(data):
        if passphrase is None:
            raise PassphraseRequiredError(f"{path} is passphrase-encrypted; give its passphrase")
        try:
            data = decrypt_bytes([ScryptIdentity(passphrase)], data)
        except NoIdentityMatchError as exc:
            if "scrypt" in exc.stanza_types:
                raise WrongPassphraseError(f"wrong passphrase for {path}") from None
            raise NotAKeyFileError(
                f"{path} is an age file encrypted to a key, not a passphrase-protected key file"
            ) from None
        except VaultError as exc:
            raise NotAKeyFileError(f"{path}: damaged encrypted key file ({exc})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotAKeyFileError(f"{path}: not a key file (not UTF-8 text)") from None


def _create_new_file(path: Path, data: bytes) -> None:
    # The content is written to a private temporary name first and then hard-linked into
    # place: the link fails if `path` exists, so nothing is ever overwritten, and the key
    # file appears complete or not at all.
    temporary = path.with_name(f".{path.name}.{os.urandom(8).hex()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)
        except FileExistsError:
            raise FileExistsError(errno.EEXIST, "refusing to overwrite", str(path)) from None
    finally:
        temporary.unlink()
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
