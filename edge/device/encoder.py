"""Encode BGR frames to H.264 in fragmented MP4, in memory, one self-contained file per segment.

Like picamera2, the encoder only produces bytes and hands them to an `Output`; where the
bytes go (the vault's encrypting segment writer, a test's in-memory collector) is the
output's business. Nothing here touches a path, so no plaintext video reaches a disk.

One codec context lives for a whole clip and each segment gets its own MP4 muxer: the
segment's first frame is forced to be an IDR frame and led by the clip's SPS/PPS, so
every segment is playable alone, and all segments of a clip share those parameter sets,
so an exporter can join them without re-encoding. Timestamps are the frames' own times
relative to the clip start (written as the fragment's base decode time), so segments
keep the recorded timing. (Reopening the codec for every segment costs about the same
on libx264, see scripts/bench_encoder.py, but would give each segment its own
parameter sets and make the Pi's hardware encoder reinitialise every two seconds.)
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, Protocol

import av
import cv2
import numpy as np
from av.video.frame import PictureType

log = logging.getLogger(__name__)

TIME_BASE = Fraction(1, 90000)
"""Timestamps are in 1/90000 s, the usual video clock: fine enough for any frame rate."""

HARDWARE_CODEC = "h264_v4l2m2m"
SOFTWARE_CODEC = "libx264"

# frag_discont + avoid_negative_ts=disabled + use_editlist=0 make the muxer write the
# first frame's time as the fragment's base decode time (tfdt) instead of shifting the
# segment to start at zero; without them segment 2 of a clip would claim to start at 0.
# frag_every_frame hands each frame to the Output as soon as it is encoded (about 3 %
# more bytes): with only frag_keyframe the muxer would hold the whole segment in RAM
# until it ends, and a power cut would lose all of it instead of one 64 KiB age chunk.
_MP4_OPTIONS = {
    "movflags": "frag_keyframe+frag_every_frame+empty_moov+default_base_moof+frag_discont",
    "avoid_negative_ts": "disabled",
    "use_editlist": "0",
}

CodecChoice = Literal["auto", "h264_v4l2m2m", "libx264"]

_SPS, _PPS = 7, 8
_START_CODE = b"\x00\x00\x00\x01"


class Output(Protocol):
    """Where an encoded segment's bytes go; `close()` ends the segment."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class MemoryOutput:
    """An `Output` that keeps the bytes in RAM (for tests, benchmarks and in-memory export)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        if self.closed:
            raise ValueError("write to a closed MemoryOutput")
        self._chunks.append(data)

    def close(self) -> None:
        self.closed = True

    def getvalue(self) -> bytes:
        return b"".join(self._chunks)


class EncoderError(RuntimeError):
    """The encoder was driven out of order, or the codec broke a segment's guarantees."""


@dataclass(frozen=True, slots=True)
class EncoderSettings:
    """How to encode. `crf`, `preset` and `tune` apply to libx264, `bitrate` to the Pi's encoder.

    `tune="zerolatency"` makes libx264 return each frame's packet at once, so a segment's
    Output is finished as soon as the next segment starts; an empty `tune` is allowed.
    `x264_params` are passed on as libx264's own `x264-params`; the default skips the
    search for intra 4x4/8x8 partitions, which costs a fifth of the encoder's CPU and buys
    ~2 % of the bytes (0.03 dB of PSNR) on the dev clips, and uses the small diamond motion
    search, no weighted prediction and no scene-cut decisions (segments start on forced
    IDR frames anyway): 2-3 % less CPU for the same PSNR and bytes within 0.2 %
    (docs/PERFORMANCE.md).
    """

    codec: CodecChoice = "auto"
    fps: float = 15.0
    crf: int = 23
    preset: str = "veryfast"
    tune: str = "zerolatency"
    x264_params: str = "partitions=none:me=dia:weightp=0:scenecut=0"
    threads: int = 0
    bitrate: int = 4_000_000

    def __post_init__(self) -> None:
        if self.codec not in ("auto", HARDWARE_CODEC, SOFTWARE_CODEC):
            raise ValueError(f"unknown codec {self.codec!r}")
        if not 0 < self.fps <= 120:
            raise ValueError(f"fps must be in (0, 120], got {self.fps}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be in [0, 51], got {self.crf}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0 (0 = automatic), got {self.threads}")
        if self.bitrate <= 0:
            raise ValueError(f"bitrate must be positive, got {self.bitrate}")


def _nal_units(annex_b: bytes) -> list[bytes]:
    """Split an H.264 Annex B byte stream into its NAL units (without start codes)."""
    starts = []
    position = annex_b.find(b"\x00\x00\x01")
    while position >= 0:
        starts.append(position + 3)
        position = annex_b.find(b"\x00\x00\x01", position + 3)
    # Emulation prevention guarantees 00 00 01 never occurs inside a unit; a unit's
    # trailing zero byte belongs to the next 4-byte start code.
    ends = [s - 3 for s in starts[1:]] + [len(annex_b)]
    return [annex_b[a:b].rstrip(b"\x00") for a, b in zip(starts, ends, strict=True)]


