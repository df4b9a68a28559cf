"""The recording daemon: wires capture, motion, redaction, recording, vault, store and MQTT.

This is the only package that knows every stage; each stage knows none of the others.
"""
