"""Colorize: L of each frame + ab propagated from colour key-frames."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from vprop.confidence import ConfidenceReport
from vprop.engine.spans import Span
from vprop.errors import InputError
from vprop.flow import ChainedWarp, to_gray_u8
from vprop.io.images import fit_to_size, is_grayscale, read_rgb, write_png
from vprop.io.video import FrameIndex, output_kind, probe
from vprop.keys import LazyKeys, check_all_keys_used, key_files
from vprop.models.hub import load_model
from vprop.pipelines.base import Propagator, Settings
from vprop.pipelines.resume import ResumeState, fingerprint
from vprop.pipelines.span_outputs import SpanOutputs
from vprop.pipelines.spanning import check_options, own_frames, plan, span_frames
from vprop.pipelines.workers import run_spans
from vprop.shots import video_cuts
from vprop.tasks import color


@dataclass
class ColorTask:
    """Frames are seen as Lab; a key is the Lab image of the artist's colour frame."""

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        return color.rgb_to_lab(rgb)

    def prepare_key(self, rgb: np.ndarray) -> np.ndarray:
        return color.rgb_to_lab(rgb)

    def gray(self, lab: np.ndarray) -> np.ndarray:
        return to_gray_u8(lab[..., 0])

    def inputs(self, lab: np.ndarray, key_lab: np.ndarray, chain: ChainedWarp | None):
        return color.model_inputs(lab[..., 0], key_lab, chain)

    def key_output(self, lab: np.ndarray, key_lab: np.ndarray) -> np.ndarray:
        return key_lab[..., 1:].transpose(2, 0, 1) / color.AB_SCALE

    def finish(self, lab: np.ndarray, ab: np.ndarray) -> np.ndarray:
        return color.compose(lab[..., 0], ab)

    def empty(self, lab: np.ndarray) -> np.ndarray:
        return np.zeros((2, *lab.shape[:2]), np.float32)     # no chroma: the frame stays gray


def load_color_key(path: Path, width: int, height: int) -> np.ndarray:
    rgb = read_rgb(path)
    if is_grayscale(rgb):
        raise InputError(path, "key-frame is grayscale; colour it first")
    return fit_to_size(rgb, width, height, path)


@dataclass
class ColorSpans:
    """Colours the frames of a span (``vprop.pipelines.workers.SpanSource``)."""

    video: Path
    index: FrameIndex | None
    files: dict[int, Path]
    size: tuple[int, int]
    cuts: list[int]
    model: torch.nn.Module
    settings: Settings
    on_confidence: Callable | None = None     # in this process only: a report is made in one pass

    def open(self) -> None:
        pass

    def outputs(self, span: Span):
        task = ColorTask()
        keys = LazyKeys(self.files, lambda p: task.prepare_key(load_color_key(p, *self.size)))
        results = Propagator(self.model, task, self.settings)(span_frames(self.video, span, self.index), keys,
                                                               on_confidence=self.on_confidence, cuts=self.cuts)
        return own_frames(results, span)


def colorize(video, keys_dir, output, *, interval: int | None = None, mode: str = "offline",
             align: bool | None = None, blend: str = "confidence", weights: str | None = None,
             device: str = "cpu", batch_size: int = 4, crf: int = 18, lossless: bool = False,
             report=None, on_frame: Callable[[int], None] | None = None,
             model: torch.nn.Module | None = None, shots: bool = True, allow_missing: bool = False,
             resume: bool = False, workers: int = 1) -> Path:
    """Colour a grayscale (or colour) video from colour key-frames named by frame index.

    ``align=None`` follows the weights (flow-aligned models align, the paper's plain TPN does not).
    ``model``: a colour model already loaded (a batch worker holds one for many videos); ``weights`` is then unused.
    Returns the output path, written atomically. ``on_frame(index)`` is called after each frame.
    ``report``: a directory for the per-frame confidence report (``vprop.confidence.ConfidenceReport``).
    ``shots``: find the hard cuts first (``vprop.shots``) and colour every shot from its own keys only; a shot
    without a key is an error, or with ``allow_missing`` stays gray.
    ``resume``: keep the finished key segments in ``<output>.vprop-resume/`` so that a killed run started again
    with the same arguments continues where it stopped; ``workers``: key segments coloured in that many processes.
    """
    check_options(resume, workers, report)
    info = probe(video)
    confidence = ConfidenceReport(report, video=video, task="color", mode=mode) if report else None
    files = key_files(keys_dir, interval, info.frame_count, (".png", ".jpg", ".jpeg"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # resize warnings are shown once, when the key is used
        for path in files.values():       # fail before any work on a bad key
            load_color_key(path, info.width, info.height)
    cuts = video_cuts(video, files, allow_missing) if shots else []
    spans, index = plan(video, files, cuts, mode, whole=confidence is not None)
    check_all_keys_used(files, range(spans[-1].end))
    if model is None:
        model, _ = load_model("color", weights, device)
    settings = Settings(mode=mode, align=model.cfg.extra.get("aligned", True) if align is None else align,
                        blend=blend, batch_size=batch_size, device=device, allow_missing=allow_missing)
    state = ResumeState(output, video, fingerprint(video, files, model, {
        "interval": interval, "mode": mode, "align": settings.align, "blend": blend, "device": device,
        "batch_size": batch_size, "crf": crf, "lossless": lossless, "shots": shots, "allow_missing": allow_missing,
    }), spans) if resume else None
    source = ColorSpans(Path(video), index, files, (info.width, info.height), cuts, model, settings, confidence)
    folder = Path(output) if output_kind(output, lossless) == "png" else None
    outputs = SpanOutputs(info, spans, {"frames": folder} if folder else {},
                          {} if folder else {"video": (Path(output), {"crf": crf, "lossless": lossless})},
                          state, pieces=workers > 1)
    todo = [s for s in spans if not (state and state.is_finished(s))]
    with outputs:
        for span, results in run_spans(source, todo, workers):
            with outputs.span(span):
                for frame, rgb in results:
                    if folder:
                        write_png(outputs.folder("frames") / f"{frame.index:05d}.png", rgb)
                    else:
                        outputs.video("video").write(frame, rgb)
                    if confidence:
                        confidence.picture(frame.index, lambda: rgb)
                    if on_frame:
                        on_frame(frame.index)
        if confidence:
            confidence.write()
    return Path(output)
