"""Quality measured the way users judge it: vprop against what they would do otherwise, on the same frames.

The baselines run through the same frame loop as vprop with a model that returns its input unchanged:
aligned, that is chained DIS optical-flow warping of the key; unaligned, copying the key.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
import torch

from vprop.io.video import VideoFrame, read_frames
from vprop.pipelines.base import Propagator, Settings
from vprop.pipelines.colorize import ColorTask


class Passthrough(torch.nn.Module):
    """A 'model' that keeps the key's (aligned) property: the copy and optical-flow baselines."""

    def forward(self, guidance: torch.Tensor, prop: torch.Tensor) -> torch.Tensor:
        return prop


def resized_frames(path: Path, short_side: int | None, limit: int | None = None) -> Iterator[VideoFrame]:
    for frame in read_frames(path):
        if limit is not None and frame.index >= limit:
            return
        if short_side:
            h, w = frame.rgb.shape[:2]
            s = short_side / min(h, w)
            size = (round(w * s / 2) * 2, round(h * s / 2) * 2)
            frame = VideoFrame(frame.index, cv2.resize(frame.rgb, size, interpolation=cv2.INTER_AREA),
                               frame.pts, frame.time_base)
        yield frame


def psnr(mse: float) -> float:
    return 10 * math.log10(255.0**2 / max(mse, 1e-10))


@dataclass
class Scores:
    """Per-frame RGB MSE (0-255 scale) over the non-key frames, and the distance of each from its key."""

    mse: list[float] = field(default_factory=list)
    distance: list[int] = field(default_factory=list)
    samples: dict[int, np.ndarray] = field(default_factory=dict)   # frame index -> output, for reports

    @property
    def rmse(self) -> float:
        return math.sqrt(float(np.mean(self.mse)))

    @property
    def psnr(self) -> float:
        return float(np.mean([psnr(m) for m in self.mse]))


def color_methods(model: torch.nn.Module, mode: str, device: str = "cpu", batch_size: int = 4
                  ) -> dict[str, tuple[torch.nn.Module, Settings]]:
    align = bool(getattr(model, "cfg", None) is None or model.cfg.extra.get("aligned", True))
    methods = {
        "copy": (Passthrough(), Settings(mode="online", align=False, batch_size=batch_size)),
        "flow": (Passthrough(), Settings(mode="online", align=True, batch_size=batch_size)),
    }
    if mode == "offline":
        methods["flow-2sided"] = (Passthrough(), Settings(mode="offline", align=True, batch_size=batch_size))
    methods["vprop"] = (model, Settings(mode=mode, align=align, batch_size=batch_size, device=device))
    return methods


def evaluate_color(frames: Callable[[], Iterator[VideoFrame]], interval: int,
                   methods: dict[str, tuple[torch.nn.Module, Settings]], keep: set[int] = frozenset()
                   ) -> dict[str, Scores]:
    """Keys every ``interval`` frames from the ground truth; each method colours the rest from L alone.

    ``keep``: frame indices whose outputs are kept in ``Scores.samples`` (for reports).
    """
    task = ColorTask()
    keys = {f.index: task.prepare_key(f.rgb) for f in frames() if f.index % interval == 0}
    results = {}
    for name, (model, settings) in methods.items():
        scores = Scores()
        truth = frames()
        for frame, out in Propagator(model, task, settings)(frames(), keys):
            gt = next(truth)
            if frame.index in keys:
                continue
            scores.mse.append(float(np.mean((out.astype(np.float32) - gt.rgb.astype(np.float32)) ** 2)))
            scores.distance.append(frame.index % interval)
            if frame.index in keep:
                scores.samples[frame.index] = out
        results[name] = scores
    return results
