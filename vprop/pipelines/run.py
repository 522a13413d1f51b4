"""The one run every task pipeline shares: probe -> key files -> check every key -> output -> cuts -> spans ->
model -> alignment -> the frame loop, span by span, into the output -> confidence report.

Every run goes span by span (``vprop.engine.spans``), in this process or in worker processes, skipping the spans
a resumed run finished before: one code path, so every way of running gives the same frames.

A pipeline (colorize, segment, hdr) gives only what is its own: where its keys are, how a key file is read, how
its frames are propagated, and where the outputs go (``vprop.pipelines.sinks``).
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, Iterator, Mapping, Protocol

import numpy as np
import torch

from vprop.engine.confidence import ConfidenceReport, FrameConfidence
from vprop.engine.keys import check_all_keys_used
from vprop.engine.propagator import Settings
from vprop.engine.shots import video_cuts
from vprop.engine.spans import Span
from vprop.errors import UsageError
from vprop.io.sequence import ImageSequence
from vprop.io.video import FrameIndex, VideoFrame, VideoInfo, probe, read_frames
from vprop.models.hub import load_model
from vprop.models.tpn import model_aligned
from vprop.pipelines.resume import ResumeState, fingerprint
from vprop.pipelines.span_outputs import SpanOutputs
from vprop.pipelines.spanning import check_options, own_frames, plan_run, span_frames
from vprop.pipelines.workers import default_workers, run_spans


class Sink(Protocol):
    """Where a run's outputs go: the folders of frame files and the videos it writes (``SpanOutputs`` places them,
    checked before any work; nothing appears unless the run completes)."""

    folders: dict[str, Path]                    # name -> output folder of one file per frame
    videos: dict[str, tuple[Path, dict]]        # name -> (output video, its ``VideoWriter`` options)

    def write(self, place: SpanOutputs, frame: VideoFrame, output: Any) -> None: ...
    def picture(self, frame: VideoFrame, output: Any) -> np.ndarray: ...   # the output as RGB, for the report
    def complete(self, place: SpanOutputs, timing: list[VideoFrame]) -> None: ...   # every frame written


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
    on_begin: Callable[[], None] | None = None     # called once every check is done and the frames' work starts
    model: torch.nn.Module | None = None    # already loaded (a batch worker holds one for many videos)
    shots: bool = True
    allow_missing: bool = False
    resume: bool = False               # keep finished spans in OUTPUT.vprop-resume/ (``vprop.pipelines.resume``)
    workers: int | None = 1            # processes running spans at once; None: ``default_workers``


@dataclass
class Pipeline:
    """What one task gives the shared run."""

    task: str                                                   # the model kind and the report's task
    find_keys: Callable[[VideoInfo], Mapping[int, Path]]        # key files by frame index, checked against the video
    load_key: Callable[[Path, VideoInfo], Any]                   # a key file read at the video's size
    open_sink: Callable[[VideoInfo, Mapping[int, Path]], Sink]   # checks the output paths; given the key files
    propagation: Callable[[torch.nn.Module, Settings, VideoInfo], Propagation]
    # How a worker process builds this pipeline again: a picklable call (a module-level function and keyword
    # arguments, whose values are also what the run's state records of its arguments).
    recipe: partial | None = None
    # (model, the first key's frame as RGB, its key as ``load_key`` reads it) -> the model the run uses: a copy
    # tuned to this video (seg ``--adapt``), made once here; worker processes are given it with the span source.
    adapt: Callable[[torch.nn.Module, np.ndarray, Any], torch.nn.Module] | None = None
    # Whether the task's aligned runs mend broken flow chains (``Settings.repair``): measured per task.
    repair_chains: bool = False
    # Whether its aligned runs also look the key's property up by patch matching where a chain failed
    # (``Settings.lookup``; tasks that have ``looked_up``).
    lookup: bool = False
    # Whether its aligned offline runs check the network against the flow-aligned key at each key's frame
    # (``Settings.key_check``): measured for colour only.
    key_check: bool = False


def run(video, pipeline: Pipeline, options: RunOptions) -> Sink:
    """Run ``pipeline`` over ``video`` span by span (``vprop.engine.spans``); every check that can fail without the
    frames fails before any work. Returns the sink, its outputs in place."""
    check_options(options.resume, 1 if options.workers is None else options.workers, options.report)
    info = probe(video)
    files = pipeline.find_keys(info)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # a key's warnings are shown once, when the frame loop reads it
        for path in files.values():       # fail before any work on a bad key
            pipeline.load_key(path, info)
    sink = pipeline.open_sink(info, files)
    cuts = video_cuts(video, files, options.allow_missing) if options.shots else []
    report = (ConfidenceReport(options.report, video=video, task=pipeline.task, mode=options.mode)
              if options.report else None)
    plan = plan_run(video, files, cuts, options.mode, whole=report is not None)
    check_all_keys_used(files, range(plan.frame_count))
    model = options.model
    if model is None:
        model, _ = load_model(pipeline.task, options.weights, options.device)
    aligned = model_aligned(model, options.align)
    settings = Settings(mode=options.mode, align=aligned, repair=aligned and pipeline.repair_chains,
                        lookup=aligned and pipeline.lookup, key_check=aligned and pipeline.key_check,
                        blend=options.blend, batch_size=options.batch_size, device=options.device,
                        allow_missing=options.allow_missing)
    workers = options.workers
    if workers is None:
        workers = 1 if report else default_workers(options.device, plan.frame_count, info.width, info.height,
                                                   len(plan.spans))
    # The state records the loaded weights and the recipe's arguments (the adaptation's among them), so a resumed
    # run is checked before it spends time adapting; the adaptation is seeded, and gives the same copy again.
    state = _state(video, sink, files, model, settings, options, pipeline, plan.spans) if options.resume else None
    if pipeline.adapt is not None:
        first = min(files)
        with contextlib.closing(read_frames(video, first, first + 1, plan.index)) as frames:
            rgb = next(frames).rgb
        model = pipeline.adapt(model, rgb, pipeline.load_key(files[first], info))
    source = SpanSource(info.path, plan.index, dict(files), list(cuts), model, settings, info, pipeline.recipe,
                        report, pipeline.propagation(model, settings, info))
    if options.on_begin:
        options.on_begin()
    with SpanOutputs(info, plan.spans, sink.folders, sink.videos, state, pieces=workers > 1) as place:
        todo = [span for span in plan.spans if not (state and state.is_finished(span))]
        for span, results in run_spans(source, todo, workers):
            with place.span(span):
                frame_loop(results, sink, place, report, options.on_frame)
        sink.complete(place, plan.timing(info))
        if report:
            report.write()
    return sink


def frame_loop(results: Iterable[tuple[VideoFrame, Any]], sink: Sink, place: SpanOutputs,
               report: ConfidenceReport | None = None, on_frame: Callable[[int], None] | None = None) -> None:
    """The one place where outputs are written: the frame loop's results for one span, into ``sink``."""
    for frame, output in results:
        sink.write(place, frame, output)
        if report:
            report.picture(frame.index, lambda: sink.picture(frame, output))
        if on_frame:
            on_frame(frame.index)


