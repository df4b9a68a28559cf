"""The device side of the mirror: what is still to send home, and the sender itself."""
