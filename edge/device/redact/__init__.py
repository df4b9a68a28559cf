"""Redaction stage: public areas and faces obscured in every frame, failing closed."""

from edge.device.redact.redactor import RedactedFrame, RedactionStats, Redactor

__all__ = ["RedactedFrame", "RedactionStats", "Redactor"]
