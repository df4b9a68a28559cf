"""Turns the frames of sources that cannot turn themselves (USB, RTSP, files) for an
upside-down mount; the Pi camera's sensor reads out flipped instead."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import cv2

from edge.device.capture.source import FrameSource
from edge.device.frame import Frame


class Rotated180:
    """Yields the frames of `source` turned by 180 degrees, before anything else sees them
    (privacy areas and motion zones are drawn on the turned picture)."""

    def __init__(self, source: FrameSource) -> None:
        self._source = source

    def __iter__(self) -> Iterator[Frame]:
        for frame in self._source:
            lores = None if frame.lores is None else cv2.rotate(frame.lores, cv2.ROTATE_180)
            yield replace(frame, image=cv2.rotate(frame.image, cv2.ROTATE_180), lores=lores)

    def close(self) -> None:
        self._source.close()


def rotating_180(opener: Callable[[], FrameSource]) -> Callable[[], FrameSource]:
    """An opener whose sources are those of `opener`, turned by 180 degrees."""
    return lambda: Rotated180(opener())
