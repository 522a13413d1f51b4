"""The working size: propagate on frames shrunk to the short side the model was trained at, answer at each
frame's own size.

Why: the network's alignment cues are in pixels and were learned at that size, and a frame's cost (optical
flow, chain warps, network) grows with its area. What is propagated (chroma, radiance, object probabilities)
is smooth: up-sampled bilinearly, it loses little (colour: bilinear chroma from short side 240 onto an
854x480 frame's own lightness is 48-53 dB from the truth on the DAVIS dev videos), and the task's ``finish``
joins it with the full-resolution frame's own detail (colour: its lightness L). Keys stay exact.
"""
from __future__ import annotations

from dataclasses import replace
from itertools import tee
from typing import Any, Callable, Collection, Iterable, Iterator, Mapping

import cv2
import numpy as np
import torch

from vprop.engine.confidence import FrameConfidence
from vprop.engine.keys import LazyKeys
from vprop.engine.propagator import Propagator, Settings, Task
from vprop.io.video import VideoFrame


def working_short_side(model: torch.nn.Module) -> int | None:
    """The short side a model was trained at (the shipped ones: 240), the size to propagate at; None: no model
    (the baselines run at the frames' own size)."""
    cfg = getattr(model, "cfg", None)
    return int(cfg.extra.get("short_side", 240)) if cfg is not None else None


def working_size(width: int, height: int, short_side: int | None) -> tuple[int, int] | None:
    """(width, height) of a frame shrunk to ``short_side``; None where the frame is no larger than that."""
    if not short_side or min(width, height) <= short_side:
        return None
    scale = short_side / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An (H, W[, C]) image at ``size`` (width, height), area-averaged."""
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def shrink_frames(frames: Iterable[VideoFrame], size: tuple[int, int]) -> Iterator[VideoFrame]:
    return (VideoFrame(f.index, shrink(f.rgb, size), f.pts, f.time_base) for f in frames)


def enlarge(prop: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A (C, h, w) property up-sampled bilinearly to ``size`` (width, height)."""
    return np.stack([cv2.resize(p, size, interpolation=cv2.INTER_LINEAR) for p in prop]) if len(prop) \
        else np.zeros((0, size[1], size[0]), prop.dtype)


class _PropertyOnly:
    """A task as the frame loop sees it at the working size: a frame's output is its propagated property,
    which ``propagate_at`` finishes on the full-size frame. Everything else is the task's own."""

    def __init__(self, task: Task):
        self.task = task

    def __getattr__(self, name):
        return getattr(self.task, name)

    def finish(self, prepared, prop):
        return prop


def propagate_at(size: tuple[int, int], model: torch.nn.Module, task: Task, settings: Settings,
                 frames: Iterable[VideoFrame], keys: Mapping[int, Any], shrink_key: Callable[[Any, tuple], Any],
                 on_confidence: Callable[[FrameConfidence], None] | None = None, cuts: Collection[int] = ()
                 ) -> Iterator[tuple[VideoFrame, Any]]:
    """``Propagator(model, task, settings)`` run on the frames and keys shrunk to ``size`` (width, height):
    (frame, output) at each frame's own size, in decode order. A key frame's output is made from its
    full-size key data, so keys stay exact.

    ``shrink_key(data, size)``: a key's data at the working size (colour: its Lab image, area-averaged).
    ``on_confidence`` gets the trust maps at the working size. ``keys`` is read twice per key (lazy key files
    are loaded twice): once shrunk for the loop, once for the key frame's own full-size output.
    """
    # The flow is estimated down to the working size's own resolution ("fast-full"): the default stops at half of
    # it, which at full size is what the baselines use but at the working size lost 0.35 dB of colour PSNR.
    loop = Propagator(model, _PropertyOnly(task), replace(settings, flow="fast-full"))
    # The outputs come in decode order: each pairs with its original frame from a second view of the stream
    # (tee holds only the frames the loop itself holds).
    originals, frames = tee(frames)
    small_keys = LazyKeys(keys, lambda data: shrink_key(data, size))
    for original, (frame, prop) in zip(originals, loop(shrink_frames(frames, size), small_keys, on_confidence,
                                                       cuts=cuts)):
        assert original.index == frame.index, "outputs out of decode order"
        prepared = task.prepare(original.rgb)
        if frame.index in keys:
            prop = task.key_output(prepared, task.key(prepared, keys[frame.index]))
        else:
            prop = enlarge(prop, (original.rgb.shape[1], original.rgb.shape[0]))
        yield original, task.finish(prepared, prop)
