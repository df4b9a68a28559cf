"""The owner side: what needs the owner key and runs where it lives (the owner's laptop or
the home server), never on the doorbell: the key file (`owner_key`), exports (`export`,
`export_log`), shares (`share`, `manifest`), decisions on requests (`decisions`), and
verification of share packages (`package_verify`) and of a device's state (`state_audit`).
It imports no device stage and no OpenCV."""
