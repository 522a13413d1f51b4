"""How a pipeline runs span by span: its spans, the checks of --resume/--workers, and a span's own frames.

Every run goes span by span (``vprop.engine.spans``): one code path, so a resumed run or one spread over worker
processes gives the frames an uninterrupted run in one process gives.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from vprop.engine.spans import Span, plan_spans
from vprop.errors import UsageError
from vprop.io.video import FrameIndex, VideoFrame, VideoInfo, index_frames, read_frames


def check_options(resume: bool, workers: int, report) -> None:
    if workers < 1:
        raise UsageError("--workers", f"must be at least 1, not {workers}")
    if report and (resume or workers > 1):
        # The report ranks the frames of the whole video; it is made in one pass, by one process.
        raise UsageError("--report", f"cannot be combined with {'--resume' if resume else '--workers'}")


@dataclass
class Plan:
    spans: list[Span]
    index: FrameIndex | None      # where each frame is, for reading a span without decoding from frame 0
    pts: list[int | None]         # every frame's timestamp, in the video stream's time base

    @property
    def frame_count(self) -> int:
        return len(self.pts)

    def timing(self, info: VideoInfo) -> list[VideoFrame]:
        """Every frame's index and timestamp (no pixels): what a video made after the run needs."""
        return [VideoFrame(i, None, pts, info.time_base) for i, pts in enumerate(self.pts)]


def plan_run(video, keys: Iterable[int], cuts: Iterable[int], mode: str, whole: bool = False) -> Plan:
    """The spans of ``video``; ``whole``: one span, the whole video (a confidence report ranks every frame)."""
    index = index_frames(video)
    pts = list(index.pts) if index is not None else [f.pts for f in read_frames(video)]
    count, keys = len(pts), list(keys)
    spans = ([Span(0, count, count)] if whole else
             plan_spans(count, keys, cuts, offline=mode == "offline" and bool(keys)))
    return Plan(spans, index, pts)


def span_frames(video, span: Span, index: FrameIndex | None) -> Iterator[VideoFrame]:
    """The frames a span reads."""
    return read_frames(video, span.start, span.read_end, index)


def own_frames(results: Iterable[tuple[VideoFrame, Any]], span: Span) -> Iterator[tuple[VideoFrame, Any]]:
    """The frame loop's results for the frames ``span`` outputs (the next key it read is the next span's)."""
    return ((frame, out) for frame, out in results if frame.index < span.end)

