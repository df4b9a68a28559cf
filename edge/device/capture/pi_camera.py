"""Frames from a Raspberry Pi camera module through Picamera2 (the optional `pi` extra).

`picamera2` (and `libcamera`, which comes with it) is imported here, lazily, and nowhere
else, so the rest of the product runs on any Linux machine. As in the Picamera2 examples,
the camera is configured with a `main` stream for recording and a small `lores` YUV420
stream whose luma plane is the grayscale copy motion detection works on, so the Pi never
has to shrink frames itself. The colour space is asked for (Rec. 709, limited range, what
Picamera2 picks for HD video anyway) so that the luma can be stretched to the full range
motion's thresholds are set in, as a video file's is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from edge.device.capture.camera_profile import CameraProfile, CameraProfileError
from edge.device.capture.luma import full_range
from edge.device.capture.source import SourceLost
from edge.device.frame import Frame


class PiCameraSource:
    """Opens camera `camera_num`, `main` at `size` (BGR) and `lores` at `lores_size` (YUV420).

    `rotation` 180 is done by libcamera (the sensor reads out flipped), for both streams.
    `profile` names the tuning file, adds its controls and, on an IMX708, sets on-sensor
    HDR on or off (the sensor keeps the mode across restarts, so "off" is set too); a
    profile that does not suit the camera is a CameraProfileError, not a lost camera.
    `t` is the sensor timestamp of the frame, so queueing delays do not distort timing.
    """

    def __init__(
        self,
        size: tuple[int, int] = (1280, 720),
        lores_size: tuple[int, int] = (320, 240),
        fps: float = 15.0,
        camera_num: int = 0,
        timeout_s: float = 2.0,
        *,
        rotation: int = 0,
        profile: CameraProfile | None = None,
    ) -> None:
        if lores_size[0] > size[0] or lores_size[1] > size[1]:
            raise ValueError(f"lores size {lores_size} is larger than the main size {size}")
        if rotation not in (0, 180):
            raise ValueError(f"rotation must be 0 or 180, not {rotation}")
        self.lores_size = lores_size
        self.timeout_s = timeout_s
        try:
            from libcamera import ColorSpace, Transform
            from picamera2 import Picamera2
        except ImportError as exc:
            raise ImportError(
                "the picamera2 source needs the `pi` extra: pip install 'doorbell-edge[pi]'"
            ) from exc
        tuning = _load_tuning(Picamera2, profile)
        self._camera: Any = None
        try:
            if profile is not None:
                _set_sensor_hdr(Picamera2, camera_num, profile)
            self._camera = Picamera2(camera_num, tuning=tuning)
            controls = _profile_controls(self._camera, profile)
            transform = Transform(hflip=1, vflip=1) if rotation == 180 else Transform()
            # "RGB888" is Picamera2's name for pixels stored B, G, R: OpenCV's order.
            config = self._camera.create_video_configuration(
                main={"size": size, "format": "RGB888"},
                lores={"size": lores_size, "format": "YUV420"},
                controls={"FrameRate": fps, **controls},
                transform=transform,
                colour_space=ColorSpace.Rec709(),
            )
            self._camera.configure(config)
            self._camera.start()
        except CameraProfileError:
            with contextlib.suppress(Exception):
                self.close()
            raise
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
                    lores = full_range(request.make_array("lores")[:height, :width])
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


def _load_tuning(picamera2: Any, profile: CameraProfile | None) -> dict | None:
    if profile is None or not profile.tuning_file:
        return None
    try:
        return picamera2.load_tuning_file(profile.tuning_file)
    except (OSError, RuntimeError, ValueError) as exc:
        # Picamera2 says only "Tuning file not found"; name the file and where it was set.
        raise CameraProfileError(
            f"camera profile {profile.path}: tuning_file {profile.tuning_file!r}: {exc}"
        ) from exc


def _set_sensor_hdr(picamera2: Any, camera_num: int, profile: CameraProfile) -> None:
    """Switch the IMX708's HDR before the camera is opened: it changes the sensor modes
    libcamera offers, and Picamera2 reads them when it opens the camera."""
    cameras = picamera2.global_camera_info()
    if camera_num >= len(cameras):
        raise RuntimeError(f"no camera {camera_num} is connected (found {len(cameras)})")
    # The index is Picamera2's own: Picamera2(camera_num) opens global_camera_info()[camera_num].
    camera = cameras[camera_num]
    if camera["Model"].startswith("imx708"):
        from picamera2.devices.imx708 import IMX708

        with IMX708(camera["Num"]) as sensor:
            sensor.set_sensor_hdr_mode(profile.sensor_hdr)
    elif profile.sensor_hdr:
        raise CameraProfileError(
            f"camera profile {profile.path}: sensor_hdr = true needs a Camera Module 3 "
            f"(IMX708), but camera {camera_num} is {camera['Model']}"
        )


def _profile_controls(camera: Any, profile: CameraProfile | None) -> dict[str, int | float]:
    if profile is None:
        return {}
    # Picamera2 would refuse these at configure() with an error a reopen cannot fix.
    unknown = sorted(set(profile.controls) - set(camera.camera_controls))
    if unknown:
        raise CameraProfileError(
            f"camera profile {profile.path}: this camera has no control {', '.join(unknown)}"
        )
    return profile.controls
