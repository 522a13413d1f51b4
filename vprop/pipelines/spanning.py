"""How a pipeline runs span by span: its spans, the checks of --resume/--workers, and a span's own frames.

Every run goes span by span (``vprop.engine.spans``): one code path, so a resumed run or one spread over worker
processes gives the frames an uninterrupted run in one process gives.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

from vprop.engine.spans import Span, plan_spans
from vprop.errors import UsageError
from vprop.io.video import FrameIndex, VideoFrame, index_frames, read_frames


def check_options(resume: bool, workers: int, report) -> None:
    if workers < 1:
        raise UsageError("--workers", f"must be at least 1, not {workers}")
    if report and (resume or workers > 1):
        # The report ranks the frames of the whole video; it is made in one pass, by one process.
        raise UsageError("--report", f"cannot be combined with {'--resume' if resume else '--workers'}")


def plan(video, keys: Iterable[int], cuts: Iterable[int], mode: str, whole: bool = False
         ) -> tuple[list[Span], FrameIndex | None]:
    """The spans of ``video`` and its frame index; ``whole``: one span, the whole video (a confidence report)."""
    index = index_frames(video)
    count = len(index) if index is not None else sum(1 for _ in read_frames(video))
    if whole:
        return [Span(0, count, count)], index
    keys = list(keys)
    return plan_spans(count, keys, cuts, offline=mode == "offline" and bool(keys)), index


def span_frames(video, span: Span, index: FrameIndex | None) -> Iterator[VideoFrame]:
    """The frames a span reads."""
    return read_frames(video, span.start, span.read_end, index)


def own_frames(results: Iterable[tuple[VideoFrame, Any]], span: Span) -> Iterator[tuple[VideoFrame, Any]]:
    """The frame loop's results for the frames ``span`` outputs (the next key it read is the next span's)."""
    return ((frame, out) for frame, out in results if frame.index < span.end)

