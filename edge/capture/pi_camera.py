"""Frames from a Raspberry Pi camera module through Picamera2 (the optional `pi` extra).

`picamera2` is imported here, lazily, and nowhere else, so the rest of the product runs
on any Linux machine. As in the Picamera2 examples, the camera is configured with a
`main` stream for recording and a small `lores` YUV420 stream whose luma plane is the
grayscale copy motion detection works on, so the Pi never has to shrink frames itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from edge.capture.source import SourceLost
from edge.frame import Frame


class PiCameraSource:
    """Opens camera `camera_num`, `main` at `size` (BGR) and `lores` at `lores_size` (YUV420).

    `t` is the sensor timestamp of the frame, so queueing delays do not distort timing.
    """

    def __init__(
        self,
        size: tuple[int, int] = (1280, 720),
        lores_size: tuple[int, int] = (320, 240),
        fps: float = 15.0,
        camera_num: int = 0,
        timeout_s: float = 2.0,
    ) -> None:
        if lores_size[0] > size[0] or lores_size[1] > size[1]:
            raise ValueError(f"lores size {lores_size} is larger than the main size {size}")
        self.lores_size = lores_size
        self.timeout_s = timeout_s
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise ImportError(
                "the picamera2 source needs the `pi` extra: pip install 'doorbell-edge[pi]'"
            ) from exc
        self._camera: Any = None
        try:
            self._camera = Picamera2(camera_num)
            # "RGB888" is Picamera2's name for pixels stored B, G, R: OpenCV's order.
            config = self._camera.create_video_configuration(
                main={"size": size, "format": "RGB888"},
                lores={"size": lores_size, "format": "YUV420"},
                controls={"FrameRate": fps},
            )
            self._camera.configure(config)
            self._camera.start()
        except Exception as exc:
            # Picamera2 reports a missing or busy camera with assorted exception types.
            with contextlib.suppress(Exception):
                self.close()
            raise SourceLost(f"cannot start camera {camera_num}: {exc!r}") from exc

    def __iter__(self) -> Iterator[Frame]:
        width, height = self.lores_size
        index = 0
        while True:
            try:
                request = self._camera.capture_request(wait=self.timeout_s)
                try:
                    image = request.make_array("main")
                    # The YUV420 array is the Y plane (height rows, padded to the stride)
                    # followed by the U and V planes; the Y plane is the grayscale image.
                    lores = request.make_array("lores")[:height, :width].copy()
                    sensor_ns = request.get_metadata()["SensorTimestamp"]
                finally:
                    request.release()
            except Exception as exc:
                raise SourceLost(f"camera stopped delivering: {exc!r}") from exc
            yield Frame(index=index, t=sensor_ns / 1e9, image=image, lores=lores)
            index += 1

    def close(self) -> None:
        if self._camera is None:
            return
        camera, self._camera = self._camera, None
        try:
            camera.stop()
        finally:
            camera.close()
