"""Where a flow chain has failed, the key's property found by patch matching instead (an exemplar look-up).

A chain of optical flows that has failed (it left the frame, or its steps stopped agreeing: something uncovered, a
fast motion) points at the wrong part of the key, and the network, given that part, can only guess. Exemplar-based
colourisers look instead for where the key looks like the frame. Here: each failed pixel, at a small size, takes the
property of the key pixel whose lightness patch is most like its own, nearest to where the chain points, and that
is mixed half and half with the network's output there (``LOOKUP_WEIGHT``).

Chosen on six DAVIS train videos (online, keys every 30 frames, short side 240): +0.80 dB PSNR over the network
alone; weight 1 gained less (+0.23), as did a stronger pull towards the chain's position (+0.56 to +0.68). Used by
`vprop colorize` by default (``--no-lookup`` leaves it out): it costs 4-13% of the offline speed at 854x480 (README,
"Where no flow holds"). Not by HDR: LDR patches say little inside clipped highlights (log-RMSE rose 10-15% on the
interior dev clip).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

LOOKUP_WEIGHT = 0.5       # the look-up's share of a failed pixel's output
DISTANCE_WEIGHT = 0.3     # cost of matching a key pixel a whole frame's size from where the chain points
MATCH_SHORT_SIDE = 60     # the matching's size: a quarter of the working size (short side 240)
PATCH = 5
_QUERIES = 256           # failed pixels matched at once: their costs (6.6 MB, 16:9) stay in cache, 2x faster than 1024


@dataclass
class MatchableKey:
    """A key made ready to be matched at the matching's size: the frames propagated from it in a batch share it."""

    size: tuple[int, int]          # the matching's (width, height)
    candidates: torch.Tensor       # (PATCH^2 + 3, h*w): patch, position scaled to cost, squared norm; one a column
    prop: np.ndarray               # (h*w, C): the key's property at the matching's size
    to_cost: float                 # a small-size pixel's distance in the cost's units


def matchable(key_l: np.ndarray, key_prop: np.ndarray) -> MatchableKey:
    """``key_l``: the key's lightness (H, W); ``key_prop``: its property (C, H, W)."""
    small, _ = _matching_size(*key_l.shape)
    # One vector a pixel: its lightness patch, and its position scaled so that the squared distance between two
    # vectors is the matching's cost (patch SSD / PATCH^2 + DISTANCE_WEIGHT (distance / frame size)^2). The nearest
    # key vector minimises |k|^2 - 2 q.k (|q|^2 is the same for all of a query's candidates): one matrix product,
    # with |k|^2 as one more coordinate (the query's is 1).
    to_cost = float(np.sqrt(DISTANCE_WEIGHT) / max(small))      # a Python float: float32 arrays stay float32
    gy, gx = np.mgrid[0:small[1], 0:small[0]].astype(np.float32)
    candidates = torch.cat([_patches(key_l, small), torch.from_numpy(np.stack([gx.ravel(), gy.ravel()]) * to_cost)])
    candidates = torch.cat([candidates, (candidates ** 2).sum(0, keepdim=True)])
    prop = np.stack([cv2.resize(channel, small, interpolation=cv2.INTER_AREA).ravel() for channel in key_prop], 1)
    return MatchableKey(small, candidates, prop, to_cost)


def looked_up(key: MatchableKey, target_l: np.ndarray, prop: np.ndarray, failed: np.ndarray,
              coords: np.ndarray) -> np.ndarray:
    """``prop`` (C, H, W), with the pixels where ``failed`` (H, W bool) mixed with the key's property there.

    ``target_l``: the frame's lightness (H, W) on the key's scale; ``prop`` in the key's property's units;
    ``coords``: (H, W, 2) where the chain points in the key (its guess, even where it failed)."""
    height, width = failed.shape
    small, scale = _matching_size(height, width)
    lost = cv2.resize(failed.astype(np.float32), small, interpolation=cv2.INTER_AREA) > 0.25
    if not lost.any():
        return prop
    ys, xs = np.nonzero(lost)
    points_at = cv2.resize(coords, small, interpolation=cv2.INTER_LINEAR)[ys, xs] * scale
    target_patches = _patches(target_l, small)[:, torch.from_numpy(ys * small[0] + xs)]
    queries = torch.cat([-2 * target_patches.T, torch.from_numpy(-2 * key.to_cost * points_at),
                         torch.ones(len(ys), 1)], 1)
    # NumPy's argmin: several times torch's on a CPU, and the same first minimum.
    best = np.concatenate([(q @ key.candidates).numpy().argmin(1) for q in queries.split(_QUERIES)])
    # The output at the small size, with the key's property where matched, enlarged: the matched property varies
    # smoothly into the rest of the frame instead of in blocks. Channel by channel: no transposed copies.
    matched = np.empty_like(prop)
    for channel, out in enumerate(prop):
        shrunk = cv2.resize(out, small, interpolation=cv2.INTER_AREA)
        shrunk[ys, xs] = key.prop[best, channel]
        matched[channel] = cv2.resize(shrunk, (width, height), interpolation=cv2.INTER_LINEAR)
    mix = np.float32(LOOKUP_WEIGHT) * failed
    return prop + mix * (matched - prop)


def _matching_size(height: int, width: int) -> tuple[tuple[int, int], float]:
    """The matching's (width, height) for a frame of ``height`` x ``width``, and its scale."""
    scale = MATCH_SHORT_SIDE / min(height, width)
    return (max(1, round(width * scale)), max(1, round(height * scale))), scale


def _patches(lightness: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """(PATCH*PATCH, h*w) lightness patches of the image shrunk to ``size`` (width, height), one a column, divided by
    PATCH: their squared distances are the matching's patch term (SSD / PATCH^2)."""
    shrunk = torch.from_numpy(cv2.resize(lightness.astype(np.float32), size, interpolation=cv2.INTER_AREA))
    padded = F.pad(shrunk[None, None], (PATCH // 2,) * 4, mode="replicate")
    return F.unfold(padded, PATCH)[0] / PATCH
