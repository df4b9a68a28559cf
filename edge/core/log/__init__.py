"""The consent log: footage requests, owner decisions and device acts as signed entries in
an append-only, hash-chained ledger (`ledger`), its entry kinds (`entries`), canonical JSON
(`canonical`), signatures (`signing`) and the checks any holder of the keys can run
(`audit`). See docs/SHARING.md for the flows."""
