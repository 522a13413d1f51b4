"""What users would do instead of vprop, run through the same frame loop, and the frames all methods see.

The baselines use a model that returns its input unchanged: aligned, that is the key warped by chained DIS
optical flow; unaligned, the key copied.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import cv2
import torch

from vprop.engine.propagator import Settings
from vprop.io.video import VideoFrame, read_frames
from vprop.models.tpn import model_aligned

Methods = dict[str, tuple[torch.nn.Module, Settings]]


class Passthrough(torch.nn.Module):
    """A 'model' that keeps the key's (aligned) property: the copy and optical-flow baselines."""

    def forward(self, guidance: torch.Tensor, prop: torch.Tensor) -> torch.Tensor:
        return prop


def resized_frames(path: Path, short_side: int | None, limit: int | None = None) -> Iterator[VideoFrame]:
    """The video's frames (the first ``limit``), resized (area) so the short side is ``short_side``, even sizes."""
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


def baseline_methods(batch_size: int = 4, two_sided: bool = False) -> Methods:
    """copy: the key copied; flow: the key warped by chained DIS flow (both online, from the preceding key);
    with ``two_sided``, flow-2sided: both keys warped and blended, as vprop's offline mode blends."""
    methods = {
        "copy": (Passthrough(), Settings(mode="online", align=False, batch_size=batch_size)),
        "flow": (Passthrough(), Settings(mode="online", align=True, batch_size=batch_size)),
    }
    if two_sided:
        methods["flow-2sided"] = (Passthrough(), Settings(mode="offline", align=True, batch_size=batch_size))
    return methods


def model_settings(model: torch.nn.Module, mode: str, device: str = "cpu", batch_size: int = 4,
                   repair: bool = False, lookup: bool = False, key_check: bool = False) -> Settings:
    """How vprop runs ``model``: flow-aligned weights align their keys, the paper's plain TPN does not.
    ``repair``: aligned, mend broken chains (``Settings.repair``; colour and HDR runs do, as their pipelines).
    ``lookup``: aligned, look the key's property up where chains failed (``Settings.lookup``; colour runs do).
    ``key_check``: aligned, check the network against the flow-aligned key at the keys' frames (offline,
    ``Settings.key_check``; colour runs do).
    The flow baselines keep plain chains: the script a user would write."""
    aligned = model_aligned(model)
    return Settings(mode=mode, align=aligned, repair=repair and aligned, lookup=lookup and aligned,
                    key_check=key_check and aligned, batch_size=batch_size, device=device)
