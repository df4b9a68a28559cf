"""doorbell-edge: a privacy-first doorbell camera that records redacted, age-encrypted clips."""

__version__ = "0.1.0"