def _parameter_sets(annex_b: bytes) -> bytes:
    """The SPS and PPS units of `annex_b`, as Annex B, or b"" when it has none."""
    units = [u for u in _nal_units(annex_b) if u and u[0] & 0x1F in (_SPS, _PPS)]
    if not any(u[0] & 0x1F == _SPS for u in units):
        return b""
    return b"".join(_START_CODE + u for u in units)


class _OutputWriter:
    """The file-like object PyAV writes to; it has no `seek`, so the muxer streams forward."""

    def __init__(self, output: Output) -> None:
        self._output = output

    def write(self, data: bytes | memoryview) -> int:
        self._output.write(bytes(data))
        return len(data)


def _with_parameter_sets(packet: av.Packet, parameter_sets: bytes) -> av.Packet:
    """`packet`, led by SPS and PPS so the segment decodes on its own.

    libx264 (with global headers) and the Pi's encoder send them once per clip at most,
    while each segment's MP4 needs them in its own init segment.
    """
    data = bytes(packet)
    if _parameter_sets(data):
        return packet
    if not parameter_sets:
        raise EncoderError("the codec has not produced SPS/PPS for this clip")
    led = av.Packet(parameter_sets + data)
    led.pts, led.dts, led.time_base = packet.pts, packet.dts, packet.time_base
    led.is_keyframe = True
    return led


class _Segment:
    """One MP4 muxer feeding one Output, from its first frame's pts on."""

    def __init__(self, output: Output, start_pts: int, width: int, height: int) -> None:
        self.output = output
        self.start_pts = start_pts
        self.packets = 0
        self.container = av.open(
            _OutputWriter(output), mode="w", format="mp4", options=_MP4_OPTIONS
        )
        self.stream = self.container.add_mux_stream(
            "h264", width=width, height=height, time_base=TIME_BASE
        )

    def mux(self, packet: av.Packet, parameter_sets: bytes) -> None:
        if self.packets == 0:
            if not packet.is_keyframe:
                raise EncoderError("segment does not start on a keyframe")
            packet = _with_parameter_sets(packet, parameter_sets)
        packet.stream = self.stream
        self.container.mux(packet)
        self.packets += 1

    def close(self) -> None:
        try:
            self.container.close()
        finally:
            self.output.close()


