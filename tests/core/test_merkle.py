"""RFC 9162 Merkle hashing and proofs: published vectors, then an independent naive tree.

The vectors are transparency-dev/merkle's `testdata` (every happy path and every
tampered variant, which must fail). The naive tree below is the RFC's recursive
definitions written out literally, sharing no code with `edge.core.log.merkle`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from edge.core.log import merkle

VECTORS = json.loads((Path(__file__).parent / "data" / "merkle_vectors.json").read_text())


def _b64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def _proof(values: list[str] | None) -> list[bytes]:
    return [base64.b64decode(v) for v in values or []]


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: c["file"])
def test_inclusion_vectors(case: dict) -> None:
    ok = merkle.verify_inclusion(
        _b64(case["leafHash"]),
        case["leafIdx"],
        case["treeSize"],
        _proof(case["proof"]),
        _b64(case["root"]),
    )
    assert ok is not case["wantErr"]


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=lambda c: c["file"])
def test_consistency_vectors(case: dict) -> None:
    ok = merkle.verify_consistency(
        case["size1"],
        case["size2"],
        _b64(case["root1"]),
        _b64(case["root2"]),
        _proof(case["proof"]),
    )
    assert ok is not case["wantErr"]


# Leaf inputs and roots of transparency-dev/merkle testonly (RFC 6962 reference trees).
LEAF_INPUTS = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
               "606162636465666768696a6b6c6d6e6f"]  # fmt: skip
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_reference_roots() -> None:
    leaves = [merkle.leaf_hash(bytes.fromhex(h)) for h in LEAF_INPUTS]
    for size, expected in enumerate(ROOTS):
        assert merkle.root(leaves[:size]).hex() == expected


# -- an independent naive tree: RFC 9162 2.1.1-2.1.4 transcribed recursively ----------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(d: list[bytes]) -> bytes:
    if not d:
        return _h(b"")
    if len(d) == 1:
        return _h(b"\x00" + d[0])
    k = _k(len(d))
    return _h(b"\x01" + _mth(d[:k]) + _mth(d[k:]))


def _naive_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*_naive_path(m, d[:k]), _mth(d[k:])]
    return [*_naive_path(m - k, d[k:]), _mth(d[:k])]


def _naive_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [_mth(d)]
    k = _k(n)
    if m <= k:
        return [*_naive_subproof(m, d[:k], b), _mth(d[k:])]
    return [*_naive_subproof(m - k, d[k:], False), _mth(d[:k])]


DATA = [f"entry {i}".encode() for i in range(33)]
LEAVES = [merkle.leaf_hash(x) for x in DATA]


@pytest.mark.parametrize("size", range(1, 34))
def test_against_naive_tree(size: int) -> None:
    data, leaves = DATA[:size], LEAVES[:size]
    top = merkle.root(leaves)
    assert top == _mth(data)
    for index in range(size):
        proof = merkle.inclusion_proof(leaves, index)
        assert proof == _naive_path(index, data)
        assert merkle.verify_inclusion(leaves[index], index, size, proof, top)
        assert not merkle.verify_inclusion(leaves[index - 1 if index else 1 % size], index, size,
                                           proof, top) or size == 1  # fmt: skip
    for old in range(1, size + 1):
        proof = merkle.consistency_proof(leaves, old)
        assert proof == (_naive_subproof(old, data, True) if old < size else [])
        old_root = _mth(data[:old])
        assert merkle.verify_consistency(old, size, old_root, top, proof)


@pytest.mark.parametrize("size", [2, 3, 5, 8, 13, 21])
def test_tampered_proofs_fail(size: int) -> None:
    leaves = LEAVES[:size]
    top = merkle.root(leaves)
    for old in range(1, size):
        proof = merkle.consistency_proof(leaves, old)
        old_root = merkle.root(leaves[:old])
        other = merkle.root([*leaves[: old - 1], merkle.leaf_hash(b"forged")])
        assert not merkle.verify_consistency(old, size, other, top, proof)
        for i in range(len(proof)):
            bad = [*proof[:i], bytes(32), *proof[i + 1 :]]
            assert not merkle.verify_consistency(old, size, old_root, top, bad)
        assert not merkle.verify_consistency(old, size, old_root, top, proof[:-1])
    for index in range(size):
        proof = merkle.inclusion_proof(leaves, index)
        assert not merkle.verify_inclusion(merkle.leaf_hash(b"x"), index, size, proof, top)
        assert not merkle.verify_inclusion(leaves[index], index, size, [*proof, bytes(32)], top)


def test_a_leaf_is_not_a_node() -> None:
    left, right = LEAVES[0], LEAVES[1]
    assert merkle.leaf_hash(left + right) != merkle.node_hash(left, right)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        merkle.inclusion_proof(LEAVES[:3], 3)
    with pytest.raises(ValueError):
        merkle.consistency_proof(LEAVES[:3], 4)
    assert merkle.consistency_proof(LEAVES[:3], 0) == []
    assert not merkle.verify_consistency(0, 3, merkle.EMPTY_ROOT, merkle.root(LEAVES[:3]), [])
    assert not merkle.verify_consistency(3, 2, b"", b"", [])
