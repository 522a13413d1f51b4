"""Key-frame alignment by chained DIS optical flow (OpenCV), with the cues the network uses to judge the warp.

A key is aligned to frame t by following every pixel of t back to the key through the per-frame flows,
one step per frame: the cumulative map costs one remap per frame however far the key is, and each flow is
computed once and reused by every key that chains through it.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np


def to_gray_u8(rgb_or_l: np.ndarray) -> np.ndarray:
    """Flow input: 8-bit luminance. Accepts RGB uint8 or a float L channel in [0, 100]."""
    if rgb_or_l.ndim == 3:
        return cv2.cvtColor(rgb_or_l, cv2.COLOR_RGB2GRAY)
    return np.clip(rgb_or_l * 2.55, 0, 255).astype(np.uint8)


# DIS configurations by name: (OpenCV preset, finest pyramid level estimated, patch stride; None: the preset's own).
FLOW_PRESETS = {
    # OpenCV's medium preset, which estimates down to half the frames' size (level 1) and up-samples from there:
    # at full size (854x480 -> 427x240) the flow of the baselines, and the flow the shipped weights trained with.
    "medium": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, None, None),
    # The fast preset's search carried down to the frames' own size (level 0): for the working size (short side
    # 240), where "medium" stops at 213x120 and lost 0.35 dB of colour PSNR; this matches full-size flow's quality
    # online (DAVIS dev videos at 854x480) at about 60% of the cost of level 0 with the medium preset, though not
    # with keys 10 apart offline (-0.23 dB on 8 clips; see "medium-full"). Patches every 6 pixels instead of the
    # preset's 4: ~0.65x the time per flow at 427x240, colour PSNR -0.02 dB, CDC unchanged
    # (benchmarks/eval_color_sizes.py --interval 10 --mode online: 38.67 against 38.69 dB).
    "fast-full": (cv2.DISOPTICAL_FLOW_PRESET_FAST, 0, 6),
    # The medium preset carried down to the frames' own size: at the working size, where keys are close and the
    # motion fast, it tracks better (colour, 8 clips at their own size, offline K=10: +0.14 dB, breakdance-flare
    # +0.32; online +0.07) but vprop ran at 0.80x the flow baseline against 0.96x with "fast-full" (README),
    # so it is not the default (Settings.working_flow).
    "medium-full": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, 0, None),
}


class FlowEstimator:
    """Dense optical flow between consecutive frames (DIS, Kroeger et al. 2016); ``preset``: a FLOW_PRESETS name."""

    def __init__(self, preset: str = "medium"):
        if preset not in FLOW_PRESETS:
            raise ValueError(f"flow preset must be one of {tuple(FLOW_PRESETS)}")
        # The second instance estimates the other direction of ``both_ways`` at the same time: an instance is not
        # safe to call from two threads.
        self._dis, self._dis_back = _dis(preset), _dis(preset)

    def __call__(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Flow (H, W, 2) float32 such that src(p) corresponds to dst(p + flow(p))."""
        return self._dis.calc(src, dst, None)

    def both_ways(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(a -> b, b -> a), the two estimated at once on two threads (OpenCV releases the GIL). At the working
        size one DIS call leaves the second core mostly idle: on 2 cores a pair at 427x240 takes ~0.7x the time
        of two calls in turn, and as long as they do at 854x480, where one call already uses both. The results
        are those of two calls in turn. Where OpenCV is given one thread (a worker process of several), one after
        the other."""
        if cv2.getNumThreads() < 2:
            return self._dis.calc(a, b, None), self._dis_back.calc(b, a, None)
        with ThreadPoolExecutor(1) as pool:
            back = pool.submit(self._dis_back.calc, b, a, None)
            return self._dis.calc(a, b, None), back.result()

    def both_ways_at_half(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(a -> b, b -> a) estimated on the images at half size, answered at full size: a quarter of the cost."""
        h, w = a.shape
        half = lambda image: cv2.resize(image, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)  # noqa: E731
        up = lambda flow: cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) * np.float32(2.0)  # noqa: E731
        return tuple(up(flow) for flow in self.both_ways(half(a), half(b)))


def _dis(preset: str):
    dis_preset, finest_scale, patch_stride = FLOW_PRESETS[preset]
    dis = cv2.DISOpticalFlow_create(dis_preset)
    if finest_scale is not None:
        dis.setFinestScale(finest_scale)
    if patch_stride is not None:
        dis.setPatchStride(patch_stride)
    return dis


