"""Where new key-frames would help most, from a confidence report alone (never from ground truth).

The report gives each frame's confidence along the flow chain from its key. Along one chain, consecutive
confidences say how much trust each flow step loses; a new key at frame t restarts the chains from t, so the
frames it would serve are predicted to keep the confidence of a chain from t, not from the old key. Keys are
chosen greedily, each where it raises the predicted confidence summed over the video most, at least a
minimum gap from the keys there are and from each other.
"""
from __future__ import annotations

import numpy as np

from vprop.confidence import Report

FLOOR = 1e-3    # confidences are clipped here before their logarithm


def step_costs(report: Report) -> np.ndarray:
    """(T,) float64: ``cost[s]`` is the confidence lost (in -log) by the flow step between frames s-1 and s,
    read from the forward chain, the backward chain, or both; steps no chain measured get the median."""
    frames = report.frames
    costs = np.full(len(frames), np.nan)
    for s in range(1, len(frames)):
        a, b = frames[s - 1], frames[s]
        seen = []
        if a["forward"] is not None and b["forward"] is not None and a["key_before"] == b["key_before"]:
            seen.append(np.log(max(a["forward"], FLOOR)) - np.log(max(b["forward"], FLOOR)))
        if a["backward"] is not None and b["backward"] is not None and a["key_after"] == b["key_after"]:
            seen.append(np.log(max(b["backward"], FLOOR)) - np.log(max(a["backward"], FLOOR)))
        if seen:
            costs[s] = np.mean(seen)
    known = costs[1:][np.isfinite(costs[1:])]
    costs[~np.isfinite(costs)] = np.median(known) if len(known) else 0.0
    costs[0] = 0.0
    return costs


def predicted(costs: np.ndarray, keys, mode: str) -> np.ndarray:
    """(T,) the confidence each frame is predicted to have with key-frames ``keys`` (indices into ``costs``),
    propagated ``online`` (from the key before; before the first key, from it) or ``offline`` (both keys,
    weighted as the frame loop blends them)."""
    total = np.cumsum(costs)                    # total[s]: cost of the chain from frame 0 to frame s
    keys = np.unique(np.asarray(list(keys), np.int64))
    t = np.arange(len(costs))
    if len(keys) == 0:
        return np.zeros(len(costs))
    i = np.searchsorted(keys, t, side="right") - 1
    j = np.searchsorted(keys, t, side="left")
    before, after = keys[np.clip(i, 0, None)], keys[np.clip(j, None, len(keys) - 1)]
    has_before, has_after = i >= 0, j < len(keys)
    forward = np.where(has_before, np.exp(-(total - total[before])), 0.0)
    backward = np.where(has_after, np.exp(-(total[after] - total)), 0.0)
    if mode == "online":
        out = np.where(has_before, forward, backward)
    else:
        wf, wb = forward * (after - t) * has_after, backward * (t - before) * has_before
        both = has_before & has_after & (wf + wb > 0)
        blended = (forward * wf + backward * wb) / np.where(both, wf + wb, 1.0)
        out = np.where(both, blended, np.where(has_before, forward, backward))
    out[keys] = 1.0
    return np.clip(out, 0.0, 1.0)


def suggest_keys(report: Report, count: int, min_gap: int | None = None) -> list[int]:
    """Up to ``count`` frame indices, best first, where a new key raises the predicted confidence most.

    ``min_gap``: frames between any two keys, old or new (default: a quarter of the mean spacing the keys
    would have, so suggestions spread over the video's trouble spots rather than crowd one).
    """
    costs = step_costs(report)
    n = len(costs)
    keys = sorted(set(report.keys))
    gap = max(1, n // (4 * max(1, count + len(keys)))) if min_gap is None else max(1, min_gap)
    current = predicted(costs, keys, report.mode)
    chosen: list[int] = []
    for _ in range(count):
        taken = np.array(keys + chosen, np.int64)
        best, best_gain = None, -np.inf
        for t in range(n):
            if len(taken) and np.abs(taken - t).min() < gap:
                continue
            # A new key changes only the frames between the keys around it: predict that stretch alone.
            lo = max((k for k in taken if k < t), default=0)
            hi = min((k for k in taken if k > t), default=n - 1)
            local = [k - lo for k in taken if lo <= k <= hi] + [t - lo]
            stretch = costs[lo:hi + 1].copy()
            stretch[0] = 0.0
            gain = predicted(stretch, local, report.mode).sum() - current[lo:hi + 1].sum()
            if gain > best_gain:
                best, best_gain = t, gain
        if best is None:
            break
        chosen.append(best)
        current = predicted(costs, keys + chosen, report.mode)
    return chosen
