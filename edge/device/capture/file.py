"""Frames from a video file through PyAV, timed by the file's own timestamps (replays and tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av

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
                yield Frame(index=index, t=t, image=decoded.to_ndarray(format="bgr24"))
        except (OSError, av.FFmpegError) as exc:
            raise SourceLost(f"reading {self.path} failed: {exc}") from exc

    def close(self) -> None:
        self._container.close()
