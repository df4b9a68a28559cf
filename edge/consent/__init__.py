"""Consent: footage requests, the owner's decisions and shares, and the signed audit ledger.

Footage leaves only when the owner says so, and everyone can check that afterwards:
requests are stored as pending and never answered by the device itself; exports,
shares and decisions are owner-signed entries in an append-only, hash-chained ledger
(`ledger`, verified by `audit`); the device signs what it did by itself (`device`).
See docs/SHARING.md for the flows.
"""
