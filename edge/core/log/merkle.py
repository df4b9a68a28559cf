"""Merkle tree hashing, inclusion and consistency proofs as RFC 9162 (section 2.1) defines them.

Leaves are hashed as SHA-256(0x00 || data), interior nodes as SHA-256(0x01 || left ||
right), so a leaf can never pass for a node. The tree over n leaves splits at the largest
power of two below n. Proofs are lists of 32-byte hashes; the verifiers are the
algorithms of RFC 9162 2.1.3.2 and 2.1.4.2, written to share nothing with the builders,
so a bug in one does not hide in the other. Everything here is a pure function of bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """MTH of one leaf: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of a list of leaf hashes (the empty tree hashes to SHA-256(''))."""
    if not leaves:
        return EMPTY_ROOT
    # Fold complete subtrees left to right, like a binary counter: O(n) time, O(log n) memory.
    stack: list[tuple[int, bytes]] = []
    for leaf in leaves:
        size, value = 1, leaf
        while stack and stack[-1][0] == size:
            size, value = size * 2, node_hash(stack.pop()[1], value)
        stack.append((size, value))
    value = stack.pop()[1]
    while stack:
        value = node_hash(stack.pop()[1], value)
    return value


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf `index` in the tree of `leaves` (RFC 9162 PATH(m, D[n]))."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf {index} is not in a tree of {len(leaves)} leaves")
    proof: list[bytes] = []
    _path(leaves, index, proof)
    return proof


def _path(leaves: Sequence[bytes], index: int, proof: list[bytes]) -> None:
    n = len(leaves)
    if n == 1:
        return
    k = _split(n)
    if index < k:
        _path(leaves[:k], index, proof)
        proof.append(root(leaves[k:]))
    else:
        _path(leaves[k:], index - k, proof)
        proof.append(root(leaves[:k]))


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """Proof that the first `old_size` leaves are a prefix of `leaves` (RFC 9162 PROOF(m, D[n]))."""
    if not 0 <= old_size <= len(leaves):
        raise ValueError(f"size {old_size} is not a prefix of a tree of {len(leaves)} leaves")
    if old_size in (0, len(leaves)):
        return []
    proof: list[bytes] = []
    _subproof(leaves, old_size, True, proof)
    return proof


def _subproof(leaves: Sequence[bytes], m: int, complete: bool, proof: list[bytes]) -> None:
    n = len(leaves)
    if m == n:
        if not complete:
            proof.append(root(leaves))
        return
    k = _split(n)
    if m <= k:
        _subproof(leaves[:k], m, complete, proof)
        proof.append(root(leaves[k:]))
    else:
        _subproof(leaves[k:], m - k, False, proof)
        proof.append(root(leaves[:k]))


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """True when `proof` shows leaf hash `leaf` at `index` in the tree (`size`, `expected_root`)."""
    if not 0 <= index < size or not _all_hashes([leaf, expected_root, *proof]):
        return False
    fn, sn, value = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            value = node_hash(sibling, value)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            value = node_hash(value, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and value == expected_root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True when `proof` shows the tree (`old_size`, `old_root`) is a prefix of the new one."""
    if not 0 < old_size <= new_size:
        return False  # (everything extends the empty tree; there is nothing to prove)
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof or not _all_hashes([old_root, new_root, *proof]):
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a node of the new tree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    first = second = path[0]
    for value in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            first, second = node_hash(value, first), node_hash(value, second)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            second = node_hash(second, value)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and first == old_root and second == new_root


def _all_hashes(values: Sequence[bytes]) -> bool:
    return all(len(value) == HASH_SIZE for value in values)
