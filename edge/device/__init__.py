"""The device side: everything that runs on the Pi at the door. One module or folder per
stage of the flow (capture, motion, faces, redact, preroll, recorder, encoder, store,
events, consent), wired in one place (`stages`) and run by the daemon (`daemon`)."""
