"""Redaction stage: public areas and faces obscured in every frame, failing closed."""

from edge.redact.redactor import RedactedFrame, RedactionStats, Redactor

__all__ = ["RedactedFrame", "RedactionStats", "Redactor"]
