"""The pre-roll ring keeps the last N seconds of frames, in order, within a frame cap."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.device.frame import Frame
from edge.device.preroll import PreRoll

PIXEL = np.zeros((1, 1, 3), np.uint8)


def frames_at(times: list[float]) -> list[Frame]:
    return [Frame(index=i, t=t, image=PIXEL) for i, t in enumerate(times)]


def fill(ring: PreRoll, times: list[float]) -> list[float]:
    for frame in frames_at(times):
        ring.push(frame)
    return [f.t for f in ring.drain()]


@pytest.mark.parametrize(
    ("seconds", "max_frames", "times", "kept"),
    [
        pytest.param(1.0, 100, [0.0, 0.5, 1.0, 1.5, 2.0], [1.0, 1.5, 2.0], id="last-second"),
        pytest.param(
            2.0,
            100,
            [i / 15 for i in range(60)],
            [i / 15 for i in range(29, 60)],
            id="exactly-two-seconds-at-15fps-keeps-31-frames",
        ),
        pytest.param(10.0, 3, [0.0, 0.1, 0.2, 0.3, 0.4], [0.2, 0.3, 0.4], id="frame-cap"),
        pytest.param(0.0, 10, [0.0, 0.1, 0.2], [0.2], id="zero-seconds-keeps-newest"),
        pytest.param(1.0, 10, [0.0, 5.0], [5.0], id="gap-empties-ring"),
        pytest.param(1.0, 10, [], [], id="empty"),
    ],
)
def test_ring_keeps_the_newest_frames_within_seconds_and_cap(
    seconds: float, max_frames: int, times: list[float], kept: list[float]
) -> None:
    assert fill(PreRoll(seconds, max_frames), times) == pytest.approx(kept)


def test_drain_empties_the_ring() -> None:
    ring = PreRoll(1.0, 10)
    fill(ring, [0.0, 0.1])
    assert len(ring) == 0
    assert ring.drain() == []


def test_frames_come_back_as_the_same_objects_oldest_first() -> None:
    ring = PreRoll(5.0, 10)
    frames = frames_at([0.0, 0.1, 0.2])
    for frame in frames:
        ring.push(frame)
    held = ring.drain()
    assert all(a is b for a, b in zip(held, frames, strict=True))


@pytest.mark.parametrize(("seconds", "max_frames"), [(-0.1, 10), (1.0, 0)])
def test_impossible_bounds_are_refused(seconds: float, max_frames: int) -> None:
    with pytest.raises(ValueError):
        PreRoll(seconds, max_frames)


@given(
    steps=st.lists(st.floats(min_value=0.0, max_value=0.5), min_size=1, max_size=60),
    seconds=st.floats(min_value=0.0, max_value=3.0),
    max_frames=st.integers(min_value=1, max_value=20),
)
def test_ring_never_exceeds_its_bounds_and_always_holds_the_newest(
    steps: list[float], seconds: float, max_frames: int
) -> None:
    ring = PreRoll(seconds, max_frames)
    t = 0.0
    for frame_index, step in enumerate(steps):
        t += step
        ring.push(Frame(index=frame_index, t=t, image=PIXEL))
        assert len(ring) <= max_frames
    held = ring.drain()
    assert held[-1].t == t
    assert held[-1].t - held[0].t <= seconds + 1e-5
    assert [f.index for f in held] == sorted(f.index for f in held)