@dataclass
class SpanSource:
    """Runs the pipeline's propagation over a span's frames (``vprop.pipelines.workers.SpanSource``); a worker
    process is given it pickled, without the propagation, which it builds again from ``recipe``."""

    video: Path | ImageSequence
    index: FrameIndex | None
    files: dict[int, Path]
    cuts: list[int]
    model: torch.nn.Module
    settings: Settings
    info: VideoInfo
    recipe: partial | None
    on_confidence: Callable[[FrameConfidence], None] | None = None     # in this process only
    propagate: Propagation | None = field(default=None, repr=False)

    def open(self) -> None:
        if self.propagate is None:
            self.propagate = self.recipe().propagation(self.model, self.settings, self.info)

    def outputs(self, span: Span) -> Iterator[tuple[VideoFrame, Any]]:
        frames = span_frames(self.video, span, self.index)
        return own_frames(self.propagate(frames, self.files, self.cuts, self.on_confidence), span)

    def __getstate__(self):
        if self.recipe is None:
            raise UsageError("--workers", "this pipeline cannot be run in worker processes")
        return {**self.__dict__, "on_confidence": None, "propagate": None}


def _state(video, sink: Sink, files, model, settings: Settings, options: RunOptions, pipeline: Pipeline,
           spans: list[Span]) -> ResumeState:
    """The state of a resumable run, next to its first output; the arguments it records are the ones that shape
    the output (not --workers, which may change between a run and its resumption)."""
    arguments = {"mode": settings.mode, "align": settings.align, "blend": settings.blend, "device": settings.device,
                 "batch_size": settings.batch_size, "shots": options.shots, "allow_missing": options.allow_missing,
                 **(pipeline.recipe.keywords if pipeline.recipe else {})}
    first = next(iter({**sink.folders, **{n: p for n, (p, _) in sink.videos.items()}}.values()))
    return ResumeState(first, video, fingerprint(video, files, model, arguments), spans)
