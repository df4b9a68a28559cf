"""The device → home-server mirror's wire format, shared by the sender and the receiver."""
