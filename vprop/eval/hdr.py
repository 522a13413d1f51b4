"""HDR quality on ground truth: every K-th HDR frame is a key, the LDR input is synthesised from the truth.

All methods run through the same frame loop (``vprop.pipelines.hdr.propagate_hdr``): the key copied, the key
warped by chained optical flow (both ``Passthrough``), the network, and the scaled inverted LDR alone. Each propagation is scored without
and with the LDR blending of eq. 10, as RMSE of log(H + 0.01) over the non-key frames (paper Table 3).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from vprop.engine.propagator import Settings
from vprop.engine.working import propagation_short_side, working_size
from vprop.errors import InputError
from vprop.eval.baselines import Passthrough, baseline_methods, model_settings
from vprop.eval.report import strip, write_figure
from vprop.io.images import eight_bit, find_indexed_files, read_linear_rgb
from vprop.io.video import VideoFrame
from vprop.pipelines.hdr import propagate_hdr
from vprop.tasks.hdr import (BLEND_RULE, HDRCNN_CURVE, Blender, CameraCurve, HDRKey, auto_exposure, log_rmse,
                             synthesize_ldr)


@dataclass
class HDRClip:
    """Ground-truth HDR frames and the LDR video synthesised from them; ``deep``: that video deeper than 8 bits
    (uint16), of which ``ldr`` is the 8-bit reading the networks see."""

    hdr: list[np.ndarray]
    ldr: list[np.ndarray]
    exposure: float
    deep: list[np.ndarray] | None = None

    def frames(self) -> Iterator[VideoFrame]:
        for i, rgb in enumerate(self.ldr):
            yield VideoFrame(i, rgb, i, Fraction(1, 25))


def load_clip(gt_dir, curve: CameraCurve = HDRCNN_CURVE, exposure: float | None = None,
              saturated: float = 0.10, limit: int | None = None, bits: int = 8) -> HDRClip:
    """The EXR (or .hdr) frames of ``gt_dir``, numbered 0, 1, ..., and their LDR video through ``curve`` at
    ``exposure`` (default: ``saturated`` of the pixels clip); ``bits`` above 8: that deep (the clip's ``deep``), its
    8-bit reading the ``ldr``."""
    files = find_indexed_files(gt_dir, (".exr", ".hdr"))
    indices = sorted(files)
    if indices != list(range(len(indices))):
        raise InputError(gt_dir, "frames must be numbered 0, 1, 2, ... without gaps")
    if limit:
        indices = indices[:limit]
    hdr = []
    for i in indices:
        rgb = np.clip(np.nan_to_num(read_linear_rgb(files[i]), nan=0.0, posinf=0.0, neginf=0.0), 0, None)
        if hdr and rgb.shape != hdr[0].shape:
            raise InputError(files[i], f"size {rgb.shape[1]}x{rgb.shape[0]} differs from frame 0")
        hdr.append(rgb)
    if len(hdr) < 2:
        raise InputError(gt_dir, "need at least two frames")
    exposure = auto_exposure(hdr, saturated) if exposure is None else exposure
    if bits == 8:
        return HDRClip(hdr, [synthesize_ldr(h, exposure, curve) for h in hdr], exposure)
    deep = [synthesize_ldr(h, exposure, curve, bits) for h in hdr]
    return HDRClip(hdr, [eight_bit(d) for d in deep], exposure, deep)


@dataclass
class HDRScores:
    raw: list[float] = field(default_factory=list)        # per-frame log RMSE, network/baseline alone
    blended: list[float] = field(default_factory=list)    # with eq. 10 blending
    distance: list[int] = field(default_factory=list)
    samples: dict[int, np.ndarray] = field(default_factory=dict)   # blended outputs kept for reports

    @property
    def rmse(self) -> float:
        """Log RMSE of the estimate alone over the non-key frames (the per-frame values' root mean square)."""
        return root_mean_square(self.raw)

    @property
    def rmse_blended(self) -> float:
        """Log RMSE after the LDR blending of eq. 10, pooled the same way."""
        return root_mean_square(self.blended)


def root_mean_square(values) -> float:
    return math.sqrt(float(np.mean(np.square(values)))) if values else float("nan")


def hdr_methods(model: torch.nn.Module, mode: str = "offline", device: str = "cpu", batch_size: int = 4
                ) -> dict[str, tuple[torch.nn.Module, Settings, bool]]:
    """name -> (model, settings, inverted_only)."""
    methods = {name: (baseline, settings, False)
               for name, (baseline, settings) in baseline_methods(batch_size, two_sided=mode == "offline").items()}
    methods["inverted-ldr"] = (Passthrough(), Settings(mode=mode, align=False, batch_size=batch_size), True)
    methods["vprop"] = (model, model_settings(model, mode, device, batch_size, repair=True), False)
    return methods


def evaluate_hdr(clip: HDRClip, interval: int, methods, log_mean: float = 0.0,
                 curve: CameraCurve = HDRCNN_CURVE, keep: set[int] = frozenset(),
                 on_frame: Callable[[], None] | None = None, rule: str = BLEND_RULE,
                 full_resolution: bool = False, working_side: int | None = None) -> dict[str, HDRScores]:
    """Keys every ``interval`` frames from the clip's true radiance; each method propagates them as `vprop hdr`
    runs it: a network at its working size (``vprop.engine.working``; ``working_side``: that short side) unless
    ``full_resolution``, the baselines at the frames' own size. A clip with a ``deep`` video is blended at its depth,
    as `vprop hdr` blends a deep source, and at 8 bits too (each method's name with " at 8 bits")."""
    keys = {i: clip.hdr[i] for i in range(0, len(clip.hdr), interval)}
    height, width = clip.hdr[0].shape[:2]
    depths = {"": clip.ldr} if clip.deep is None else {"": clip.deep, " at 8 bits": clip.ldr}
    results = {}
    for name, (model, settings, inverted_only) in methods.items():
        blenders = {depth: Blender(curve, settings.mode, inverted_only=inverted_only, rule=rule) for depth in depths}
        for depth, blender in blenders.items():
            for i in keys:
                blender.add_key(i, HDRKey(clip.hdr[i], depths[depth][i]))
        scores = {depth: HDRScores() for depth in depths}
        size = working_size(width, height, propagation_short_side(model, working_side, full_resolution))
        for frame, estimate in propagate_hdr(model, settings, clip.frames(), keys, size, log_mean=log_mean):
            if on_frame:
                on_frame()
            if frame.index in keys:
                continue
            gt = clip.hdr[frame.index]
            for depth, blender in blenders.items():
                out = blender(frame.index, depths[depth][frame.index], estimate)
                scores[depth].raw.append(log_rmse(out if inverted_only else estimate, gt))
                scores[depth].blended.append(log_rmse(out, gt))
                scores[depth].distance.append(frame.index % interval)
                if frame.index in keep:
                    scores[depth].samples[frame.index] = out
        results.update({name + depth: score for depth, score in scores.items()})
    return results


def display(hdr: np.ndarray, exposure: float) -> np.ndarray:
    """A simple exposure + sRGB-like gamma rendering, uint8 RGB (for reports)."""
    return np.clip((np.clip(hdr, 0, None) * exposure) ** (1 / 2.2) * 255 + 0.5, 0, 255).astype(np.uint8)


def hdr_report(directory, interval: int, clip: HDRClip, scores: dict[str, HDRScores]) -> list[Path]:
    """Strips (ground truth, LDR, vprop, error) at two display exposures: mid-tones and highlights."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    samples = scores["vprop"].samples
    if not samples:
        return []
    mid = 0.18 / max(float(np.median(np.concatenate([clip.hdr[i].ravel() for i in samples]))), 1e-6)
    written = []
    for label, exposure in (("mid", mid), ("highlights", mid / 16)):
        truth = {i: display(clip.hdr[i], exposure) for i in samples}
        outputs = {"LDR": {i: clip.ldr[i] for i in samples},
                   "vprop": {i: display(samples[i], exposure) for i in samples}}
        path = directory / f"hdr_K{interval}_{label}.png"
        write_figure(path, strip(truth, outputs))
        written.append(path)
    return written
