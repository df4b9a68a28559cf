"""The home-server side: the always-on box beside the broker that watches every doorbell
(`watch`) and notices a rewritten ledger (`witness`). It never decrypts and needs no
OpenCV."""
