"""Colorize: L of each frame + ab propagated from colour key-frames."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from vprop.engine.keys import LazyKeys, key_files
from vprop.engine.propagator import Propagator
from vprop.io.keyframes import COLOR_KEY_SUFFIXES, load_color_key
from vprop.pipelines.run import Pipeline, RunOptions, run
from vprop.pipelines.sinks import VideoSink
from vprop.tasks.color import ColorTask, rgb_to_lab


def colorize(video, keys_dir, output, *, interval: int | None = None, mode: str = "offline",
             align: bool | None = None, blend: str = "confidence", weights: str | None = None,
             device: str = "cpu", batch_size: int = 4, crf: int = 18, lossless: bool = False,
             report=None, on_frame: Callable[[int], None] | None = None,
             model: torch.nn.Module | None = None, shots: bool = True, allow_missing: bool = False) -> Path:
    """Colour a grayscale (or colour) video from colour key-frames named by frame index.

    ``align=None`` follows the weights (flow-aligned models align, the paper's plain TPN does not).
    ``model``: a colour model already loaded (a batch worker holds one for many videos); ``weights`` is then unused.
    Returns the output path, written atomically. ``on_frame(index)`` is called after each frame.
    ``report``: a directory for the per-frame confidence report (``vprop.engine.confidence.ConfidenceReport``).
    ``shots``: find the hard cuts first (``vprop.engine.shots``) and colour every shot from its own keys only; a
    shot without a key is an error, or with ``allow_missing`` stays gray.
    """
    def find_keys(info):
        return key_files(keys_dir, interval, info.frame_count, COLOR_KEY_SUFFIXES)

    def load_key(path, info):
        return rgb_to_lab(load_color_key(path, info.width, info.height))

    def propagation(model, settings, info):
        def propagate(frames, files, cuts, on_confidence):
            keys = LazyKeys(files, lambda path: load_key(path, info))
            return Propagator(model, ColorTask(), settings)(frames, keys, on_confidence, cuts=cuts)
        return propagate

    pipeline = Pipeline("color", find_keys, load_key, lambda info: VideoSink(output, info, crf=crf, lossless=lossless),
                        propagation)
    return run(video, pipeline, RunOptions(mode=mode, align=align, blend=blend, weights=weights, device=device,
                                           batch_size=batch_size, report=report, on_frame=on_frame, model=model,
                                           shots=shots, allow_missing=allow_missing)).path
