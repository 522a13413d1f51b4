"""Where new key-frames would help most, from a confidence report alone (never from ground truth).

The report gives, for every frame, how much trust the single flow step into it keeps (``step``): little where
the motion is fast, things appear or the scene cuts. Its -log is the step's cost, and a frame propagated from a
key pays the summed cost of the steps between them (offline: of the cheaper side). The default rule
(``spread``) places the new keys where that sum over the video is least: where the costs are even, that is
even spacing; where a stretch is hard, the keys move towards it. The other rules were measured and lost on the
tuning videos (benchmarks/eval_suggest.py, README): raising the predicted confidence (the product of the step
trusts back to the key) greedily, and costs taken from the run's own confidence (``measured_costs``). New keys
are at least a minimum gap from the keys there are and from each other.
"""
from __future__ import annotations

import numpy as np

from vprop.engine.confidence import Report

# A rule is the costs (``step_costs`` / ``measured_costs``) and what is made of them: ``predicted`` confidence
# raised greedily, or (``spread``) the chains' summed cost made least, which spaces keys evenly where costs are even.
RULES = ("step", "measured", "spread", "spread-measured")
FLOOR = 1e-3    # step trusts are clipped here before their logarithm


def step_costs(report: Report) -> np.ndarray:
    """(T,) float64: ``cost[s]`` is the trust lost (in -log) by the flow step from frame s-1 to frame s, the
    report's ``step`` (``vprop.engine.confidence.step_trust``); ``cost[0] = 0``."""
    costs = -np.log(np.clip([float(f["step"]) for f in report.frames], FLOOR, 1.0))
    costs[0] = 0.0
    return costs


def measured_costs(report: Report) -> np.ndarray:
    """(T,) float64 like ``step_costs``, but from the confidence the run itself measured: ``cost[s]`` is what
    the propagation from the key before lost from frame s-1 to s (the report's ``forward``; masks, online: its
    ``object``, the trust around the objects), which also counts what the chain from the key lost and no single
    step shows (an uncovered region stays wrong). Where that is not known (the step into a key, frames before
    the first key) it is the step's cost."""
    costs = step_costs(report)
    field = "object" if report.mode == "online" and report.frames[0].get("object") is not None else "forward"
    log = lambda f: np.log(max(float(f[field]), FLOOR))  # noqa: E731
    for s in range(1, len(costs)):
        prev, here = report.frames[s - 1], report.frames[s]
        if here["forward"] is not None and prev["forward"] is not None and here["key_before"] != s \
                and here["key_before"] == prev["key_before"]:
            costs[s] = max(0.0, log(prev) - log(here))
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


def chain_costs(costs: np.ndarray, keys, mode: str) -> np.ndarray:
    """(T,) the summed cost of the chain each frame is propagated along with key-frames ``keys`` (online: from
    the key before, before the first key from it; offline: the cheaper side)."""
    total = np.cumsum(costs)
    keys = np.unique(np.asarray(list(keys), np.int64))
    t = np.arange(len(costs))
    i = np.searchsorted(keys, t, side="right") - 1
    j = np.searchsorted(keys, t, side="left")
    forward = np.where(i >= 0, total - total[keys[np.clip(i, 0, None)]], np.inf)
    backward = np.where(j < len(keys), total[keys[np.clip(j, None, len(keys) - 1)]] - total, np.inf)
    return np.where(i >= 0, forward, backward) if mode == "online" else np.minimum(forward, backward)


def spread_keys(costs: np.ndarray, keys: list[int], count: int, gap: int, mode: str) -> list[int]:
    """``count`` new keys that make the frames' summed ``chain_costs`` least: placed one by one, then each moved
    to its best place given the others until none moves (greedy alone leaves the last stretch long)."""
    def best(others: list[int]) -> tuple[float, int | None]:
        """The least total with one more key than ``others``, and where. A key at t changes the chains of the
        frames between the keys around it only, so each candidate is scored on that stretch: the work grows with
        the video times a stretch, not with the video squared (a film has ~10^5 frames)."""
        taken = np.unique(np.asarray(others, np.int64))
        total = chain_costs(costs, taken, mode).sum() if len(taken) else np.inf
        best_total, best_t = np.inf, None
        for t in range(len(costs)):
            if len(taken) and np.abs(taken - t).min() < gap:
                continue
            if not len(taken):
                score = chain_costs(costs, [t], mode).sum()
            else:
                at = np.searchsorted(taken, t)
                lo = taken[at - 1] if at > 0 else 0
                hi = taken[at] if at < len(taken) else len(costs) - 1
                stretch, around = costs[lo:hi + 1], [k - lo for k in (lo, hi) if k in taken]
                score = total - chain_costs(stretch, around, mode).sum() + chain_costs(stretch, around + [t - lo],
                                                                                        mode).sum()
            if score < best_total:
                best_total, best_t = score, t
        return best_total, best_t

    chosen: list[int] = []
    for _ in range(count):
        t = best(keys + chosen)[1]
        if t is None:
            break
        chosen.append(t)
    for _ in range(10):
        moved = False
        for i in range(len(chosen)):
            others = keys + chosen[:i] + chosen[i + 1:]
            score, t = best(others)
            if t is not None and score < chain_costs(costs, others + [chosen[i]], mode).sum() - 1e-9:
                chosen[i], moved = t, True
        if not moved:
            break
    return chosen


def suggest_keys(report: Report, count: int, min_gap: int | None = None, rule: str = "spread") -> list[int]:
    """Up to ``count`` frame indices where a new key helps most, by ``rule``.

    ``rule``: one of RULES, the costs (``step_costs``, or ``measured_costs`` for ``*measured``) and how keys
    are placed on them (``predicted`` confidence raised greedily, or ``spread_keys``).

    ``min_gap``: frames between any two keys, old or new (default: a quarter of the mean spacing the keys
    would have, so suggestions spread over the video's trouble spots rather than crowd one).
    """
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}")
    costs = measured_costs(report) if rule.endswith("measured") else step_costs(report)
    n = len(costs)
    keys = sorted(set(report.keys))
    gap = max(1, n // (4 * max(1, count + len(keys)))) if min_gap is None else max(1, min_gap)
    if rule.startswith("spread"):
        return spread_keys(costs, keys, count, gap, report.mode)
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
