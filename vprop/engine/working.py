"""The working size: propagate on frames shrunk to the short side the model was trained at, answer at each
frame's own size.

Why: the network's alignment cues are in pixels and were learned at that size, and a frame's cost (optical
flow, chain warps, network) grows with its area. What is propagated (chroma, radiance, object probabilities)
is mostly smooth: up-sampled bilinearly, it loses little (colour: bilinear chroma from short side 240 onto an
854x480 frame's own lightness is 48-53 dB from the truth on the DAVIS dev videos), and the task's ``finish``
joins it with the full-resolution frame's own detail (colour: its lightness L). What it does lose, the key's own
fine detail (a thin coloured stripe, a small highlight's radiance), is carried from the full-size key along the
alignment the loop already has (``carried_detail``, in the task's way: ``DETAILS``). Keys stay exact.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Collection, Iterable, Iterator, Mapping

import cv2
import numpy as np
import torch

from vprop.engine.confidence import FrameConfidence
from vprop.engine.keys import LazyKeys
from vprop.engine.flow import ChainedWarp, pixel_grid
from vprop.engine.propagator import Propagator, Settings, Side, Task
from vprop.io.video import VideoFrame


def working_short_side(model: torch.nn.Module) -> int | None:
    """The short side a model was trained at (the shipped ones: 240), the size to propagate at; None: no model
    (the baselines run at the frames' own size)."""
    cfg = getattr(model, "cfg", None)
    return int(cfg.extra.get("short_side", 240)) if cfg is not None else None


def propagation_short_side(model: torch.nn.Module | None, working_side: int | None = None,
                           full_resolution: bool = False) -> int | None:
    """The short side a run propagates at: the frames' own (None) with ``full_resolution`` or without a model (the
    baselines), else ``working_side``, else the model's training size. A larger side costs time for sharper
    results (the README's "Masks" gives both at 854x480)."""
    own = working_short_side(model)
    if own is None or full_resolution:
        return None
    return working_side or own


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


class PropertyOnly:
    """A task as the frame loop sees it at the working size: a frame's output is its propagated property,
    which ``propagate_at`` finishes on the full-size frame. Everything else is the task's own."""

    def __init__(self, task: Task):
        self.task = task

    def __getattr__(self, name):
        return getattr(self.task, name)

    def finish(self, prepared, prop):
        return prop


# How a frame gets back the key's detail that the working size loses (``Task.detail``):
# "fine": the key's fine detail (its output less its working-size output enlarged), carried along each side's
#     alignment and faded with the chain's confidence. Colour: chroma a little soft where the alignment is less
#     sure measured better than sharp (vprop.tasks.color.ColorTask.detail).
# "aligned": the key aligned at full size where its chain holds, so that a side the network leaves out is the key
#     warped at full size (``Task.near_key``). HDR: a highlight's radiance needs its edges where they are.
DETAILS = ("fine", "aligned")


@dataclass
class KeyDetail:
    """A key's output at full size and at the working size, in the (H, W, C) layout cv2.remap takes."""

    output: np.ndarray      # (C, H, W), the key frame's own output
    full: np.ndarray        # (H, W, C), the same
    small: np.ndarray       # (h, w, C), the working-size key's output
    fine: np.ndarray        # (H, W, C), full less small enlarged: what the working size loses
    gray: np.ndarray        # (H, W) uint8, the key frame's own luminance at full size (``refined_coords``)


def key_detail(output: np.ndarray, small: np.ndarray, gray: np.ndarray) -> KeyDetail:
    """A key's ``KeyDetail`` from its (C, H, W) output at full size, its (C, h, w) output at the working size and
    its frame's (H, W) uint8 luminance."""
    fine = output - enlarge(small, (output.shape[2], output.shape[1]))
    return KeyDetail(output, np.ascontiguousarray(output.transpose(1, 2, 0)),
                     np.ascontiguousarray(small.transpose(1, 2, 0)), np.ascontiguousarray(fine.transpose(1, 2, 0)),
                     gray)


def full_size_coords(chain: ChainedWarp, size: tuple[int, int]) -> np.ndarray:
    """A working-size chain's key coordinates at ``size`` (width, height): (H, W, 2) in full-size pixels."""
    h, w = chain.valid.shape
    scale = np.array([size[0] / w, size[1] / h], np.float32)
    shift = 0.5 * scale - 0.5
    # Pixel centres: x_full + 0.5 = (x_small + 0.5) * scale. Scaled before the (linear) resize, where there are a
    # fifth as many pixels at 854x480; by OpenCV's per-channel scalars, as NumPy's float32 arithmetic to the bit but
    # ~20x faster than NumPy broadcasting over a last axis of 2.
    scaled = cv2.add(cv2.multiply(chain.coords, (*scale.tolist(), 0, 0)), (*shift.tolist(), 0, 0))
    return cv2.resize(scaled, size, interpolation=cv2.INTER_LINEAR)


# A working-size chain's coordinates, enlarged, put a key's edges up to a working-size pixel or so from the frame's,
# and further after a long chain. "aligned" corrects them at full size by one optical flow between the frame and
# the key warped along them (``refined_coords``): OpenCV's ultrafast DIS preset carried down to half the frame's
# size, about 8 ms at 854x480 (down to the frame's own size it cost 37 ms and scored worse at K=10). A correction
# is cut at MAX_RESIDUAL pixels. HDR log-RMSE on 12 Poly Haven clips at 854x480, offline: -2.5% at K=10, -10% at
# K=20, -12% at K=40 (README, "HDR video").
MAX_RESIDUAL = 4.0


def residual_flow() -> cv2.DISOpticalFlow:
    """The flow that ``refined_coords`` corrects an enlarged alignment with (not safe to share between threads)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    dis.setFinestScale(1)
    return dis


def refined_coords(coords: np.ndarray, key_gray: np.ndarray, gray: np.ndarray, flow: cv2.DISOpticalFlow
                   ) -> np.ndarray:
    """Full-size key coordinates (H, W, 2) of a frame, corrected by ``flow`` (``residual_flow``) from the frame's
    luminance ``gray`` to the key's, ``key_gray``, warped along them."""
    warped = cv2.remap(key_gray, coords, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    residual = np.clip(flow.calc(gray, warped, None), -MAX_RESIDUAL, MAX_RESIDUAL)
    return cv2.remap(coords, pixel_grid(*gray.shape) + residual, None, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def carried_detail(sides: list[Side], details: Mapping[int, KeyDetail], size: tuple[int, int],
                   how: str = "fine", gray: np.ndarray | None = None,
                   flow: cv2.DISOpticalFlow | None = None) -> np.ndarray | None:
    """What the keys add to a frame's enlarged working-size output at ``size``, each side weighted by its share
    of the output (``how``: ``DETAILS``). (C, H, W); None without alignment.

    "fine": the key's fine detail warped along the side's chain, weighted also by the chain's confidence.
    "aligned": the key warped at full size less its working-size warp enlarged, where the chain holds: where the
    alignment failed the output is left smooth rather than given a wrong edge. With the frame's full-size
    luminance ``gray`` and a ``residual_flow``, the key's full-size warp follows ``refined_coords``."""
    total = None
    for side in sides:
        if side.chain is None:
            return None
        key = details[side.key_index]
        coords = full_size_coords(side.chain, size)
        if how == "aligned" and flow is not None:
            coords = refined_coords(coords, key.gray, gray, flow)
        if how == "fine":
            part = cv2.remap(key.fine, coords, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            weight = side.chain.confidence() * side.share
        else:
            part = cv2.remap(key.full, coords, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            part -= cv2.resize(side.chain.warp(key.small), size, interpolation=cv2.INTER_LINEAR).reshape(part.shape)
            weight = (~side.chain.failed()).astype(np.float32) * side.share
        weight = cv2.resize(np.ascontiguousarray(weight, np.float32), size, interpolation=cv2.INTER_LINEAR)
        # As ``part * weight[..., None]`` to the bit, ~5x faster (NumPy broadcasting over a short last axis is slow).
        part = part.reshape(size[1], size[0], -1)     # cv2.remap drops a single channel's axis
        part = cv2.multiply(part, cv2.merge([weight] * part.shape[2])).reshape(part.shape)
        if total is None:
            total = part
        else:
            total += part
    return None if total is None else total.transpose(2, 0, 1)


def propagate_at(size: tuple[int, int], model: torch.nn.Module, task: Task, settings: Settings,
                 frames: Iterable[VideoFrame], keys: Mapping[int, Any], shrink_key: Callable[[Any, tuple], Any],
                 on_confidence: Callable[[FrameConfidence], None] | None = None, cuts: Collection[int] = (),
                 on_key: Callable[[int, Any], None] | None = None, detail: bool = True
                 ) -> Iterator[tuple[VideoFrame, Any]]:
    """``Propagator(model, task, settings)`` run on the frames and keys shrunk to ``size`` (width, height):
    (frame, output) at each frame's own size, in decode order. A key frame's output is made from its
    full-size key data, so keys stay exact; each key's data is read once.

    ``shrink_key(data, size)``: a key's data at the working size (colour: its Lab image, area-averaged).
    ``on_confidence`` gets the trust maps at the working size; ``on_key`` the full-size keys, as
    ``Propagator`` hands them out. ``detail``: what the working size loses of the key is brought back to each
    frame along the full-size alignment, the task's way (``carried_detail``, ``Task.detail``); without it the
    propagated property is only enlarged.
    """
    if detail and task.detail not in DETAILS:
        raise ValueError(f"{type(task).__name__}.detail must be one of {DETAILS}")
    # The flow is estimated down to the working size's own resolution (``Settings.working_flow``): "medium" stops
    # at half of it, which at full size is what the baselines use but at the working size lost 0.35 dB of colour PSNR.
    loop = Propagator(model, PropertyOnly(task), replace(settings, flow=settings.working_flow))
    flow = residual_flow() if detail and task.detail == "aligned" else None
    full_size: tuple[int, int] | None = None
    originals: dict[int, VideoFrame] = {}      # full-size frames the loop has taken and not answered yet
    data: dict[int, Any] = {}                  # a key's full-size data, from its read until its key is built
    details: dict[int, KeyDetail] = {}         # the keys the frames still to answer come from
    sides_of: dict[int, list[Side]] = {}

    def shrunk_frames():
        nonlocal full_size
        for frame in frames:
            originals[frame.index] = frame
            full_size = (frame.rgb.shape[1], frame.rgb.shape[0])
            yield VideoFrame(frame.index, shrink(frame.rgb, size), frame.pts, frame.time_base)

    def shrunk_key(index):
        data[index] = keys[index]
        return shrink_key(data[index], size)

    def built(index, small_key):
        prepared = task.prepare(originals[index].rgb)
        key = task.key(prepared, data.pop(index))
        small_output = task.key_output(task.prepare(shrink(originals[index].rgb, size)), small_key)
        details[index] = key_detail(task.key_output(prepared, key), small_output, task.gray(prepared))
        if on_key is not None:
            on_key(index, key)

    # The keys are read by index (``shrunk_key``) so that the full-size data read once builds the full-size key.
    small_keys = LazyKeys({index: index for index in keys}, shrunk_key)
    for frame, prop in loop(shrunk_frames(), small_keys, on_confidence, cuts=cuts, on_key=built,
                            on_sides=sides_of.__setitem__ if detail else None):
        original = originals.pop(frame.index)
        prepared = task.prepare(original.rgb)
        if frame.index in details:
            # Frames come in decode order: the ones before this key are done, and no later one comes from an
            # earlier key.
            for index in [i for i in details if i < frame.index]:
                del details[index]
            prop = details[frame.index].output
        else:
            prop = enlarge(prop, full_size)
            fine = carried_detail(sides_of.pop(frame.index, []), details, full_size, task.detail,
                                  task.gray(prepared) if flow is not None else None, flow)
            if fine is not None:
                prop = prop + fine
        yield original, task.finish(prepared, prop)
