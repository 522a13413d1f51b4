"""Where a flow chain has failed, the key's property found by patch matching instead (an exemplar look-up).

A chain of optical flows that has failed (it left the frame, or its steps stopped agreeing: something uncovered, a
fast motion) points at the wrong part of the key, and the network, given that part, can only guess. Exemplar-based
colourisers look instead for where the key looks like the frame. Here: each failed pixel, at a small size, takes the
property of the key pixel whose lightness patch is most like its own, nearest to where the chain points, and that
is mixed half and half with the network's output there (``LOOKUP_WEIGHT``).

Chosen on six DAVIS train videos (online, keys every 30 frames, short side 240): +0.80 dB PSNR over the network
alone; weight 1 gained less (+0.23), as did a stronger pull towards the chain's position (+0.56 to +0.68). Used by
`vprop colorize --lookup`: off by default, as it costs 11% of the offline speed at 854x480 (README, "Where no flow
holds"). Not by HDR: LDR patches say little inside clipped highlights (log-RMSE rose 10-15% on the interior dev clip).
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

LOOKUP_WEIGHT = 0.5       # the look-up's share of a failed pixel's output
DISTANCE_WEIGHT = 0.3     # cost of matching a key pixel a whole frame's size from where the chain points
MATCH_SHORT_SIDE = 60     # the matching's size: a quarter of the working size (short side 240)
PATCH = 5
_QUERIES = 1024           # failed pixels matched at once: memory stays ~25 MB whatever the frame's size


def looked_up(target_l: np.ndarray, key_l: np.ndarray, key_prop: np.ndarray, prop: np.ndarray, failed: np.ndarray,
              coords: np.ndarray) -> np.ndarray:
    """``prop`` (C, H, W), with the pixels where ``failed`` (H, W bool) mixed with the key's property there.

    ``target_l``, ``key_l``: the frame's and the key's lightness (H, W) on the same scale; ``key_prop``: the key's
    property (C, H, W) in ``prop``'s units; ``coords``: (H, W, 2) where the chain points in the key (its guess,
    even where it failed)."""
    height, width = failed.shape
    scale = MATCH_SHORT_SIDE / min(height, width)
    small = (max(1, round(width * scale)), max(1, round(height * scale)))
    lost = cv2.resize(failed.astype(np.float32), small, interpolation=cv2.INTER_AREA) > 0.25
    if not lost.any():
        return prop
    ys, xs = np.nonzero(lost)
    # One vector a pixel: its lightness patch, and its position scaled so that the squared distance between two
    # vectors is the matching's cost (patch SSD / PATCH^2 + DISTANCE_WEIGHT (distance / frame size)^2). The nearest
    # key vector minimises |k|^2 - 2 q.k (|q|^2 is the same for all of a query's candidates): one matrix product,
    # with |k|^2 as one more coordinate (the query's is 1).
    gy, gx = np.mgrid[0:small[1], 0:small[0]].astype(np.float32)
    to_cost = float(np.sqrt(DISTANCE_WEIGHT) / max(small))      # a Python float: float32 arrays stay float32
    points_at = cv2.resize(coords, small, interpolation=cv2.INTER_LINEAR)[ys, xs] * scale
    target_patches = _patches(target_l, small)[:, torch.from_numpy(ys * small[0] + xs)]
    queries = torch.cat([-2 * target_patches.T, torch.from_numpy(-2 * to_cost * points_at),
                         torch.ones(len(ys), 1)], 1)
    candidates = torch.cat([_patches(key_l, small), torch.from_numpy(np.stack([gx.ravel(), gy.ravel()]) * to_cost)])
    candidates = torch.cat([candidates, (candidates ** 2).sum(0, keepdim=True)])
    # NumPy's argmin: several times torch's on a CPU, and the same first minimum.
    best = np.concatenate([(q @ candidates).numpy().argmin(1) for q in queries.split(_QUERIES)])
    # The output at the small size, with the key's property where matched, enlarged: the matched property varies
    # smoothly into the rest of the frame instead of in blocks. Channel by channel: no transposed copies.
    matched = np.empty_like(prop)
    for channel, (out, key) in enumerate(zip(prop, key_prop)):
        shrunk = cv2.resize(out, small, interpolation=cv2.INTER_AREA)
        shrunk[ys, xs] = cv2.resize(key, small, interpolation=cv2.INTER_AREA).ravel()[best]
        matched[channel] = cv2.resize(shrunk, (width, height), interpolation=cv2.INTER_LINEAR)
    mix = np.float32(LOOKUP_WEIGHT) * failed
    return prop + mix * (matched - prop)


def _patches(lightness: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """(PATCH*PATCH, h*w) lightness patches of the image shrunk to ``size`` (width, height), one a column, divided by
    PATCH: their squared distances are the matching's patch term (SSD / PATCH^2)."""
    shrunk = torch.from_numpy(cv2.resize(lightness.astype(np.float32), size, interpolation=cv2.INTER_AREA))
    padded = F.pad(shrunk[None, None], (PATCH // 2,) * 4, mode="replicate")
    return F.unfold(padded, PATCH)[0] / PATCH
