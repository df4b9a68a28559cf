"""A strict stand-in for gpiozero's Button, the one GPIO call the doorbell makes (a Pi's pins
cannot exist here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar


class FakeButton:
    """gpiozero.Button as far as the doorbell uses it; anything else is an error."""

    __slots__ = ("closed", "pin", "pull_up", "when_pressed")
    made: ClassVar[list[FakeButton]] = []

    def __init__(self, pin: int, *, pull_up: bool) -> None:
        self.pin = pin
        self.pull_up = pull_up
        self.when_pressed: Callable[[], object] | None = None
        self.closed = False
        FakeButton.made.append(self)

    def close(self) -> None:
        self.closed = True

    def press(self) -> None:
        """What gpiozero does on a falling edge of a pulled-up pin."""
        assert not self.closed, "pressed after close"
        if self.when_pressed is not None:
            self.when_pressed()
