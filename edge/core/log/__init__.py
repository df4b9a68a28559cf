"""The consent log: footage requests, owner decisions and device acts as signed entries in
an append-only ledger (`ledger`), its entry kinds (`entries`), canonical JSON
(`canonical`), signatures (`signing`) and the checks any holder of the keys can run
(`audit`). The ledger is also an RFC 9162 Merkle tree (`merkle`, `tree`) whose signed
checkpoints (`note`, `checkpoint`: C2SP signed-note, tlog-checkpoint, tlog-cosignature)
a witness cosigns; `inclusion` proves one entry is in it, `tree_audit` checks a ledger
against its checkpoints, `trust` reads the keys a verifier pinned. See docs/SHARING.md.
"""
