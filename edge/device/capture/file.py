"""Frames from a video file through PyAV, timed by the file's own timestamps (replays and tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np

from edge.device.capture.luma import full_range
from edge.device.capture.source import SourceLost
from edge.device.frame import Frame


class FileSource:
    """Decodes the first video stream of `path`; `t` is the frame's pts in seconds from the
    stream's start, so a replay keeps the file's timing whatever speed it is read at."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # The messages leave out the path: the source's spec (`file:PATH`) is said beside them.
        if not self.path.is_file():
            raise SourceLost("no such file")
        try:
            self._container = av.open(str(self.path))
        except (OSError, av.FFmpegError) as exc:
            raise SourceLost(f"cannot open it: {getattr(exc, 'strerror', None) or exc}") from exc
        if not self._container.streams.video:
            self._container.close()
            raise SourceLost("it has no video stream")
        self._stream = self._container.streams.video[0]

    def __iter__(self) -> Iterator[Frame]:
        stream = self._stream
        origin = stream.start_time
        step = 1 / float(stream.average_rate or 15)
        t = -step
        offset = 0.0
        try:
            for index, decoded in enumerate(self._container.decode(stream)):
                if decoded.pts is None:
                    t += step
                else:
                    if origin is None:
                        origin = decoded.pts
                    since_origin = float((decoded.pts - origin) * stream.time_base) + offset
                    if since_origin <= t:
                        # The clock jumped back (recordings joined into one stream, a
                        # timestamp wrap): carry on from here, or the rest would be
                        # taken for frames already delivered and skipped.
                        offset += t + step - since_origin
                        since_origin = t + step
                    t = since_origin
                image, gray = _pixels(decoded)
                yield Frame(index=index, t=t, image=image, lores=gray)
        except (OSError, av.FFmpegError) as exc:
            raise SourceLost(f"reading {self.path} failed: {exc}") from exc

    def close(self) -> None:
        self._container.close()


# What OpenCV's I420 conversion assumes: BT.601 matrix (untagged, BT.470BG, SMPTE 170M),
# limited range (untagged or MPEG); AVColorSpace and AVColorRange numbers.
_BT601_SPACES = {2, 5, 6}
_LIMITED_RANGES = {0, 1}


def _pixels(decoded: av.VideoFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """The frame as BGR, with its luma as gray (`Frame.lores`) when that comes free.

    Untagged or BT.601 limited-range yuv420p goes through OpenCV (a third faster than
    swscale, the same matrix) and brings its Y plane, read while it is still in the
    cache: the motion stage then need not make gray from the BGR copy again (a fifth of
    its time). Anything else goes through swscale, without gray.
    """
    if (
        decoded.format.name == "yuv420p"
        and decoded.width % 2 == 0
        and decoded.height % 2 == 0
        and decoded.colorspace in _BT601_SPACES
        and decoded.color_range in _LIMITED_RANGES
    ):
        i420 = decoded.to_ndarray()
        bgr = cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)
        return bgr, full_range(i420[: decoded.height])
    return decoded.to_ndarray(format="bgr24"), None
