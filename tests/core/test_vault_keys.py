"""Parsing recipients, identities and identity files the way age does."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from edge.core.vault import (
    InvalidKeyError,
    X25519Identity,
    X25519Recipient,
    bech32,
    decrypt_bytes,
    encrypt_bytes,
    parse_identities,
    parse_recipient,
)

# The example pair from the C2SP age specification.
SPEC_IDENTITY = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
SPEC_RECIPIENT = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"


def test_spec_identity_gives_spec_recipient() -> None:
    identity = X25519Identity.parse(SPEC_IDENTITY)
    assert str(identity.recipient) == SPEC_RECIPIENT
    assert str(identity) == SPEC_IDENTITY
    assert parse_recipient(SPEC_RECIPIENT) == identity.recipient


def test_generated_keys_print_and_parse_back() -> None:
    identity = X25519Identity.generate()
    assert X25519Identity.parse(str(identity)).recipient == identity.recipient
    assert str(identity).startswith("AGE-SECRET-KEY-1")
    assert str(identity.recipient).startswith("age1")
    assert str(identity) not in repr(identity)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "age1",
        SPEC_RECIPIENT.upper(),
        SPEC_RECIPIENT[:-1] + ("q" if SPEC_RECIPIENT[-1] != "q" else "p"),
        SPEC_RECIPIENT[:10] + SPEC_RECIPIENT[10:].upper(),
        "age1pq1" + "q" * 60,
        "ssh-ed25519 AAAA",
        bech32.encode("age", bytes(31)),
    ],
)
def test_bad_recipients_are_refused(text: str) -> None:
    with pytest.raises(InvalidKeyError):
        parse_recipient(text)


def test_recipient_errors_are_value_errors_for_config_validation() -> None:
    with pytest.raises(ValueError):
        parse_recipient("nope")


def test_identity_file_skips_comments_and_blank_lines() -> None:
    other = X25519Identity.generate()
    text = f"# created: now\n\n{SPEC_IDENTITY}\r\n# another\n{other}\n"
    identities = parse_identities(text)
    assert [str(i) for i in identities] == [SPEC_IDENTITY, str(other)]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("# only a comment\n", "no identities"),
        (f"{SPEC_IDENTITY}\nnot a key\n", "line 2"),
        (f" {SPEC_IDENTITY}\n", "line 1"),
        (SPEC_IDENTITY.lower(), "line 1"),
        ("AGE-SECRET-KEY-PQ-1XX76JRALNLXDMEW0CRK45QMCCH4X06SE84UN3V\n", "line 1"),
    ],
)
def test_bad_identity_files_say_where(text: str, where: str) -> None:
    with pytest.raises(InvalidKeyError, match=where):
        parse_identities(text)


def test_bech32_round_trips_long_data_without_the_bip173_limit() -> None:
    data = bytes(range(200))
    encoded = bech32.encode("long", data)
    assert len(encoded) > 90
    assert bech32.decode(encoded) == ("long", data)
    assert bech32.decode(encoded.upper()) == ("long", data)


@pytest.mark.skipif(shutil.which("age-keygen") is None, reason="age-keygen is not installed")
def test_age_keygen_output_is_read_as_is() -> None:
    generated = subprocess.run(["age-keygen"], capture_output=True, check=True, text=True)
    identities = parse_identities(generated.stdout)
    public = subprocess.run(
        ["age-keygen", "-y"], input=generated.stdout, capture_output=True, check=True, text=True
    )
    assert str(identities[0].recipient) == public.stdout.strip()
    recipient = X25519Recipient.parse(public.stdout.strip())
    assert decrypt_bytes(identities, encrypt_bytes([recipient], b"ok")) == b"ok"
