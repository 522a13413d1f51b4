"""Colorize: L of each frame + ab propagated from colour key-frames."""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Callable

import torch

from vprop.engine.keys import LazyKeys, key_files
from vprop.engine.propagator import Propagator, Settings
from vprop.engine.working import propagate_at, propagation_short_side, shrink, working_size
from vprop.io.keyframes import COLOR_KEY_SUFFIXES, load_color_key
from vprop.pipelines.run import Pipeline, RunOptions, run
from vprop.pipelines.sinks import VideoSink
from vprop.tasks.color import ColorTask, rgb_to_lab


def colorize(video, keys_dir, output, *, interval: int | None = None, mode: str = "offline",
             align: bool | None = None, blend: str = "confidence", weights: str | None = None,
             device: str = "cpu", batch_size: int = 4, crf: int = 18, lossless: bool = False, eight_bit: bool = False,
             report=None, on_frame: Callable[[int], None] | None = None,
             on_begin: Callable[[], None] | None = None,
             model: torch.nn.Module | None = None, shots: bool = True, allow_missing: bool = False,
             resume: bool = False, workers: int | None = 1, full_resolution: bool = False,
             working_side: int | None = None, lookup: bool = True) -> Path:
    """Colour a grayscale (or colour) video from colour key-frames named by frame index.

    ``align=None`` follows the weights (flow-aligned models align, the paper's plain TPN does not).
    ``model``: a colour model already loaded (a batch worker holds one for many videos); ``weights`` is then unused.
    Returns the output path, written atomically. ``on_frame(index)`` is called after each frame, ``on_begin()``
    once every check is done and the frames' work starts (a progress meter's clock).
    ``report``: a directory for the per-frame confidence report (``vprop.engine.confidence.ConfidenceReport``).
    ``shots``: find the hard cuts first (``vprop.engine.shots``) and colour every shot from its own keys only; a
    shot without a key is an error, or with ``allow_missing`` stays gray. ``resume``: keep finished key segments
    in ``<output>.vprop-resume/`` so that a killed run started again continues; ``workers``: processes at once
    (None: as many as repay their start, ``vprop.pipelines.workers.default_workers``).
    ``full_resolution``: propagate at the video's own size; by default frames larger than the model's training
    size (or ``working_side``, a short side) are propagated at that size and the chroma is up-sampled onto each
    frame's own lightness (``vprop.engine.working``). ``lookup``: where a flow chain failed, the key's colours are
    also looked up by patch matching (``vprop.engine.lookup``; False is ``--no-lookup``). ``eight_bit``: 8 bits per
    channel from a source deeper than that too (default: its depth kept, ``vprop.pipelines.sinks.VideoSink``).
    """
    pipeline = color_pipeline(keys_dir=keys_dir, output=str(output), interval=interval, crf=crf, lossless=lossless,
                              full_resolution=full_resolution, working_side=working_side, lookup=lookup,
                              eight_bit=eight_bit)
    return run(video, pipeline, RunOptions(mode=mode, align=align, blend=blend, weights=weights, device=device,
                                           batch_size=batch_size, report=report, on_frame=on_frame, on_begin=on_begin,
                                           model=model, shots=shots, allow_missing=allow_missing, resume=resume,
                                           workers=workers)).path


def color_pipeline(*, keys_dir, output: str, interval: int | None, crf: int, lossless: bool,
                   full_resolution: bool = False, working_side: int | None = None, lookup: bool = True,
                   eight_bit: bool = False) -> Pipeline:
    def find_keys(info):
        return key_files(keys_dir, interval, info.frame_count, COLOR_KEY_SUFFIXES, info.path)

    def propagation(model, settings, info):
        size = working_size(info.width, info.height, propagation_short_side(model, working_side, full_resolution))

        def propagate(frames, files, cuts, on_confidence):
            keys = LazyKeys(files, lambda path: _load_key(path, info))
            return propagate_color(model, settings, frames, keys, size, on_confidence, cuts)
        return propagate

    recipe = partial(color_pipeline, keys_dir=str(keys_dir), output=output, interval=interval, crf=crf,
                     lossless=lossless, full_resolution=full_resolution, working_side=working_side,
                     lookup=lookup, eight_bit=eight_bit)
    # Chains mended by a flow straight to the key: +0.14 dB online K=30 and +0.18 dB offline K=30 on clips never
    # used for any choice (README, "Broken chains"); the look-up where they stay broken: +0.15 to +0.37 dB more for
    # 4-13% of the speed (README, "Where no flow holds"); the check at each key, offline: +0.05 dB on 8 clips at
    # K=10-30, +0.35-0.39 dB on the one where the network did harm, for 4-5% of the speed (README, "The key check").
    return Pipeline("color", find_keys, _load_key, lambda info, _: VideoSink(output, info, crf, lossless, eight_bit),
                    propagation, recipe, repair_chains=True, lookup=lookup, key_check=True)


def _load_key(path, info):
    return rgb_to_lab(load_color_key(path, info.width, info.height))


def propagate_color(model: torch.nn.Module, settings: Settings, frames, keys, size: tuple[int, int] | None = None,
                    on_confidence=None, cuts=(), detail: bool = True):
    """(frame, RGB output) of every frame, coloured from ``keys`` (frame index -> the key's Lab image at the
    frames' size). ``size``: the working size (width, height) to propagate at (``vprop.engine.working``; with
    ``detail``, the keys' fine chroma carried to the frames), or None for the frames' own size."""
    if size is None:
        return Propagator(model, ColorTask(), settings)(frames, keys, on_confidence, cuts=cuts)
    return propagate_at(size, model, ColorTask(), settings, frames, keys, shrink, on_confidence, cuts, detail=detail)
