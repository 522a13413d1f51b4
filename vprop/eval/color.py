"""Colour quality measured the way users judge it: vprop against what they would do otherwise, on the same
frames (the baselines: ``vprop.eval.baselines``)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch

from vprop.engine.working import propagation_short_side, working_size
from vprop.eval.baselines import Methods, baseline_methods, model_settings
from vprop.eval.metrics import ColorConsistency, psnr
from vprop.io.video import VideoFrame
from vprop.pipelines.colorize import propagate_color
from vprop.tasks.color import rgb_to_lab


@dataclass
class Scores:
    """Per-frame RGB MSE (0-255 scale) over the non-key frames, and the distance of each from its key; the
    flicker (CDC) of the whole output, keys included, as it plays."""

    mse: list[float] = field(default_factory=list)
    distance: list[int] = field(default_factory=list)
    samples: dict[int, np.ndarray] = field(default_factory=dict)   # frame index -> output, for reports
    cdc: float = float("nan")

    @property
    def rmse(self) -> float:
        return math.sqrt(float(np.mean(self.mse)))

    @property
    def psnr(self) -> float:
        return float(np.mean([psnr(m) for m in self.mse]))

    def psnr_by_distance(self) -> dict[int, float]:
        """Mean PSNR of the frames at each distance from their key, by increasing distance."""
        return {d: float(np.mean([psnr(m) for m, dd in zip(self.mse, self.distance) if dd == d]))
                for d in sorted(set(self.distance))}


def color_methods(model: torch.nn.Module, mode: str, device: str = "cpu", batch_size: int = 4) -> Methods:
    """The baselines (with flow-2sided when offline), then vprop as `vprop colorize` runs it."""
    methods = baseline_methods(batch_size, two_sided=mode == "offline")
    methods["vprop"] = (model, model_settings(model, mode, device, batch_size, repair=True, lookup=True,
                                              key_check=True))
    return methods


def evaluate_color(frames: Callable[[], Iterator[VideoFrame]], interval: int,
                   methods: Methods, keep: set[int] = frozenset(), full_resolution: bool = False,
                   working_side: int | None = None) -> dict[str, Scores]:
    """Keys every ``interval`` frames from the ground truth; each method colours the rest from L alone, as
    `vprop colorize` runs it: a network at its working size (``vprop.engine.working``; ``working_side``: that short
    side) unless ``full_resolution``, the baselines at the frames' own size. (The ground truth's own CDC, for
    comparison: ``vprop.eval.metrics.cdc``.)

    ``keep``: frame indices whose outputs are kept in ``Scores.samples`` (for reports).
    """
    keys = {f.index: rgb_to_lab(f.rgb) for f in frames() if f.index % interval == 0}
    height, width = next(iter(keys.values())).shape[:2]
    results = {}
    for name, (model, settings) in methods.items():
        scores, consistency = Scores(), ColorConsistency()
        truth = frames()
        size = working_size(width, height, propagation_short_side(model, working_side, full_resolution))
        for frame, out in propagate_color(model, settings, frames(), keys, size):
            gt = next(truth)
            consistency.add(out)
            if frame.index in keys:
                continue
            scores.mse.append(float(np.mean((out.astype(np.float32) - gt.rgb.astype(np.float32)) ** 2)))
            scores.distance.append(frame.index % interval)
            if frame.index in keep:
                scores.samples[frame.index] = out
        scores.cdc = consistency.value
        results[name] = scores
    return results
