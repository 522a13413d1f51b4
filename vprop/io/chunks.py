"""One output video from pieces encoded separately: the packets are remuxed, never re-encoded.

Each piece holds one span of frames, encoded with the output's settings and starting on a keyframe, so the pieces
in order are one valid stream. A container may shift a piece's timestamps (to keep them non-negative) or round
them (Matroska: milliseconds), so every piece has a sidecar with its packets' timestamps exactly as the encoder
made them. Joining gives the output what a ``VideoWriter`` gives it directly: the source's timestamps, tags,
display matrix, audio and subtitles.
"""
from __future__ import annotations

import json
import math
from bisect import bisect_left
from contextlib import contextmanager, nullcontext
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

import av

from vprop.io.atomic import atomic_path
from vprop.io.video import VideoInfo, VideoWriter, following_pts, keep_companion, open_companion

SUFFIX = ".mkv"         # Matroska holds H.264, FFV1 and ProRes alike
TIMES = ".times.json"   # the sidecar: [[pts, dts], ...] per packet, in the source's time base


@contextmanager
def chunk_writer(output, source: VideoInfo, chunk: Path, **options) -> Iterator[VideoWriter]:
    """A ``VideoWriter`` for the piece ``chunk`` of ``output``; the piece and its sidecar appear when complete."""
    writer = VideoWriter(output, source, chunk=chunk, **options)
    with writer:
        yield writer
    with atomic_path(_times_path(chunk)) as tmp:
        tmp.write_text(json.dumps(writer.packet_times))


def join_chunks(chunks: Sequence[Path], output, source: VideoInfo) -> Path:
    """Write ``output`` (atomically) from the video packets of ``chunks`` in order, with the source's streams."""
    output = Path(output)
    if not chunks:
        raise ValueError("no chunks to join")
    # The pieces' timestamps are in the source's time base. A coarse one (an AVI's or an image sequence's, one tick a
    # frame) leaves no tick between two frames for the decode times each piece's encoder starts early: the output
    # counts in finer ticks, at least 1000 a frame; 1/N, since MP4 stores a time base as a tick rate.
    time_base = Fraction(1, source.time_base.denominator * math.ceil(1000 * source.fps / source.time_base.denominator))
    finer, frame_duration = int(source.time_base / time_base), round(1 / (source.fps * time_base))
    with open_companion(source.path) or nullcontext() as src, atomic_path(output) as tmp, \
            av.open(str(tmp), "w") as out:
        with av.open(str(chunks[0])) as first:
            video = out.add_stream_from_template(first.streams.video[0])
        video.time_base = time_base
        copier = keep_companion(src, source, video, out) if src else None
        last_dts = last_pts = None
        for chunk in chunks:
            times = json.loads(_times_path(chunk).read_text())
            retimed, last_pts = _following(times, last_pts)
            with av.open(str(chunk)) as piece:
                packets = (p for p in piece.demux(piece.streams.video[0]) if p.size)   # not the end marker
                for packet, (pts, dts) in zip(packets, times, strict=True):
                    packet.pts, packet.dts = retimed(pts) * finer, retimed(pts if dts is None else dts) * finer
                    # One frame at the average rate, as the encoder gave it (the piece kept it in milliseconds).
                    packet.time_base, packet.duration = time_base, frame_duration
                    # Each piece's encoder starts its decode clock a few frames early (B-frame delay); where that
                    # reaches back over the previous piece's last packet, the next free tick keeps the order.
                    if last_dts is not None and packet.dts <= last_dts:
                        packet.dts = last_dts + 1
                    last_dts = packet.dts
                    packet.stream = video
                    out.mux(packet)
                    if copier:
                        copier.copy_until(float(packet.dts * time_base))
        if copier:
            copier.finish()
    return output


def _following(times: list, last: int | None):
    """(a map of the piece's timestamps, its last frame's) where the piece follows one that ended at ``last``. Each
    piece's writer made a damaged source's repeated stamps increasing on its own: its frames are retimed as one
    writer would have (``following_pts``), and a decode time between two of its frames' old times (or before the
    first) moves with the frame it precedes, so the order stays."""
    old = sorted(pts for pts, _ in times)
    new = []
    for pts in old:
        new.append(following_pts(pts, new[-1] if new else last))

    def retimed(time: int) -> int:
        at = min(bisect_left(old, time), len(old) - 1)
        return time + new[at] - old[at]
    return retimed, new[-1]


def _times_path(chunk: Path) -> Path:
    return Path(chunk).with_name(Path(chunk).name + TIMES)
