"""The hybrid post-quantum recipient type (mlkem768x25519): keys, stanzas and the mixing rule."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.core.vault import (
    HeaderError,
    HeaderMACError,
    IncompatibleRecipientsError,
    InvalidKeyError,
    MLKEM768X25519Identity,
    NoIdentityMatchError,
    ScryptRecipient,
    X25519Identity,
    bech32,
    check_recipients,
    decrypt_bytes,
    encrypt_bytes,
    is_post_quantum,
    open_writer,
    parse_identities,
    parse_recipient,
)
from edge.core.vault.format import Stanza, b64encode, serialise_header
from edge.core.vault.mlkem768x25519 import ENC_SIZE, PUBLIC_KEY_SIZE, STANZA_TYPE
from edge.core.vault.stream import CHUNK_SIZE, PAYLOAD_NONCE_SIZE, StreamWriter, payload_key

# The example identity of the C2SP age specification; its 1959-character recipient is
# checked by its SHA-256 rather than pasted in full.
SPEC_IDENTITY = "AGE-SECRET-KEY-PQ-1XX76JRALNLXDMEW0CRK45QMCCH4X06SE84UN3VPM33W6HWDX0H3SK3ZQFR"
SPEC_RECIPIENT_PREFIX = "age1pq1x34nzsvr0rxjsgdn8zgyhfe8j7ceq5r9rdelkjuh3y235jzxshfg87pzf5zrq"
SPEC_RECIPIENT_SHA256 = "a091dd7e0ee9d62b75173dcc98441a0424baa941e66a8776e570a4ae60ff61ea"

IDENTITY = MLKEM768X25519Identity.generate()
FILE_KEY = bytes(range(16))


def build_file(stanzas: list[Stanza], file_key: bytes = FILE_KEY, data: bytes = b"hi") -> bytes:
    """An age file with exactly these stanzas, MAC'd and encrypted under `file_key`."""
    sink = io.BytesIO()
    nonce = os.urandom(PAYLOAD_NONCE_SIZE)
    sink.write(serialise_header(stanzas, file_key) + nonce)
    stream = StreamWriter(payload_key(file_key, nonce), sink)
    stream.write(data)
    stream.close()
    return sink.getvalue()


def good_stanza() -> Stanza:
    return IDENTITY.recipient.wrap(FILE_KEY)[0]


def test_spec_identity_gives_spec_recipient() -> None:
    identity = MLKEM768X25519Identity.parse(SPEC_IDENTITY)
    recipient = str(identity.recipient)
    assert recipient.startswith(SPEC_RECIPIENT_PREFIX)
    assert hashlib.sha256(recipient.encode()).hexdigest() == SPEC_RECIPIENT_SHA256
    assert str(identity) == SPEC_IDENTITY
    assert parse_recipient(recipient) == identity.recipient


def test_generated_keys_print_parse_back_and_exceed_the_bech32_limit() -> None:
    identity = MLKEM768X25519Identity.generate()
    text = str(identity.recipient)
    assert text.startswith("age1pq1") and len(text) == 1959
    assert str(identity).startswith("AGE-SECRET-KEY-PQ-1") and str(identity).isupper()
    assert MLKEM768X25519Identity.parse(str(identity)).recipient == identity.recipient
    assert str(identity) not in repr(identity)
    assert is_post_quantum(identity.recipient)
    assert not is_post_quantum(X25519Identity.generate().recipient)


def _recipient_with(data: bytes) -> str:
    return bech32.encode("age1pq", data)


@pytest.mark.parametrize(
    "text",
    [
        "age1pq1" + "q" * 60,
        str(IDENTITY.recipient).upper(),
        str(IDENTITY.recipient)[:-1] + ("q" if str(IDENTITY.recipient)[-1] != "q" else "p"),
        _recipient_with(IDENTITY.recipient.public_key[:-1]),
        _recipient_with(IDENTITY.recipient.public_key + b"\0"),
        # An ML-KEM encapsulation key whose coefficients are not reduced mod q.
        _recipient_with(b"\xff" * PUBLIC_KEY_SIZE),
        _recipient_with(bytes(32)),
    ],
)
def test_bad_hybrid_recipients_are_refused(text: str) -> None:
    with pytest.raises(InvalidKeyError):
        parse_recipient(text)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (SPEC_IDENTITY.lower(), "line 1"),
        (SPEC_IDENTITY[:-1] + "Q", "line 1"),
        ("# c\n" + bech32.encode("AGE-SECRET-KEY-PQ-", bytes(31)).upper(), "line 2"),
    ],
)
def test_bad_hybrid_identities_say_where(text: str, where: str) -> None:
    with pytest.raises(InvalidKeyError, match=where):
        parse_identities(text)


def test_identity_file_mixes_hybrid_and_classic_keys() -> None:
    classic = X25519Identity.generate()
    identities = parse_identities(f"# two\n{SPEC_IDENTITY}\n{classic}\n")
    assert [str(i) for i in identities] == [SPEC_IDENTITY, str(classic)]
    old_file = encrypt_bytes([classic.recipient], b"old clip")
    assert decrypt_bytes(identities, old_file) == b"old clip"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(st.binary(max_size=300), st.integers(0, 3 * CHUNK_SIZE).map(os.urandom)),
    extra=st.integers(0, 2),
)
def test_hybrid_round_trips_for_one_or_several_recipients(data: bytes, extra: int) -> None:
    others = [MLKEM768X25519Identity.generate() for _ in range(extra)]
    encrypted = encrypt_bytes([IDENTITY.recipient, *(o.recipient for o in others)], data)
    assert encrypted.count(b"\n-> mlkem768x25519 ") == 1 + extra
    for identity in [IDENTITY, *others]:
        assert decrypt_bytes([identity], encrypted) == data


