"""Owner export: decrypts a clip's segments in memory and joins them into one playable MP4.

Each segment is a self-contained fragmented MP4 whose timestamps count from the clip's
start, so joining is a remux: packets are copied, never re-encoded, and the exported
file keeps the recorded timing (its first frame is the clip's first frame). A missing or
corrupt segment is reported and skipped; the rest is still exported.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from edge.store.index import SegmentRecord
from edge.vault import Identity, VaultError, decrypt_bytes


class ExportError(Exception):
    """Nothing could be exported (no segment decrypted); no output file is left."""


@dataclass
class ExportResult:
    """What was exported: segments joined, frames written, and a line per problem."""

    path: Path
    segments_exported: int = 0
    frames: int = 0
    duration_s: float = 0.0
    problems: list[str] = field(default_factory=list)


def decrypt_segment(path: Path, segment: SegmentRecord, identities: Sequence[Identity]) -> bytes:
    """Read, hash-check and decrypt one segment file; raises ExportError saying why not."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ExportError(f"segment {segment.n}: file missing ({path.name})") from None
    except OSError as exc:
        raise ExportError(f"segment {segment.n}: cannot read: {exc}") from None
    if segment.state != "partial" and hashlib.sha256(data).hexdigest() != segment.sha256:
        raise ExportError(f"segment {segment.n}: ciphertext does not match its recorded hash")
    try:
        return decrypt_bytes(identities, data)
    except VaultError as exc:
        raise ExportError(f"segment {segment.n}: {exc}") from None


def export_segments(
    segments: Sequence[tuple[SegmentRecord, Path]],
    identities: Sequence[Identity],
    out: Path,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> ExportResult:
    """Join the decryptable segments into `out` (written beside it, then renamed)."""
    result = ExportResult(out)
    partial = out.with_name(out.name + ".partial")
    output: av.container.OutputContainer | None = None
    out_stream = None
    last_end = Fraction(0)
    try:
        for done, (segment, path) in enumerate(segments, start=1):
            try:
                plain = decrypt_segment(path, segment, identities)
                packets, template = _demux(plain)
            except ExportError as exc:
                result.problems.append(str(exc))
                progress(done, len(segments))
                continue
            if output is None:
                output = av.open(str(partial), mode="w", format="mp4")
                out_stream = output.add_stream_from_template(template)
            assert out_stream is not None
            for packet in packets:
                # Timestamps already count from the clip start; only the time base may differ.
                packet.stream = out_stream
                output.mux(packet)
                result.frames += 1
            last_end = max(last_end, _end_time(packets))
            result.segments_exported += 1
            progress(done, len(segments))
        if output is None:
            raise ExportError("no segment could be exported: " + "; ".join(result.problems))
        output.close()
        output = None
        os.replace(partial, out)
    except BaseException:
        if output is not None:
            output.close()
        partial.unlink(missing_ok=True)
        raise
    result.duration_s = float(last_end)
    return result


def _demux(plain: bytes) -> tuple[list[av.Packet], av.video.stream.VideoStream]:
    try:
        container = av.open(io.BytesIO(plain), mode="r", format="mp4")
    except av.FFmpegError as exc:
        raise ExportError(f"not a playable MP4 segment: {exc}") from None
    stream = container.streams.video[0]
    packets = [p for p in container.demux(stream) if p.size > 0 and p.pts is not None]
    return packets, stream


def _end_time(packets: Sequence[av.Packet]) -> Fraction:
    if not packets:
        return Fraction(0)
    last = packets[-1]
    return Fraction(last.pts + (last.duration or 0)) * last.time_base
