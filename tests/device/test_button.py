"""The doorbell button against a stand-in `gpiozero` that offers exactly what it uses:
`Button(pin, pull_up=True)`, the `when_pressed` attribute and `close()`."""

from __future__ import annotations

import sys
import types

import pytest
from fake_gpio import FakeButton

from edge.device.button import DoorbellButton


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def gpiozero(monkeypatch: pytest.MonkeyPatch) -> type[FakeButton]:
    module = types.ModuleType("gpiozero")
    module.Button = FakeButton  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gpiozero", module)
    FakeButton.made = []
    return FakeButton


def make(
    clock: Clock, rings: list[float], debounce_s: float = 0.5
) -> tuple[DoorbellButton, FakeButton]:
    button = DoorbellButton(17, lambda: rings.append(clock()), debounce_s=debounce_s, clock=clock)
    return button, FakeButton.made[-1]


def test_button_uses_the_configured_pin_with_the_internal_pull_up(gpiozero: type) -> None:
    make(Clock(), [])
    (pin,) = gpiozero.made
    assert (pin.pin, pin.pull_up) == (17, True)


def test_one_press_rings_once(gpiozero: type) -> None:
    clock, rings = Clock(), []
    _button, pin = make(clock, rings)
    pin.press()
    assert rings == [100.0]


def test_contact_bounce_within_the_debounce_time_is_one_ring(gpiozero: type) -> None:
    clock, rings = Clock(), []
    _button, pin = make(clock, rings)
    for offset in (0.0, 0.002, 0.004, 0.03, 0.49):
        clock.now = 100.0 + offset
        pin.press()
    assert rings == [100.0]


def test_a_second_press_after_the_debounce_time_rings_again(gpiozero: type) -> None:
    clock, rings = Clock(), []
    _button, pin = make(clock, rings)
    pin.press()
    clock.now = 100.6
    pin.press()
    assert rings == [100.0, 100.6]


def test_hammering_the_button_rings_at_most_once_per_debounce_time(gpiozero: type) -> None:
    clock, rings = Clock(), []
    _button, pin = make(clock, rings, debounce_s=0.5)
    for step in range(30):  # a press every 0.1 s for 3 s
        clock.now = 100.0 + step * 0.1
        pin.press()
    assert rings == pytest.approx([100.0, 100.5, 101.0, 101.5, 102.0, 102.5])


def test_a_failing_handler_is_logged_and_the_button_keeps_working(
    gpiozero: type, caplog: pytest.LogCaptureFixture
) -> None:
    clock, calls = Clock(), []

    def handler() -> None:
        calls.append(clock())
        if len(calls) == 1:
            raise RuntimeError("publisher gone")

    DoorbellButton(4, handler, clock=clock)
    pin = gpiozero.made[-1]
    pin.press()
    clock.now = 101.0
    pin.press()
    assert calls == [100.0, 101.0]
    assert "doorbell press handler failed" in caplog.text


def test_close_releases_the_pin_and_stops_callbacks(gpiozero: type) -> None:
    clock, rings = Clock(), []
    button, pin = make(clock, rings)
    button.close()
    assert pin.closed
    assert pin.when_pressed is None


def test_negative_debounce_is_refused(gpiozero: type) -> None:
    with pytest.raises(ValueError, match="debounce_s"):
        DoorbellButton(17, lambda: None, debounce_s=-1.0)


def test_without_gpiozero_the_error_names_the_apt_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gpiozero", None)
    with pytest.raises(ImportError, match="python3-gpiozero python3-lgpio"):
        DoorbellButton(17, lambda: None)
