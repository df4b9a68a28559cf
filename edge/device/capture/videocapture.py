"""Frames from a USB/V4L2 camera or an RTSP stream through OpenCV's VideoCapture."""

from __future__ import annotations

import time
from collections.abc import Iterator

import cv2

from edge.device.capture.source import SourceLost
from edge.device.frame import Frame


class VideoCaptureSource:
    """Reads `target` with the given OpenCV backend (`cv2.CAP_V4L2`, `cv2.CAP_FFMPEG`).

    `t` is the monotonic clock when the frame was read: these devices give no reliable
    capture time of their own. A failed read means the camera went away.
    """

    def __init__(
        self,
        target: str,
        backend: int,
        size: tuple[int, int] | None = None,
        fps: float | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.target = target
        params: list[int] = []
        if size is not None:
            params += [cv2.CAP_PROP_FRAME_WIDTH, size[0], cv2.CAP_PROP_FRAME_HEIGHT, size[1]]
        if fps is not None:
            params += [cv2.CAP_PROP_FPS, round(fps)]
        if backend == cv2.CAP_FFMPEG:
            # Without timeouts a dead RTSP server blocks open() and read() forever.
            timeout_ms = round(timeout_s * 1000)
            params += [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms]
            params += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
        self._capture = cv2.VideoCapture(target, backend, params)
        if not self._capture.isOpened():
            self._capture.release()
            raise SourceLost(f"cannot open {target}")

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        while True:
            ok, image = self._capture.read()
            if not ok or image is None:
                raise SourceLost(f"no frame from {self.target}")
            yield Frame(index=index, t=time.monotonic(), image=image)
            index += 1

    def close(self) -> None:
        self._capture.release()
