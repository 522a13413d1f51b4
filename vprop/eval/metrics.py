"""The measures of the evaluations, each written once.

PSNR for colour; region similarity J and boundary F-measure for masks (Perazzi et al., CVPR 2016, the DAVIS
measures); CDC, colour distribution consistency, for flicker (Lei & Chen, CVPR 2019).
"""
from __future__ import annotations

import math
from collections import deque
from typing import Iterable

import cv2
import numpy as np


def psnr(mse: float) -> float:
    """Peak signal-to-noise ratio in dB of a mean squared error on the 0-255 scale."""
    return 10 * math.log10(255.0**2 / max(mse, 1e-10))


def jaccard(pred: np.ndarray, truth: np.ndarray) -> float:
    """Region similarity: intersection over union of two boolean masks; two empty masks agree (1.0)."""
    pred, truth = pred.astype(bool), truth.astype(bool)
    union = np.logical_or(pred, truth).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(pred, truth).sum() / union)


def boundary(mask: np.ndarray) -> np.ndarray:
    """Boundary pixels of a boolean mask: its morphological gradient (3x3)."""
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0


def tolerance(shape) -> int:
    """DAVIS boundary tolerance: round(0.008 x image diagonal) pixels, at least 1."""
    return max(1, round(0.008 * math.hypot(*shape[:2])))


def f_measure(pred: np.ndarray, truth: np.ndarray, radius: int | None = None) -> float:
    """Boundary F-measure: boundary pixels matched within a disk of ``radius`` (default: DAVIS tolerance)."""
    pb, tb = boundary(pred), boundary(truth)
    if not pb.any() and not tb.any():
        return 1.0
    if not pb.any() or not tb.any():
        return 0.0
    r = tolerance(pred.shape) if radius is None else radius
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    precision = (pb & (cv2.dilate(tb.astype(np.uint8), disk) > 0)).sum() / pb.sum()
    recall = (tb & (cv2.dilate(pb.astype(np.uint8), disk) > 0)).sum() / tb.sum()
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


# CDC compares frames this many apart (Lei & Chen, CVPR 2019, and the NTIRE 2023 video colourisation track).
CDC_STEPS = (1, 2, 4)


def channel_histograms(rgb: np.ndarray) -> np.ndarray:
    """(3, 256) float64: the distribution of each channel's 8-bit values in a uint8 (H, W, 3) frame."""
    counts = np.stack([np.bincount(rgb[..., c].ravel(), minlength=256) for c in range(3)]).astype(np.float64)
    return counts / counts.sum(1, keepdims=True)


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (natural log, 0..ln 2) between distributions along the last axis."""
    m = (p + q) / 2

    def kl_to_m(x):   # empty bins of x add nothing; where x > 0, m > 0 too
        return np.where(x > 0, x * np.log(np.where(x > 0, x, 1) / np.where(x > 0, m, 1)), 0.0).sum(-1)

    return (kl_to_m(p) + kl_to_m(q)) / 2


class ColorConsistency:
    """CDC of a frame sequence fed one frame at a time (memory: the last few histograms, not the frames).

    For each step k in ``CDC_STEPS``: the Jensen-Shannon divergence between the per-channel (R, G, B) value
    histograms of frames t and t + k, averaged over channels and over t; then the mean over the steps that
    the sequence is long enough for. 0 for a still image; flicker raises it; lower is steadier.
    """

    def __init__(self, steps: tuple[int, ...] = CDC_STEPS):
        self.steps = steps
        self.recent: deque[np.ndarray] = deque(maxlen=max(steps))
        self.sums = {k: 0.0 for k in steps}
        self.counts = {k: 0 for k in steps}

    def add(self, rgb: np.ndarray) -> None:
        hist = channel_histograms(rgb)
        for k in self.steps:
            if len(self.recent) >= k:
                self.sums[k] += float(js_divergence(self.recent[-k], hist).mean())
                self.counts[k] += 1
        self.recent.append(hist)

    @property
    def value(self) -> float:
        """The CDC so far; NaN before two frames."""
        means = [self.sums[k] / self.counts[k] for k in self.steps if self.counts[k]]
        return float(np.mean(means)) if means else float("nan")


def cdc(frames: Iterable[np.ndarray], steps: tuple[int, ...] = CDC_STEPS) -> float:
    """Colour distribution consistency of uint8 RGB frames (see ``ColorConsistency``); lower is steadier."""
    consistency = ColorConsistency(steps)
    for rgb in frames:
        consistency.add(rgb)
    return consistency.value
