"""The one run every task pipeline shares: probe -> key files -> check every key -> output -> cuts -> model ->
alignment -> the frame loop into the output -> all keys used -> confidence report.

A pipeline (colorize, segment, hdr) gives only what is its own: where its keys are, how a key file is read, how
its frames are propagated, and where the outputs go (``vprop.pipelines.sinks``).
"""
from __future__ import annotations

import warnings
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, Iterator, Mapping, Protocol

import numpy as np
import torch

from vprop.engine.confidence import ConfidenceReport, FrameConfidence
from vprop.engine.keys import check_all_keys_used
from vprop.engine.propagator import Settings
from vprop.engine.shots import video_cuts
from vprop.io.video import VideoFrame, VideoInfo, probe, read_frames
from vprop.models.hub import load_model
from vprop.models.tpn import model_aligned


class Sink(Protocol):
    """Where a run's outputs go, opened (and checked) before any work; nothing appears unless the run completes."""

    def write(self, frame: VideoFrame, output: Any) -> None: ...
    def picture(self, frame: VideoFrame, output: Any) -> np.ndarray: ...   # the output as RGB, for the report


# (frames, key files by index, cuts, on_confidence) -> (frame, output) in decode order
Propagation = Callable[[Iterable[VideoFrame], Mapping[int, Path], Collection[int],
                        Callable[[FrameConfidence], None] | None], Iterator[tuple[VideoFrame, Any]]]


@dataclass
class RunOptions:
    """What every task's run takes alike (the pipelines' keyword arguments of the same names)."""

    mode: str = "offline"
    align: bool | None = None          # None: as the model was trained (``model_aligned``)
    blend: str = "confidence"
    weights: str | None = None
    device: str = "cpu"
    batch_size: int = 4
    report: Any = None                 # a directory for the confidence report
    on_frame: Callable[[int], None] | None = None
    model: torch.nn.Module | None = None    # already loaded (a batch worker holds one for many videos)
    shots: bool = True
    allow_missing: bool = False


@dataclass
class Pipeline:
    """What one task gives the shared run."""

    task: str                                                   # the model kind and the report's task
    find_keys: Callable[[VideoInfo], Mapping[int, Path]]        # key files by frame index, checked against the video
    load_key: Callable[[Path, VideoInfo], Any]                   # a key file read at the video's size
    open_sink: Callable[[VideoInfo], AbstractContextManager]     # -> Sink
    propagation: Callable[[torch.nn.Module, Settings, VideoInfo], Propagation]


def run(video, pipeline: Pipeline, options: RunOptions) -> Sink:
    """Run ``pipeline`` over ``video``; every check that can fail without the frames fails before any work.
    Returns the sink, closed (its outputs in place)."""
    info = probe(video)
    files = pipeline.find_keys(info)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # a key's warnings are shown once, when the frame loop reads it
        for path in files.values():       # fail before any work on a bad key
            pipeline.load_key(path, info)
    with pipeline.open_sink(info) as sink:
        cuts = video_cuts(video, files, options.allow_missing) if options.shots else []
        report = (ConfidenceReport(options.report, video=video, task=pipeline.task, mode=options.mode)
                  if options.report else None)
        model = options.model
        if model is None:
            model, _ = load_model(pipeline.task, options.weights, options.device)
        settings = Settings(mode=options.mode, align=model_aligned(model, options.align), blend=options.blend,
                            batch_size=options.batch_size, device=options.device,
                            allow_missing=options.allow_missing)
        propagate = pipeline.propagation(model, settings, info)
        seen = frame_loop(propagate, read_frames(video), files, cuts, sink, report, options.on_frame)
        check_all_keys_used(files, seen)
        if report:
            report.write()
    return sink


def frame_loop(propagate: Propagation, frames: Iterable[VideoFrame], files: Mapping[int, Path],
               cuts: Collection[int], sink: Sink, report: ConfidenceReport | None = None,
               on_frame: Callable[[int], None] | None = None) -> set[int]:
    """Propagate ``frames`` from the keys ``files`` into ``sink``; returns the indices of the frames written.

    The one place where frames meet keys and outputs are written: a run over part of a video (the frames
    between two keys) calls this with that part's frames and keys.
    """
    seen = set()
    for frame, output in propagate(frames, files, cuts, report):
        sink.write(frame, output)
        if report:
            report.picture(frame.index, lambda: sink.picture(frame, output))
        seen.add(frame.index)
        if on_frame:
            on_frame(frame.index)
    return seen
