"""The recorder turns (frame, motion) into clip, segment and write actions with the right timing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.device.frame import Frame
from edge.device.recorder import (
    Action,
    ClipEnd,
    ClipEndReason,
    ClipStart,
    Recorder,
    RecorderSettings,
    RecorderState,
    SegmentStart,
    Write,
)

PIXEL = np.zeros((1, 1, 3), np.uint8)
FPS = 10


def frame(i: int) -> Frame:
    return Frame(index=i, t=i / FPS, image=PIXEL)


def motion_at(pattern: str) -> list[bool]:
    """`pattern` is one character per frame: `M` for motion, anything else for none."""
    return [c == "M" for c in pattern]


def run(settings: RecorderSettings, motion: list[bool], stop: bool = False) -> list[Action]:
    recorder = Recorder(settings)
    actions: list[Action] = []
    for i, active in enumerate(motion):
        actions += recorder.feed(frame(i), active)
    if stop:
        actions += recorder.stop()
    return actions


def summary(actions: list[Action]) -> list[tuple]:
    """Actions as short tuples, with each run of writes folded into (first, last) frame index."""
    out: list[tuple] = []
    for action in actions:
        match action:
            case ClipStart(start_t, _, continued):
                out.append(("clip", round(start_t, 3), continued))
            case SegmentStart(index, t):
                out.append(("segment", index, round(t, 3)))
            case Write(written):
                if out and out[-1][0] == "write":
                    out[-1] = ("write", out[-1][1], written.index)
                else:
                    out.append(("write", written.index, written.index))
            case ClipEnd(start_t, end_t, frames, reason):
                out.append(("end", round(end_t, 3), frames, reason.value))
    return out


def quiet(n: int) -> str:
    return "." * n


def busy(n: int) -> str:
    return "M" * n


BASE = RecorderSettings(
    pre_seconds=1.0, post_seconds=1.0, min_seconds=0.0, max_seconds=60.0, segment_seconds=2.0
)


def with_(**changes: float) -> RecorderSettings:
    values = {f: getattr(BASE, f) for f in RecorderSettings.__dataclass_fields__}
    return RecorderSettings(**{**values, **changes})


CASES = [
    pytest.param(BASE, quiet(100), False, [], id="no-motion-records-nothing"),
    pytest.param(
        BASE,
        quiet(30) + busy(1) + quiet(30),
        False,
        [
            ("clip", 2.0, False),
            ("segment", 0, 2.0),
            ("write", 20, 39),
            ("segment", 1, 4.0),
            ("write", 40, 40),
            ("end", 4.0, 21, "motion_ended"),
        ],
        id="one-motion-frame-gets-pre-and-post-roll",
    ),
    pytest.param(
        with_(min_seconds=5.0),
        quiet(30) + busy(1) + quiet(50),
        False,
        [
            ("clip", 2.0, False),
            ("segment", 0, 2.0),
            ("write", 20, 39),
            ("segment", 1, 4.0),
            ("write", 40, 59),
            ("segment", 2, 6.0),
            ("write", 60, 69),
            ("end", 6.9, 50, "motion_ended"),
        ],
        id="short-event-is-padded-to-min-seconds",
    ),
    pytest.param(
        with_(pre_seconds=0.0, max_seconds=3.0, segment_seconds=10.0),
        quiet(10) + busy(70),
        False,
        [
            ("clip", 1.0, False),
            ("segment", 0, 1.0),
            ("write", 10, 39),
            ("end", 3.9, 30, "max_length"),
            ("clip", 4.0, True),
            ("segment", 0, 4.0),
            ("write", 40, 69),
            ("end", 6.9, 30, "max_length"),
            ("clip", 7.0, True),
            ("segment", 0, 7.0),
            ("write", 70, 79),
        ],
        id="long-event-is-split-into-consecutive-clips-at-max-seconds",
    ),
    pytest.param(
        BASE,
        quiet(15) + busy(1) + quiet(8) + busy(1) + quiet(15),
        False,
        [
            ("clip", 0.5, False),
            ("segment", 0, 0.5),
            ("write", 5, 24),
            ("segment", 1, 2.5),
            ("write", 25, 34),
            ("end", 3.4, 30, "motion_ended"),
        ],
        id="motion-during-cooldown-extends-the-same-clip",
    ),
    pytest.param(
        with_(pre_seconds=3.0),
        quiet(40) + busy(1) + quiet(5),
        False,
        [
            ("clip", 1.0, False),
            ("segment", 0, 1.0),
            ("write", 10, 29),
            ("segment", 1, 3.0),
            ("write", 30, 45),
        ],
        id="pre-roll-longer-than-a-segment-is-segmented-too",
    ),
    pytest.param(
        BASE,
        quiet(10) + busy(5),
        True,
        [
            ("clip", 0.0, False),
            ("segment", 0, 0.0),
            ("write", 0, 14),
            ("end", 1.4, 15, "stopped"),
        ],
        id="stop-ends-the-clip-in-progress",
    ),
    pytest.param(BASE, quiet(10), True, [], id="stop-while-idle-does-nothing"),
    pytest.param(
        with_(pre_seconds=0.1, post_seconds=0.0),
        busy(1) + quiet(1) + busy(1),
        False,
        [
            ("clip", 0.0, False),
            ("segment", 0, 0.0),
            ("write", 0, 0),
            ("end", 0.0, 1, "motion_ended"),
            ("clip", 0.1, False),
            ("segment", 0, 0.1),
            ("write", 1, 2),
        ],
        id="frame-that-ends-a-clip-is-pre-roll-of-the-next",
    ),
]


@pytest.mark.parametrize(("settings", "pattern", "stop", "expected"), CASES)
def test_recorder_actions(
    settings: RecorderSettings, pattern: str, stop: bool, expected: list[tuple]
) -> None:
    assert summary(run(settings, motion_at(pattern), stop)) == expected


def test_segments_follow_time_not_frame_count_when_frames_are_dropped() -> None:
    recorder = Recorder(with_(pre_seconds=0.0, segment_seconds=1.0))
    times = [0.0, 0.1, 0.2, 1.5, 1.6, 3.0]
    actions: list[Action] = []
    for i, t in enumerate(times):
        actions += recorder.feed(Frame(i, t, PIXEL), True)
    starts = [(a.index, a.t) for a in actions if isinstance(a, SegmentStart)]
    assert starts == [(0, 0.0), (1, 1.5), (2, 3.0)]


def test_state_goes_idle_recording_cooldown_idle() -> None:
    recorder = Recorder(BASE)
    states = []
    for i, active in enumerate(motion_at(".M.........." + "...")):
        recorder.feed(frame(i), active)
        states.append(recorder.state)
    assert states[0] is RecorderState.IDLE
    assert states[1] is RecorderState.RECORDING
    assert states[2] is RecorderState.COOLDOWN
    assert states[-1] is RecorderState.IDLE


def test_continued_clip_keeps_the_events_trigger_time() -> None:
    actions = run(with_(pre_seconds=0.0, max_seconds=2.0), motion_at(quiet(5) + busy(30)))
    starts = [a for a in actions if isinstance(a, ClipStart)]
    assert [s.trigger_t for s in starts] == [0.5, 0.5]
    assert [s.continued for s in starts] == [False, True]


def test_stop_forgets_the_pre_roll() -> None:
    recorder = Recorder(BASE)
    for i in range(5):
        recorder.feed(frame(i), False)
    recorder.stop()
    actions = recorder.feed(frame(5), True)
    assert [a.frame.index for a in actions if isinstance(a, Write)] == [5]


@pytest.mark.parametrize(
    "changes",
    [
        {"segment_seconds": 0.0},
        {"pre_seconds": -1.0},
        {"max_seconds": 1.0},  # not more than pre_seconds
        {"max_seconds": 4.0, "min_seconds": 5.0},
        {"preroll_max_frames": 0},
    ],
)
def test_impossible_settings_are_refused(changes: dict) -> None:
    with pytest.raises(ValueError):
        with_(**changes)


@given(
    motion=st.lists(st.booleans(), max_size=300),
    pre=st.sampled_from([0.0, 0.5, 2.0]),
    post=st.sampled_from([0.0, 1.0, 3.0]),
    min_s=st.sampled_from([0.0, 2.0, 4.0]),
    max_s=st.sampled_from([4.0, 7.5]),
    segment=st.sampled_from([0.5, 2.0, 5.0]),
    stop=st.booleans(),
)
def test_actions_are_always_well_formed(
    motion: list[bool],
    pre: float,
    post: float,
    min_s: float,
    max_s: float,
    segment: float,
    stop: bool,
) -> None:
    settings = RecorderSettings(
        pre_seconds=pre,
        post_seconds=post,
        min_seconds=min_s,
        max_seconds=max_s,
        segment_seconds=segment,
        preroll_max_frames=1000,
    )
    actions = run(settings, motion, stop)

    in_clip = False
    expect_write = False
    clip_start = segment_no = frames = 0
    written: list[int] = []
    for action in actions:
        match action:
            case ClipStart(start_t):
                assert not in_clip
                in_clip, clip_start, segment_no, frames = True, start_t, -1, 0
            case SegmentStart(index):
                assert in_clip and not expect_write and index == segment_no + 1
                segment_no, expect_write = index, True
            case Write(written_frame):
                assert in_clip
                assert written_frame.t - clip_start < max_s
                written.append(written_frame.index)
                expect_write = False
                frames += 1
            case ClipEnd(start_t, end_t, count, reason):
                assert in_clip and start_t == clip_start and count == frames
                assert end_t == written[-1] / FPS
                if reason is ClipEndReason.MOTION_ENDED:
                    assert end_t + 1 / FPS - start_t >= min_s - 1e-6
                in_clip = False

    assert written == sorted(set(written)), "each frame is written once, in order"
    assert {i for i, active in enumerate(motion) if active} <= set(written)
    assert not (stop and in_clip)
