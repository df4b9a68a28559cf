"""Owner export: decrypts a clip's segments in memory and joins them into one playable MP4.

Each segment is a self-contained fragmented MP4 whose timestamps count from the clip's
start, so joining is a remux: packets are copied, never re-encoded, and the exported
file keeps the recorded timing (its first frame is the clip's first frame). A missing or
corrupt segment is reported and skipped; the rest is still exported.

With `salvage`, an incomplete segment (a `.partial` left by a power cut) is read chunk by
chunk: every chunk that authenticates is kept, up to the first that does not, and the
MP4 fragments that are complete within those bytes are exported. The vault never hands
out a byte of a chunk that failed authentication, so salvage cannot invent footage.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from edge.core.store.index import SegmentRecord
from edge.core.vault import (
    CHUNK_SIZE,
    Identity,
    PayloadError,
    VaultError,
    decrypt_bytes,
    open_reader,
)
from edge.owner.plaintext_file import PlaintextFile

if TYPE_CHECKING:
    import av

# Top-level MP4 boxes that carry the video of a fragmented MP4 after its `moov`.
_FRAGMENT_BOX = b"moof"
_MEDIA_BOX = b"mdat"


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
    truncated: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Salvage:
    """What could be read of an incomplete segment: its authenticated plaintext prefix."""

    plaintext: bytes
    chunks: int
    complete: bool
    stopped_by: str | None


def decrypt_segment(path: Path, segment: SegmentRecord, identities: Sequence[Identity]) -> bytes:
    """Read, hash-check and decrypt one segment file; raises ExportError saying why not."""
    data = _read_checked(path, segment)
    if segment.state == "partial":
        raise ExportError(
            f"segment {segment.n}: incomplete (cut off while it was written); "
            "--salvage recovers its authenticated part"
        )
    try:
        return decrypt_bytes(identities, data)
    except VaultError as exc:
        raise ExportError(f"segment {segment.n}: {exc}") from None


def salvage_segment(data: bytes, identities: Sequence[Identity]) -> Salvage:
    """Every authenticated chunk of a possibly cut-off age file, up to the first bad one.

    Raises ExportError when not even the header can be read (nothing to salvage).
    """
    plain = bytearray()
    chunks = 0
    try:
        reader = open_reader(identities, io.BytesIO(data))
        while True:
            # One chunk per read: a failing chunk then costs only itself.
            try:
                block = reader.read(CHUNK_SIZE)
            except PayloadError as exc:
                return Salvage(bytes(plain), chunks, False, str(exc))
            if not block:
                return Salvage(bytes(plain), chunks, True, None)
            plain += block
            chunks += 1
    except VaultError as exc:
        raise ExportError(str(exc)) from None


def complete_fragments(mp4: bytes) -> tuple[bytes, int]:
    """The prefix of a cut-off fragmented MP4 that ends after its last whole fragment,
    and how many whole fragments (`moof` + `mdat`) it holds.

    A demuxer would return the cut fragment's last frame truncated; cutting at a box
    boundary keeps only frames that were written whole.
    """
    end = position = fragments = 0
    pending_fragment = False
    while position + 8 <= len(mp4):
        size = int.from_bytes(mp4[position : position + 4], "big")
        kind = mp4[position + 4 : position + 8]
        header = 8
        if size == 1:
            if position + 16 > len(mp4):
                break
            size = int.from_bytes(mp4[position + 8 : position + 16], "big")
            header = 16
        if size < header or position + size > len(mp4):
            break  # cut inside this box (or a size of 0, "to the end", which was never closed)
        position += size
        if kind == _FRAGMENT_BOX:
            pending_fragment = True
            continue
        if kind == _MEDIA_BOX and pending_fragment:
            fragments += 1
        pending_fragment = False
        end = position
    return mp4[:end], fragments


def export_segments(
    segments: Sequence[tuple[SegmentRecord, Path]],
    identities: Sequence[Identity],
    out: Path,
    progress: Callable[[int, int], None] = lambda done, total: None,
    *,
    salvage: bool = False,
    force: bool = False,
    before_publish: Callable[[], object] = lambda: None,
) -> ExportResult:
    """Join the decryptable segments into `out`: written 0600 beside it, `before_publish`
    called (the ledger entry), then made visible; an existing `out` is replaced only with
    `force` (see `edge.owner.plaintext_file`). OutputError when `out` cannot be written.

    With `salvage`, incomplete (`partial`) segments contribute their whole fragments,
    and `result.truncated` says what each one lost.
    """
    with PlaintextFile(out, force=force) as staging:
        result = _export_into(staging.partial, segments, identities, progress, salvage)
        result.path = out
        before_publish()
        staging.publish()
    return result


def _export_into(
    partial: Path,
    segments: Sequence[tuple[SegmentRecord, Path]],
    identities: Sequence[Identity],
    progress: Callable[[int, int], None],
    salvage: bool,
) -> ExportResult:
    import av  # PyAV loads only when a clip is exported, not for every command

    result = ExportResult(partial)
    output: av.container.OutputContainer | None = None
    out_stream = None
    last_end = Fraction(0)
    # Each clip's timestamps count from its own start: the next clip starts where the
    # last one ended, so several clips play as one timeline that never goes back.
    clip: str | None = None
    offset = Fraction(0)
    size: tuple[int, int] | None = None
    try:
        for done, (segment, path) in enumerate(segments, start=1):
            try:
                if salvage and segment.state == "partial":
                    plain = _salvage_plaintext(path, segment, identities, result)
                else:
                    plain = decrypt_segment(path, segment, identities)
                packets, template = _demux(plain)
            except ExportError as exc:
                result.problems.append(str(exc))
                progress(done, len(segments))
                continue
            if size is not None and (template.width, template.height) != size:
                result.problems.append(
                    f"clip {segment.clip_id}: frame size {template.width}x{template.height} "
                    f"differs from {size[0]}x{size[1]}; export it on its own"
                )
                progress(done, len(segments))
                continue
            if output is None:
                output = av.open(str(partial), mode="w", format="mp4")
                out_stream = output.add_stream_from_template(template)
                size = (template.width, template.height)
            assert out_stream is not None
            if segment.clip_id != clip:
                offset = last_end if clip is not None else Fraction(0)
                clip = segment.clip_id
            for packet in packets:
                # Timestamps count from the clip's start; shift them to the clip's place.
                shift = int(offset / packet.time_base)
                packet.pts += shift
                if packet.dts is not None:
                    packet.dts += shift
                packet.stream = out_stream
                output.mux(packet)
                result.frames += 1
            last_end = max(last_end, _end_time(packets))  # the packets carry the shift
            result.segments_exported += 1
            progress(done, len(segments))
        if output is None:
            raise ExportError("no segment could be exported: " + "; ".join(result.problems))
        output.close()
        output = None
    except BaseException:
        if output is not None:
            output.close()
        raise
    result.duration_s = float(last_end)
    return result


def _read_checked(path: Path, segment: SegmentRecord) -> bytes:
    """The segment file's bytes, if they hash to what the index recorded."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ExportError(f"segment {segment.n}: file missing ({path.name})") from None
    except OSError as exc:
        raise ExportError(f"segment {segment.n}: cannot read: {exc}") from None
    if hashlib.sha256(data).hexdigest() != segment.sha256:
        raise ExportError(f"segment {segment.n}: ciphertext does not match its recorded hash")
    return data


def _salvage_plaintext(
    path: Path, segment: SegmentRecord, identities: Sequence[Identity], result: ExportResult
) -> bytes:
    data = _read_checked(path, segment)
    try:
        salvaged = salvage_segment(data, identities)
    except ExportError as exc:
        raise ExportError(f"segment {segment.n} (incomplete): {exc}") from None
    playable, fragments = complete_fragments(salvaged.plaintext)
    if not fragments:
        raise ExportError(
            f"segment {segment.n} (incomplete): {salvaged.chunks} authenticated chunk(s), "
            f"{len(salvaged.plaintext)} bytes, hold no whole video fragment"
        )
    result.truncated.append(
        f"segment {segment.n}: salvaged {salvaged.chunks} authenticated chunk(s), "
        f"{fragments} whole fragment(s); the rest was cut off"
        + (f" ({salvaged.stopped_by})" if salvaged.stopped_by else "")
    )
    return playable


def _demux(plain: bytes) -> tuple[list[av.Packet], av.video.stream.VideoStream]:
    import av

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
