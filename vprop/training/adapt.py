"""Test-time adaptation (``vprop segment --adapt STEPS``): a copy of the seg model fine-tuned on the video's own
first mask before it propagates (OSVOS, Caelles et al. 2017, for a propagation network).

The first mask is a labelled example of the very objects to follow. Training pairs are made from it alone, as
the paper pre-trains on still images: the key frame and its mask are the key, a copy of both under a random
similarity transform (scale, rotation, shift) and a smooth bend is the "other frame", and the key is aligned
to it by the pipeline's own chained DIS flow. Flips are applied to the pair as a whole. The step and its loss
are training's own (``Pair``, ``switchable_loss``, ``seg_bce``), at the working size the model propagates at.
The caller's model is never changed.
"""
from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
import torch

from vprop.engine.flow import ChainedWarp, FlowEstimator
from vprop.engine.working import propagation_short_side, shrink, working_size
from vprop.models.seg import key_inputs
from vprop.tasks import seg
from vprop.training.loop import Pair, TrainConfig, switchable_loss
from vprop.training.seg_data import seg_bce

log = logging.getLogger("vprop")


@dataclass
class AdaptConfig:
    """How the model is adapted; ``steps`` optimiser steps of ``batch_size`` pairs (0: not at all)."""

    steps: int = 0
    lr: float = 1e-4           # constant: a few dozen steps leave no room for a schedule
    batch_size: int = 2
    # The jitter: scale in [1 - scale, 1 + scale], rotation in [-rotate, rotate] degrees, shift in [-shift, shift] x
    # min(H, W), then a smooth non-rigid warp of up to ``elastic`` x min(H, W). Wider than the paper's still-image
    # pairs (0.1, 15, 0.1, none): with those, flow aligns the pair almost exactly and the model learns only to
    # trust it (tuning videos breakdance-flare and elephant, 50 steps: mean J 0.469 -> 0.452 with the paper's,
    # 0.486 with these; benchmarks/eval_seg_adapt.py).
    scale: float = 0.25
    rotate: float = 30.0
    shift: float = 0.2
    elastic: float = 0.05
    flow: str = "medium"       # the frame loop's flow preset (``Settings.flow``)
    seed: int = 0              # the same video and key give the same adapted model (a resumed run relies on it)


@dataclass
class Adapted:
    model: torch.nn.Module     # the adapted copy (eval mode)
    steps: int
    seconds: float


