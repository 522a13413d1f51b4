"""Object-mask propagation (paper Sec. 5.4): the guidance is RGB, the propagated property is one soft mask per object.

The number of objects differs from video to video, so the network propagates one object's mask at a time
(``property_channels=1``; objects are folded into the batch and share one guidance run); the background is
``1 - max(objects)`` and the label of a pixel is the arg-max.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from vprop.engine.flow import ChainedWarp


def guidance_channels(aligned: bool) -> int:
    """Aligned: target RGB, warped key RGB, |warped - target|, chain valid, chain confidence. Plain: both RGBs."""
    return 9 if aligned else 6


def object_ids(*label_maps: np.ndarray) -> tuple[int, ...]:
    """Sorted object indices (non-zero labels) present in any of the label maps."""
    ids: set[int] = set()
    for labels in label_maps:
        ids.update(int(v) for v in np.unique(labels) if v != 0)
    return tuple(sorted(ids))


def one_hot(labels: np.ndarray, ids: tuple[int, ...]) -> np.ndarray:
    """(P, H, W) float32: one soft mask per object of ``ids`` (background is implied)."""
    if not ids:
        return np.zeros((0, *labels.shape), np.float32)
    return np.stack([labels == i for i in ids]).astype(np.float32)


def to_labels(probs: np.ndarray, ids: tuple[int, ...]) -> np.ndarray:
    """(H, W) uint8 label map from per-object probabilities (P, H, W); background = 1 - max(objects)."""
    h, w = probs.shape[-2:]
    if not ids:
        return np.zeros((h, w), np.uint8)
    probs = np.clip(probs, 0.0, 1.0)
    scores = np.concatenate([1.0 - probs.max(0, keepdims=True), probs])
    lookup = np.array((0, *ids), np.uint8)
    return lookup[scores.argmax(0)]


COLOUR_BINS = 16       # histogram bins per Lab channel of the colour model


def _colour_index(rgb: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor((np.clip(rgb, 0, 1) * 255.0 + 0.5).astype(np.uint8), cv2.COLOR_RGB2LAB)
    q = lab.astype(np.int32) // (256 // COLOUR_BINS)
    return (q[..., 0] * COLOUR_BINS + q[..., 1]) * COLOUR_BINS + q[..., 2]


@dataclass
class SegKey:
    """A key: its frame's RGB (float 0..1, (H, W, 3)) and its objects' masks ((P, H, W) float32)."""

    rgb: np.ndarray
    masks: np.ndarray

    @cached_property
    def colour_posteriors(self) -> np.ndarray:
        """(P, COLOUR_BINS**3) float32: per object, the posterior of each colour bin being the object's rather
        than the rest of the frame's (two Lab histograms, add-one smoothed, equal priors). Built once per key,
        read for every frame propagated from it."""
        bins = COLOUR_BINS**3
        index = _colour_index(self.rgb)
        out = np.empty((len(self.masks), bins), np.float32)
        for i, mask in enumerate(self.masks):
            inside = mask > 0.5
            fg = np.bincount(index[inside], minlength=bins) + 1.0
            bg = np.bincount(index[~inside], minlength=bins) + 1.0
            fg, bg = fg / fg.sum(), bg / bg.sum()
            out[i] = fg / (fg + bg)
        return out


def colour_likelihood(key: SegKey, target_rgb: np.ndarray) -> np.ndarray:
    """(P, H, W) float32 in [0, 1]: per object, how much each target pixel's colour is the object's rather than
    the rest of the key frame's (``SegKey.colour_posteriors`` read at the target's colours), lightly blurred.

    Where the flow chain and the key's own mask disagree, this says which to believe, and it needs no
    alignment, so it does not drift: with it SEG(t) went from J 0.462 to above copying the first mask (0.489) on
    the held-out DAVIS videos (``benchmarks/eval_seg_dev.py``; the model card has the numbers).
    """
    target_index = _colour_index(target_rgb)
    sigma = min(target_rgb.shape[:2]) / 120.0
    out = np.empty((len(key.masks), *target_rgb.shape[:2]), np.float32)
    for i, posterior in enumerate(key.colour_posteriors):
        out[i] = cv2.GaussianBlur(posterior[target_index], (0, 0), sigma)
    return out


def model_inputs(target_rgb: np.ndarray, key: SegKey, chain: ChainedWarp | None, unaligned_key: bool = False,
                 appearance: bool = False):
    """Network inputs (guidance (C, H, W), property (P, H, W)) for segmenting a frame of RGB ``target_rgb``.

    With a chain the key's RGB and masks are aligned to the target first, and the network also sees how far
    to trust that alignment; without one, the paper's inputs (both RGB frames, the key's own masks).
    ``unaligned_key`` (with a chain): the property is (2P, H, W), the aligned masks then the key's own. A long
    flow chain drifts off a moving subject that the camera keeps in place; the key's own mask is the paper's
    input and the better start there (held-out DAVIS: J 0.35 for the warped first mask, 0.49 for the mask
    itself), so the network gets both and the alignment cues to choose by. ``appearance`` (with a chain): P
    more channels, the ``colour_likelihood`` of the target under the key's objects.
    """
    t = target_rgb.transpose(2, 0, 1)
    if chain is None:
        guidance = np.concatenate([key.rgb.transpose(2, 0, 1), t])
        prop = key.masks
    else:
        warped = chain.warp(key.rgb)
        diff = np.abs(warped - target_rgb).mean(-1) * 4.0
        guidance = np.concatenate([t, warped.transpose(2, 0, 1), diff[None], chain.valid[None],
                                   chain.confidence()[None]])
        if len(key.masks):
            masks = chain.warp(np.ascontiguousarray(key.masks.transpose(1, 2, 0)))
            prop = masks.reshape(*masks.shape[:2], -1).transpose(2, 0, 1)
            if unaligned_key:
                prop = np.concatenate([prop, key.masks])
            if appearance:
                prop = np.concatenate([prop, colour_likelihood(key, target_rgb)])
        else:
            prop = key.masks
    return (np.ascontiguousarray(guidance, dtype=np.float32), np.ascontiguousarray(prop, dtype=np.float32))


@dataclass
class SegTask:
    """Frames are seen as float RGB; a key is a SegKey (its frame's RGB and its objects' masks).

    ``ids``: the object indices of the whole video, in channel order (the same for every key, so that the
    propagations from two keys can be blended; a key without some object has an empty channel for it).
    """

    ids: tuple[int, ...]
    unaligned_key: bool = False     # the model's key inputs: see ``model_inputs``
    appearance: bool = False
    out_size: tuple[int, int] | None = None     # (width, height) of the output when frames were shrunk
    near_key: int = 0     # every frame runs the network (Task.near_key)

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        return rgb.astype(np.float32) / 255.0

    def gray(self, rgb: np.ndarray) -> np.ndarray:
        return cv2.cvtColor((rgb * 255.0 + 0.5).astype(np.uint8), cv2.COLOR_RGB2GRAY)

    def key(self, rgb: np.ndarray, labels: np.ndarray) -> SegKey:
        """A key from its mask file's (H, W) label map and the video's own frame under it."""
        return SegKey(rgb, one_hot(labels, self.ids))

    def inputs(self, rgb: np.ndarray, key: SegKey, chain: ChainedWarp | None):
        return model_inputs(rgb, key, chain, self.unaligned_key, self.appearance)

    def key_output(self, rgb: np.ndarray, key: SegKey) -> np.ndarray:
        return key.masks

    def empty(self, rgb: np.ndarray) -> np.ndarray:
        return np.zeros((len(self.ids), *rgb.shape[:2]), np.float32)     # no object: all background

    def finish(self, rgb: np.ndarray, probs: np.ndarray) -> np.ndarray:
        if self.out_size is not None and len(probs) and probs.shape[-2:] != self.out_size[::-1]:
            probs = np.stack([cv2.resize(p, self.out_size, interpolation=cv2.INTER_LINEAR) for p in probs])
        return to_labels(probs, self.ids)

