"""A doorbell push button on a GPIO pin (`camera.button_gpio`): one callback per press.

`gpiozero` is imported here, lazily, and nowhere else, so everything else runs on any
Linux machine. On Raspberry Pi OS it comes from apt (python3-gpiozero with the lgpio pin
factory; scripts/install-pi.sh installs both when the button is configured).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# Contact bounce lasts milliseconds; a visitor who holds or hammers the button should
# make one ring per half second, not a burst of MQTT messages.
DEFAULT_DEBOUNCE_S = 0.5


class DoorbellButton:
    """Calls `on_press()` when the button on BCM pin `pin` closes to ground.

    The button is wired between the pin and GND; the pin's internal pull-up holds it high
    until pressed. The first edge rings at once; further presses within `debounce_s` of
    the last ring are ignored. `on_press` runs on gpiozero's thread, so it must be quick
    (hand the press to the publisher); an exception from it is logged, and the button
    keeps working.
    """

    def __init__(
        self,
        pin: int,
        on_press: Callable[[], object],
        *,
        debounce_s: float = DEFAULT_DEBOUNCE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if debounce_s < 0:
            raise ValueError(f"debounce_s must be >= 0, got {debounce_s}")
        try:
            from gpiozero import Button
        except ImportError as exc:
            raise ImportError(
                "camera.button_gpio needs gpiozero: sudo apt install python3-gpiozero "
                "python3-lgpio (scripts/install-pi.sh does this when the button is set)"
            ) from exc
        self._on_press = on_press
        self._debounce_s = debounce_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last_ring: float | None = None
        self._button = Button(pin, pull_up=True)
        self._button.when_pressed = self._pressed

    def _pressed(self) -> None:
        now = self._clock()
        with self._lock:
            if self._last_ring is not None and now - self._last_ring < self._debounce_s:
                return
            self._last_ring = now
        try:
            self._on_press()
        except Exception:
            log.exception("doorbell press handler failed")

    def close(self) -> None:
        """Release the pin; no callback runs afterwards."""
        self._button.when_pressed = None
        self._button.close()
