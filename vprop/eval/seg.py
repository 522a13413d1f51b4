"""Mask propagation scored with the DAVIS measures, region similarity J and boundary accuracy F (Perazzi et al.,
CVPR 2016).

Protocol of the paper (Sec. 5.4): the first ground-truth mask is the only key; every other frame with a
ground-truth mask is scored, per object, and the scores are averaged over frames, then over objects.
The baselines (copy the first mask; warp it by chained DIS flow) run through the same frame loop as vprop;
the measures are ``vprop.eval.metrics``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
import torch

from vprop.engine.masks import propagate_masks
from vprop.engine.working import propagation_short_side
from vprop.eval.baselines import Methods, baseline_methods, model_settings
from vprop.eval.metrics import f_measure, jaccard
from vprop.eval.report import caption, plot, write_figure
from vprop.io.images import DAVIS_PALETTE, find_indexed_files, read_mask
from vprop.io.preview import overlay
from vprop.io.video import VideoFrame
from vprop.models import seg as seg_models
from vprop.tasks import seg


@dataclass
class SegScores:
    """Per frame and object: J and F. ``samples``: predicted label maps kept for reports."""

    ids: tuple[int, ...]
    frames: list[int] = field(default_factory=list)
    j: list[list[float]] = field(default_factory=list)     # [frame][object]
    f: list[list[float]] = field(default_factory=list)
    samples: dict[int, np.ndarray] = field(default_factory=dict)

    def _mean(self, values) -> float:
        if not values or not self.ids:
            return float("nan")
        return float(np.mean(np.asarray(values).mean(0)))   # per object over frames, then over objects

    @property
    def J(self) -> float:
        return self._mean(self.j)

    @property
    def F(self) -> float:
        return self._mean(self.f)

    @property
    def JF(self) -> float:
        return (self.J + self.F) / 2

    def per_object(self) -> dict[int, dict[str, float]]:
        j, f = np.asarray(self.j), np.asarray(self.f)
        return {i: {"J": float(j[:, k].mean()), "F": float(f[:, k].mean())} for k, i in enumerate(self.ids)} \
            if self.frames else {}

    def j_by_frame(self) -> dict[int, float]:
        return {t: float(np.mean(row)) if row else 1.0 for t, row in zip(self.frames, self.j)}


def load_truth(masks, size: tuple[int, int] | None = None) -> dict[int, np.ndarray]:
    """Ground truth by frame index from a directory of masks (or a dict of label maps), resized (nearest) to
    ``size`` = (width, height) when given."""
    if isinstance(masks, dict):
        truth = {int(i): np.asarray(m, np.uint8) for i, m in masks.items()}
    else:
        truth = {i: read_mask(p) for i, p in find_indexed_files(Path(masks), (".png",)).items()}
    if size:
        truth = {i: m if m.shape[::-1] == tuple(size) else cv2.resize(m, size, interpolation=cv2.INTER_NEAREST)
                 for i, m in truth.items()}
    return truth


def seg_methods(model: torch.nn.Module | None, mode: str = "online", device: str = "cpu", batch_size: int = 4,
                refiner: torch.nn.Module | None = None, grabcut: bool = False) -> Methods:
    """copy (first mask everywhere), flow (first mask warped by chained DIS flow; offline also flow-2sided, both keys
    warped and blended as vprop blends them), vprop (SEG(t), if a model)
    and vprop+refine (SEG(t+s), if a refiner too). ``grabcut``: also each of those with its masks snapped to the
    frame (``seg_models.GrabCut``), flow's too: the graph cut is a step any user could add to a flow script; and
    vprop+grabcut+memory (the cut hearing the frame before, ``seg_models.MEMORY_WEIGHT``; offline, after a shot's
    last key only: ``vprop.engine.masks``)."""
    methods = baseline_methods(batch_size, two_sided=mode == "offline")
    if grabcut:
        methods["flow+grabcut"] = (seg_models.wrap_model(methods["flow"][0], grabcut=True), methods["flow"][1])
    if model is not None:
        settings = model_settings(model, mode, device, batch_size)
        nets = {"vprop": seg_models.PerObject(model)}
        if refiner is not None:
            nets["vprop+refine"] = seg_models.Refined(nets["vprop"], refiner)
        for name, net in nets.items():
            methods[name] = (net, settings)
            if grabcut:
                methods[f"{name}+grabcut"] = (seg_models.wrap_model(net, grabcut=True), settings)
        if grabcut:     # the frame before heard by SEG(t)'s cut (offline: after a shot's last key), as by default
            methods["vprop+grabcut+memory"] = (seg_models.wrap_model(nets["vprop"], grabcut=True, memory=True),
                                               settings)
    return methods


def key_indices(truth: dict[int, np.ndarray], interval: int | None = None, limit: int | None = None) -> list[int]:
    """The frames whose true masks are keys: the first, and with ``interval`` every ``interval``-th from it (within
    the first ``limit`` frames when given)."""
    first = min(truth)
    return [i for i in sorted(truth) if i == first or (interval and (i - first) % interval == 0
                                                        and (limit is None or i < limit))]


def evaluate_seg(frames: Callable[[], Iterator[VideoFrame]], masks,
                 methods: Methods, keep: bool = False,
                 chain: bool = False, interval: int | None = None, limit: int | None = None,
                 working_side: int | None = None, full_resolution: bool = False) -> dict[str, SegScores]:
    """Score each method on the frames with ground truth, the first ground-truth mask being the only key
    (unless ``interval``).

    ``frames``: a factory of fresh frame iterators; ``masks``: directory of ground-truth PNGs named by frame
    index, or a dict index -> label map. ``keep``: keep every prediction in ``SegScores.samples``.
    ``interval``: the ground truth every ``interval`` frames from the first mask is a key too (as an artist
    who corrects a frame every so often); key frames are not scored. ``limit``: ``frames`` gives the first
    ``limit`` frames only (keys lie within them). ``working_side``: the short side vprop segments at (default: the
    model's training size, as `vprop segment`; ``full_resolution``: the frames' own size); the baselines keep the
    frames' own size.
    """
    first = next(frames())
    h, w = first.rgb.shape[:2]
    truth = load_truth(masks, (w, h))
    keys = {i: truth[i] for i in key_indices(truth, interval, limit)}
    ids = seg.object_ids(truth[min(truth)])
    results = {}
    for name, (model, settings) in methods.items():
        scores = SegScores(ids)
        side = propagation_short_side(model, working_side, full_resolution)
        for frame, out in propagate_masks(model, frames(), keys, settings,
                                          chain=chain and name.startswith("vprop"), ids=ids, working_short_side=side):
            if frame.index in keys or frame.index not in truth:
                continue
            gt = truth[frame.index]
            scores.frames.append(frame.index)
            scores.j.append([jaccard(out == i, gt == i) for i in ids])
            scores.f.append([f_measure(out == i, gt == i) for i in ids])
            if keep:
                scores.samples[frame.index] = out
        results[name] = scores
    return results


def seg_report(directory, frames: Callable[[], Iterator[VideoFrame]], masks, scores: dict[str, SegScores],
               worst: int = 3, width: int = 320) -> list[Path]:
    """A strip of the worst frames of the last method (truth, then each method, as overlays) and J per frame."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    last = scores[list(scores)[-1]]
    by_frame = last.j_by_frame()
    chosen = sorted(sorted(by_frame, key=by_frame.get)[:worst])
    written = []
    if chosen and all(s.samples for s in scores.values()):
        rgb = {f.index: f.rgb for f in frames() if f.index in chosen}
        truth = load_truth(masks, rgb[chosen[0]].shape[1::-1])
        rows = []
        for t in chosen:
            hh = round(rgb[t].shape[0] * width / rgb[t].shape[1])

            def cell(labels, text):
                return caption(cv2.resize(overlay(rgb[t], labels, DAVIS_PALETTE), (width, hh)), text)

            cells = [cell(truth[t], f"truth #{t}")]
            for name, s in scores.items():
                cells.append(cell(s.samples[t], f"{name} J={s.j_by_frame()[t]:.2f}"))
            rows.append(np.hstack(cells))
        path = directory / "seg_worst_frames.png"
        write_figure(path, cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
        written.append(path)
    path = directory / "seg_j_per_frame.png"
    write_figure(path, plot({name: s.j_by_frame() for name, s in scores.items()}, "J (IoU) per frame"))
    written.append(path)
    return written