def to_i420(image: np.ndarray) -> np.ndarray:
    """The frame as I420 planes (what the codec takes); half the memory of BGR, so frames
    waiting in the pre-roll and the queues are kept this way. I420 input is returned as is."""
    if image.ndim == 2:
        return image
    height, width = image.shape[:2]
    if width % 2 or height % 2:
        raise EncoderError(f"H.264 yuv420p needs even frame sizes, got {width}x{height}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)


def _borrowed_frame(i420: np.ndarray, height: int) -> av.VideoFrame:
    """A codec frame on the I420 planes themselves, without copying them (0.26 ms at
    720p). The planes must not change once encoded: libx264 copies them at once, the
    Pi's encoder may hold the frame while its queue is full; nothing here writes to a
    frame after handing it over. PyAV reads the height of a borrowed yuv420p array as
    a multiple of 4, so other heights are copied (their colours would be misread)."""
    if height % 4:
        return av.VideoFrame.from_ndarray(i420, "yuv420p")
    return av.VideoFrame.from_numpy_buffer(np.ascontiguousarray(i420), "yuv420p")


class H264SegmentEncoder:
    """Turns a clip's frames into fragmented-MP4 segments pushed to the Outputs it is given.

    Drive it as: `start_clip(t0)`, then for each segment `start_segment(output)` followed by
    that segment's frames through `encode(image, t)`, and finally `end_clip()`. Each
    segment's Output receives a complete MP4 (init segment, then fragments) and is closed
    once the last of its packets is written.
    """

    def __init__(self, settings: EncoderSettings | None = None) -> None:
        self.settings = settings or EncoderSettings()
        self._codec_name: str | None = (
            None if self.settings.codec == "auto" else self.settings.codec
        )
        self._ctx: av.VideoCodecContext | None = None
        self._clip_start_t: float | None = None
        self._last_pts = -1
        self._size: tuple[int, int] | None = None
        self._pending_output: Output | None = None
        self._segments: deque[_Segment] = deque()
        self._in_flight = 0
        self._parameter_sets = b""

    @property
    def codec_name(self) -> str | None:
        """The codec in use once a clip has started (`None` before the first clip with "auto")."""
        return self._codec_name

    @property
    def in_clip(self) -> bool:
        return self._clip_start_t is not None

    def start_clip(self, start_t: float) -> None:
        """Begin a clip whose first frame is at `start_t`; frame times are counted from it."""
        if self.in_clip:
            raise EncoderError("start_clip while a clip is open")
        self._clip_start_t = start_t
        self._last_pts = -1
        self._size = None

    def start_segment(self, output: Output) -> None:
        """Send the following frames to `output`, starting with a forced keyframe."""
        if not self.in_clip:
            raise EncoderError("start_segment outside a clip")
        if self._pending_output is not None:
            raise EncoderError("start_segment twice without a frame in between")
        if self._in_flight == 0:
            # The codec holds no frame of the previous segment, so it is complete now.
            self._close_segments()
        self._pending_output = output

    def encode(self, image: np.ndarray, t: float) -> None:
        """Encode one frame taken at time `t`: BGR (HxWx3 uint8) or I420 planes (H*3/2 x W
        uint8, as `to_i420` makes); width and height even."""
        if self._clip_start_t is None:
            raise EncoderError("encode outside a clip")
        if not self._segments and self._pending_output is None:
            raise EncoderError("encode before start_segment")
        i420 = to_i420(image)
        height, width = i420.shape[0] * 2 // 3, i420.shape[1]
        if self._size is None:
            self._open_codec(width, height)
        elif self._size != (width, height):
            raise EncoderError(f"frame size changed from {self._size} to {(width, height)}")
        assert self._ctx is not None
        # Two frames closer than a clock tick still need increasing timestamps.
        pts = max(round((t - self._clip_start_t) / TIME_BASE), self._last_pts + 1)
        self._last_pts = pts
        frame = _borrowed_frame(i420, height)
        frame.pts = pts
        frame.time_base = TIME_BASE
        if self._pending_output is not None:
            self._segments.append(_Segment(self._pending_output, pts, width, height))
            self._pending_output = None
            frame.pict_type = PictureType.I
        self._in_flight += 1
        self._route(self._ctx.encode(frame))

    def end_clip(self) -> None:
        """Drain the codec, finish every open segment and close their Outputs."""
        if not self.in_clip:
            return
        try:
            if self._ctx is not None:
                self._route(self._ctx.encode(None))
        finally:
            self._ctx = None
            self._in_flight = 0
            self._clip_start_t = None
            pending, self._pending_output = self._pending_output, None
            self._close_segments()
            if pending is not None:
                pending.close()

    def close(self) -> None:
        """Finish the clip in progress, if any."""
        self.end_clip()

    def _route(self, packets: list[av.Packet]) -> None:
        # A codec with delay (the Pi's encoder) returns a segment's last packets after the
        # next segment has begun; they go to the segment whose range holds their pts.
        for packet in packets:
            self._in_flight -= 1
            while len(self._segments) > 1 and packet.pts >= self._segments[1].start_pts:
                self._segments.popleft().close()
            if not self._segments:
                raise EncoderError("codec produced a packet with no segment to hold it")
            if packet.is_keyframe and not self._parameter_sets:
                self._parameter_sets = _parameter_sets(bytes(packet))
            self._segments[0].mux(packet, self._parameter_sets)

    def _close_segments(self) -> None:
        # Every Output gets closed even if an earlier one fails (a full disk, say).
        first_error: Exception | None = None
        while self._segments:
            try:
                self._segments.popleft().close()
            except Exception as exc:
                first_error = first_error or exc
        if first_error is not None:
            raise first_error

    def _open_codec(self, width: int, height: int) -> None:
        if width % 2 or height % 2:
            raise EncoderError(f"H.264 yuv420p needs even frame sizes, got {width}x{height}")
        if self._codec_name is None:
            try:
                self._ctx = self._new_context(HARDWARE_CODEC, width, height)
                self._codec_name = HARDWARE_CODEC
            except (av.FFmpegError, ValueError) as exc:  # absent device or codec
                log.info("%s unavailable (%s); using %s", HARDWARE_CODEC, exc, SOFTWARE_CODEC)
                self._codec_name = SOFTWARE_CODEC
        if self._ctx is None:
            self._ctx = self._new_context(self._codec_name, width, height)
        self._size = (width, height)
        self._parameter_sets = _parameter_sets(self._ctx.extradata or b"")

    def _new_context(self, codec: str, width: int, height: int) -> av.VideoCodecContext:
        s = self.settings
        ctx = av.CodecContext.create(codec, "w")
        ctx.width = width
        ctx.height = height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = TIME_BASE
        ctx.framerate = Fraction(s.fps).limit_denominator(1001)
        # B-frames would make decode order differ from capture order and delay packets.
        ctx.max_b_frames = 0
        # Tag what cv2's I420 conversion produces (BT.601, limited range) so players
        # do not guess BT.709 for HD sizes.
        ctx.colorspace = av.video.reformatter.Colorspace.ITU601
        ctx.color_range = av.video.reformatter.ColorRange.MPEG
        if codec == SOFTWARE_CODEC:
            # Parameter sets once, in extradata, as the Pi's encoder does: one code path
            # (_with_parameter_sets) serves both codecs and is exercised on every machine.
            ctx.flags |= av.codec.context.Flags.global_header
            ctx.thread_count = s.threads
            options = {"preset": s.preset, "crf": str(s.crf), "forced-idr": "1"}
            if s.x264_params:
                options["x264-params"] = s.x264_params
            if s.tune:
                options["tune"] = s.tune
            ctx.options = options
        else:
            ctx.bit_rate = s.bitrate
        ctx.open()
        return ctx