def test_stanza_has_the_spec_shape() -> None:
    stanza = good_stanza()
    assert stanza.type == STANZA_TYPE
    assert len(stanza.args) == 1 and len(stanza.args[0]) == (ENC_SIZE * 4 + 2) // 3
    assert len(stanza.body) == 32
    # Every wrap encapsulates afresh.
    assert good_stanza().args != stanza.args


def test_wrong_hybrid_key_is_no_match() -> None:
    encrypted = encrypt_bytes([IDENTITY.recipient], b"x")
    with pytest.raises(NoIdentityMatchError, match="mlkem768x25519"):
        decrypt_bytes([MLKEM768X25519Identity.generate(), X25519Identity.generate()], encrypted)


@pytest.mark.parametrize(
    "change",
    [
        lambda s: Stanza(s.type, (), s.body),
        lambda s: Stanza(s.type, (*s.args, "extra"), s.body),
        lambda s: Stanza(s.type, (s.args[0][:-4],), s.body),
        lambda s: Stanza(s.type, (s.args[0] + "AAAA",), s.body),
        lambda s: Stanza(s.type, (s.args[0][:-1] + "B",), s.body),
        lambda s: Stanza(s.type, s.args, s.body + b"\0"),
        lambda s: Stanza(s.type, s.args, s.body[:-1]),
        # The X25519 half of enc is a low-order point (an all-zero shared secret).
        lambda s: Stanza(s.type, (b64encode(bytes(ENC_SIZE)),), s.body),
    ],
    ids=[
        "no-enc",
        "extra-arg",
        "short-enc",
        "long-enc",
        "noncanonical-enc",
        "long-body",
        "short-body",
        "low-order-share",
    ],
)
def test_malformed_hybrid_stanzas_are_header_errors(change) -> None:
    with pytest.raises(HeaderError):
        decrypt_bytes([IDENTITY], build_file([change(good_stanza())]))


def test_other_stanza_types_are_ignored_even_if_they_look_hybrid() -> None:
    upper = Stanza(STANZA_TYPE.upper(), good_stanza().args, good_stanza().body)
    with pytest.raises(NoIdentityMatchError):
        decrypt_bytes([IDENTITY], build_file([upper]))
    grease = Stanza("mlkem768x25519.example", ("x",), b"junk")
    assert decrypt_bytes([IDENTITY], build_file([grease, good_stanza()])) == b"hi"


def test_damaged_enc_fails_as_no_match_and_other_file_key_fails_the_mac() -> None:
    stanza = good_stanza()
    enc = bytearray(IDENTITY.recipient.wrap(FILE_KEY)[0].args[0].encode())
    enc[10] = ord("A") if enc[10] != ord("A") else ord("B")
    damaged = Stanza(stanza.type, (bytes(enc).decode(),), stanza.body)
    with pytest.raises(NoIdentityMatchError):
        decrypt_bytes([IDENTITY], build_file([damaged]))
    other_key = IDENTITY.recipient.wrap(os.urandom(16))[0]
    with pytest.raises(HeaderMACError):
        decrypt_bytes([IDENTITY], build_file([other_key]))


def test_files_mixing_hybrid_and_classic_stanzas_are_still_read() -> None:
    classic = X25519Identity.generate()
    mixed = build_file([good_stanza(), classic.recipient.wrap(FILE_KEY)[0]])
    assert decrypt_bytes([IDENTITY], mixed) == b"hi"
    assert decrypt_bytes([classic], mixed) == b"hi"


def test_hybrid_and_classic_recipients_are_never_mixed_when_writing() -> None:
    classic = X25519Identity.generate().recipient
    for recipients in ([IDENTITY.recipient, classic], [classic, IDENTITY.recipient]):
        with pytest.raises(IncompatibleRecipientsError, match="post-quantum"):
            check_recipients(recipients)
        sink = io.BytesIO()
        with pytest.raises(IncompatibleRecipientsError):
            open_writer(recipients, sink)
        assert sink.getvalue() == b""
    with pytest.raises(IncompatibleRecipientsError, match="passphrase"):
        encrypt_bytes([IDENTITY.recipient, ScryptRecipient(b"pw", work_factor=10)], b"")
    # The error is also a ValueError, as the scrypt rule's always was.
    with pytest.raises(ValueError):
        check_recipients([classic, IDENTITY.recipient])
    check_recipients([IDENTITY.recipient, MLKEM768X25519Identity.generate().recipient])


_ARG = st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"))


@settings(max_examples=150, deadline=None)
@given(
    args=st.one_of(
        st.lists(_ARG.filter(bool), max_size=3).map(tuple),
        st.builds(lambda cut: (good_stanza().args[0][:cut],), st.integers(1, 1494)),
    ),
    body=st.one_of(st.binary(max_size=40), st.just(good_stanza().body)),
    first=st.booleans(),
)
def test_any_hybrid_stanza_is_refused_cleanly_or_ignored(
    args: tuple[str, ...], body: bytes, first: bool
) -> None:
    """The short fuzz of the stanza parser (scripts/fuzz_vault.py runs the long one)."""
    stanza = Stanza(STANZA_TYPE, args, body)
    stanzas = [stanza, good_stanza()] if first else [stanza]
    allowed = (HeaderError,) if first else (HeaderError, NoIdentityMatchError)
    try:
        plaintext = decrypt_bytes([IDENTITY], build_file(stanzas))
    except allowed:
        return
    # Only a well-formed file opens, and only through the good stanza.
    assert first and plaintext == b"hi"