BROKEN = 2.0     # pixels of accumulated forward-backward inconsistency beyond which a chain is taken as failed


def pixel_grid(height: int, width: int) -> np.ndarray:
    """Each pixel's own (x, y), (H, W, 2) float32: the coordinates of no motion, as cv2.remap takes them."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([xs, ys], -1)


def _followed(flow: np.ndarray, flow_back: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each pixel lands along ``flow`` (H, W, 2), whether that is inside the frame, and the flow's
    forward-backward inconsistency there in pixels (``flow_back``: the flow the other way)."""
    h, w = flow.shape[:2]
    where = pixel_grid(h, w) + flow
    inside = (where[..., 0] >= 0) & (where[..., 0] <= w - 1) & (where[..., 1] >= 0) & (where[..., 1] <= h - 1)
    back = cv2.remap(flow_back, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    miss = flow + back
    # The length of each pixel's miss, as np.linalg.norm(miss, axis=-1) gives it to the bit, in a third of its time.
    return where, inside, np.sqrt(np.einsum("...i,...i->...", miss, miss))


@dataclass
class ChainedWarp:
    """Where each pixel of the current frame came from in the key frame, and how much to trust it.

    ``coords``: (H, W, 2) key-frame coordinates; ``valid``: 1 while the chain stayed inside the frame;
    ``error``: forward-backward flow inconsistency accumulated along the chain, in pixels.
    """

    coords: np.ndarray
    valid: np.ndarray
    error: np.ndarray
    unmended: float = 0.0     # the fraction still broken right after the chain's last repair (``repaired``)

    @classmethod
    def identity(cls, height: int, width: int) -> "ChainedWarp":
        return cls(pixel_grid(height, width), np.ones((height, width), np.float32),
                   np.zeros((height, width), np.float32))

    def step(self, to_prev: np.ndarray, from_prev: np.ndarray) -> "ChainedWarp":
        """Extend the chain by one frame.

        ``to_prev``: flow from the new frame to the previous frame of the chain; ``from_prev``: the flow the
        other way, used only for the consistency check.
        """
        where, inside, inconsistency = _followed(to_prev, from_prev)
        coords = cv2.remap(self.coords, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        valid = cv2.remap(self.valid, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        error = cv2.remap(self.error, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) + inconsistency
        return ChainedWarp(coords, valid * inside, error, self.unmended)

    def failed(self) -> np.ndarray:
        """Where the chain has failed: it left the frame, or its accumulated inconsistency is over ``BROKEN``
        pixels. (H, W) bool."""
        return (self.valid < 0.5) | (self.error > BROKEN)

    def broken(self) -> float:
        """The fraction of the frame where the chain has failed (``failed``)."""
        return float(np.mean(self.failed()))

    def repaired(self, to_key: np.ndarray, from_key: np.ndarray) -> "ChainedWarp":
        """The chain, with a direct flow to the key frame taken where the chain failed and that flow holds.

        A chain of per-frame flows breaks for good once one step fails (fast motion, a passing occluder), and
        everything behind it then warps the wrong part of the key; a flow estimated straight between the frame
        and the key (``to_key``, and ``from_key`` the other way for its consistency check) often still finds
        it. Where the chain has failed and the direct flow's forward-backward inconsistency is under half a
        pixel, its coordinates and inconsistency replace the chain's."""
        where, inside, inconsistency = _followed(to_key, from_key)
        # Only where the direct flow is nearly exact: over-eager replacement, wherever the direct flow was merely
        # more consistent than the chain, lost 0.35 dB on lucia.
        better = inside & self.failed() & (inconsistency < 0.5)
        mended = ChainedWarp(np.where(better[..., None], where, self.coords),
                             np.where(better, 1.0, self.valid).astype(np.float32),
                             np.where(better, inconsistency, self.error).astype(np.float32))
        mended.unmended = mended.broken()
        return mended

    def warp(self, image: np.ndarray) -> np.ndarray:
        """Sample a key-frame image (H, W[, C]) at the chain's coordinates."""
        return cv2.remap(image, self.coords, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def confidence(self, scale: float = 2.0) -> np.ndarray:
        """Trust in [0, 1]: zero outside the frame, decaying with the accumulated inconsistency."""
        return self.valid * np.exp(-self.error / scale)