def jitter(rgb: np.ndarray, labels: np.ndarray, rng: np.random.Generator, cfg: AdaptConfig
           ) -> tuple[np.ndarray, np.ndarray]:
    """(rgb, labels) under one random similarity transform and bend: the "other frame" of a still-image pair.
    Borders are reflected, in the image and the labels alike, so the two stay consistent."""
    h, w = labels.shape
    angle = rng.uniform(-cfg.rotate, cfg.rotate)
    scale = 1.0 + rng.uniform(-cfg.scale, cfg.scale)
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    matrix[:, 2] += rng.uniform(-cfg.shift, cfg.shift, 2) * min(h, w)
    image = cv2.warpAffine(rgb, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    mask = cv2.warpAffine(labels, matrix, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT101)
    if cfg.elastic > 0:
        # Random displacements on a coarse 4x4 grid, up-sampled smoothly: a few bends across the frame.
        coarse = rng.uniform(-1.0, 1.0, (4, 4, 2)).astype(np.float32) * cfg.elastic * min(h, w)
        shift = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        mx, my = xs + shift[..., 0], ys + shift[..., 1]
        image = cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        mask = cv2.remap(mask, mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT101)
    return image, mask


def adapt_pairs(rgb: np.ndarray, labels: np.ndarray, model: torch.nn.Module, rng: np.random.Generator,
                cfg: AdaptConfig, flow: FlowEstimator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One batch (guidance, key property, truth) of still-image pairs from a key frame (float RGB 0..1, (H, W, 3))
    and its label map, one object per pair, laid out as ``SegPairs`` lays out video pairs."""
    unaligned_key, appearance = key_inputs(model)
    ids = seg.object_ids(labels)
    task = seg.SegTask(ids)
    batch = []
    for _ in range(cfg.batch_size):
        key_rgb, key_labels = rgb, labels
        if rng.random() < 0.5:
            key_rgb, key_labels = key_rgb[:, ::-1], key_labels[:, ::-1]
        key_rgb, key_labels = np.ascontiguousarray(key_rgb), np.ascontiguousarray(key_labels)
        target_rgb, target_labels = jitter(key_rgb, key_labels, rng, cfg)
        obj = (int(rng.choice(ids)),)
        key = seg.SegKey(key_rgb, seg.one_hot(key_labels, obj))
        # The chain from the key to the target, as the frame loop makes it for the frame after a key.
        key_gray, gray = task.gray(key_rgb), task.gray(target_rgb)
        chain = ChainedWarp.identity(*gray.shape).step(flow(gray, key_gray), flow(key_gray, gray))
        guidance, prop = seg.model_inputs(target_rgb, key, chain, unaligned_key, appearance)
        batch.append((guidance, prop, seg.one_hot(target_labels, obj)))
    return tuple(torch.from_numpy(np.stack(parts)) for parts in zip(*batch))


def adapt_seg(model: torch.nn.Module, rgb: np.ndarray, labels: np.ndarray, cfg: AdaptConfig,
              on_step: Callable[[int, torch.nn.Module], None] | None = None, working_side: int | None = None,
              full_resolution: bool = False) -> Adapted:
    """A copy of the SEG(t) ``model`` fine-tuned for ``cfg.steps`` steps on the key frame ``rgb`` (uint8 RGB,
    (H, W, 3)) and its label map ``labels`` (H, W), at the size the run propagates at (``working_side``,
    ``full_resolution``: see ``propagation_short_side``). ``on_step(step, model)`` after each step (the copy in
    training: copy it to keep it)."""
    t0 = time.perf_counter()
    adapted = copy.deepcopy(model)
    if cfg.steps <= 0 or not seg.object_ids(labels):
        return Adapted(adapted.eval(), 0, time.perf_counter() - t0)
    size = working_size(labels.shape[1], labels.shape[0],
                        propagation_short_side(model, working_side, full_resolution))
    if size is not None:
        rgb, labels = shrink(rgb, size), cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
    rgb = rgb.astype(np.float32) / 255.0
    train = TrainConfig()      # the training run's switch, lambda and gradient clip
    rng, flow = np.random.default_rng(cfg.seed), FlowEstimator(cfg.flow)
    device = next(adapted.parameters()).device
    net = Pair(adapted).train()
    opt = torch.optim.Adam(adapted.parameters(), lr=cfg.lr)
    for step in range(1, cfg.steps + 1):
        guidance, prop, truth = (t.to(device) for t in adapt_pairs(rgb, labels, adapted, rng, cfg, flow))
        loss = switchable_loss(net, guidance, prop, truth, seg_bce, train.switch, train.lam)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(adapted.parameters(), train.grad_clip)
        opt.step()
        if on_step:
            on_step(step, adapted)
    adapted.eval()
    return Adapted(adapted, cfg.steps, time.perf_counter() - t0)


def adapt_to_key(model: torch.nn.Module, rgb: np.ndarray, labels: np.ndarray, steps: int,
                 working_side: int | None = None, full_resolution: bool = False) -> torch.nn.Module:
    """``adapt_seg`` as a run uses it, at the run's working size: the adapted copy, its cost on one log line."""
    result = adapt_seg(model, rgb, labels, AdaptConfig(steps=steps), working_side=working_side,
                       full_resolution=full_resolution)
    log.info("adapted the mask model to the first mask: %d steps, %.1f s", result.steps, result.seconds)
    return result.model
