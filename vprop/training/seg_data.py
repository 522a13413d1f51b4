"""Training pairs for mask propagation: DAVIS-style videos with one mask PNG per frame.

A sample is drawn as ``ColorPairs`` draws one (a key and a target up to ``max_distance`` frames apart in
either direction, the key aligned to the target by the pipeline's chained flow, edge-biased crops, flips);
the property is one object's soft mask of the key (warped by the chain inside ``seg.model_inputs``), the
target is that object's mask in the target frame. Frames and flows come from the cached ``Clip``; the masks
are read from ``<video folder>/masks/<video stem>/NNNNN.png`` and resized (nearest) to the clip's size.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vprop.errors import InputError
from vprop.engine.flow import ChainedWarp
from vprop.io.images import find_indexed_files, read_mask
from vprop.tasks import color, seg
from vprop.training.data import Clip, ColorPairs, edge_biased_crop, load_clip


def mask_dir(video: Path) -> Path:
    """Where a video's masks live: ``<folder>/masks/<stem>/``."""
    video = Path(video)
    return video.parent / "masks" / video.stem


def load_masks(directory: Path, size: tuple[int, int], frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels (N, H, W) uint8, present (N,) bool) for frames 0..N-1 at ``size`` = (width, height), nearest."""
    files = find_indexed_files(Path(directory), (".png",))
    w, h = size
    labels = np.zeros((frames, h, w), np.uint8)
    present = np.zeros(frames, bool)
    for i, path in files.items():
        if 0 <= i < frames:
            m = read_mask(path)
            if m.shape != (h, w):
                m = cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST)
            labels[i], present[i] = m, True
    return labels, present


@dataclass
class SegClip:
    """A cached ``Clip`` and its per-frame label maps at the clip's resolution."""

    clip: Clip
    labels: np.ndarray      # (N, H, W) uint8, 0 background
    present: np.ndarray     # (N,) bool: frame has a ground-truth mask

    @property
    def name(self) -> str:
        return self.clip.name

    def __len__(self) -> int:
        return len(self.clip)

    def rgb(self, i: int) -> np.ndarray:
        """Frame i as float RGB 0..1, as the segmentation pipeline sees frames."""
        return color.lab_to_rgb(self.clip.lab[i].astype(np.float32)).astype(np.float32) / 255.0


def load_seg_clip(path: Path, short_side: int, cache_dir: Path, max_frames: int | None = None) -> SegClip:
    clip = load_clip(path, short_side, cache_dir, max_frames)
    h, w = clip.lab.shape[1:3]
    directory = mask_dir(path)
    if not directory.is_dir():
        raise InputError(directory, "no mask folder for this video (expected masks/<video stem>/NNNNN.png)")
    labels, present = load_masks(directory, (w, h), len(clip))
    return SegClip(clip, labels, present)


def load_seg_clips(paths: list[Path], short_side: int, cache_dir: Path) -> list[SegClip]:
    clips = []
    for p in paths:
        try:
            c = load_seg_clip(p, short_side, cache_dir)
        except InputError as e:
            warnings.warn(f"skipped {e}")
            continue
        if c.present.sum() >= 2:
            clips.append(c)
    if not clips:
        raise InputError(paths[0].parent if paths else Path("."), "no videos with 2+ masked frames")
    return clips


class SegPairs(ColorPairs):
    """Endless random (key, target) mask pairs: yields (guidance (9|6, h, w), key mask (1, h, w), target mask
    (1, h, w)) float32 tensors. With several objects in a video one of them is drawn per pair."""

    def __init__(self, clips: list[SegClip], crop: tuple[int, int], max_distance: int, aligned: bool, seed: int,
                 unaligned_key: bool = False, appearance: bool = False):
        super().__init__([c.clip for c in clips], crop, max_distance, aligned, seed)
        self.seg_clips, self.unaligned_key, self.appearance = clips, unaligned_key, appearance

    def samples(self, rng):
        sc = self.seg_clips[rng.choice(len(self.seg_clips), p=self.weights)]
        clip, n = sc.clip, len(sc)
        masked = np.flatnonzero(sc.present)          # keys carry a ground-truth mask
        for _ in range(8):
            distance = int(rng.integers(1, min(self.max_distance, n - 1) + 1))
            forward = rng.random() < 0.5
            starts = masked[masked + distance < n] if forward else masked[masked - distance >= 0]
            if len(starts):
                break
        else:
            return
        key = int(rng.choice(starts))
        sign = 1 if forward else -1
        h, w = clip.lab.shape[1:3]
        warp = ChainedWarp.identity(h, w)
        stops = {distance, int(rng.integers(1, distance + 1))}
        key_labels = sc.labels[key]
        ids = seg.object_ids(key_labels)
        obj = int(rng.choice(ids)) if ids else 1
        key_obj = seg.SegKey(sc.rgb(key), seg.one_hot(key_labels, (obj,)))
        for d in range(1, distance + 1):
            j = key + sign * d
            if self.aligned:
                warp = clip.extend(warp, j, forward)
            if d in stops and sc.present[j]:
                guidance, prop = seg.model_inputs(sc.rgb(j), key_obj, warp if self.aligned else None,
                                                  self.unaligned_key, self.appearance)
                truth = seg.one_hot(sc.labels[j], (obj,))
                y, x, ch, cw = edge_biased_crop(rng, self.crop, h, w)
                arrays = [a[:, y : y + ch, x : x + cw] for a in (guidance, prop, truth)]
                if rng.random() < 0.5:
                    arrays = [a[..., ::-1] for a in arrays]
                yield tuple(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in arrays)


def seg_bce(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Binary cross-entropy on the network output read as a probability, as inference reads it.

    ``seg.to_labels`` clips the raw output to [0, 1] and compares it with 1 - max(objects): the output is a
    probability, not a logit (the residual decoder adds a gated correction to the warped key mask, itself in
    [0, 1]). The output is clamped to (eps, 1 - eps) before the logarithms. The clamp passes its gradient
    straight through: a warped mask is exactly 0 or 1 almost everywhere, and a plain clamp would give the
    confidently wrong pixels (the misaligned ones, the very ones to fix) no gradient at all.
    """
    p = pred + (pred.clamp(eps, 1.0 - eps) - pred).detach()
    return -(target * torch.log(p) + (1.0 - target) * torch.log1p(-p)).mean()


def perturb_masks(masks: torch.Tensor, max_pixels: int = 4) -> torch.Tensor:
    """(B, 1, H, W) coarse masks with errors of the kind SEG(t) makes on video it has not seen.

    The frozen SEG(t) model is close to perfect on its own training videos, so a refiner trained on its masks
    alone learns to change nothing. Per sample (torch's global generator: a resumed run continues it): a third
    stay as they are; the rest are grown or shrunk and shifted by up to ``max_pixels`` and half of those blurred.
    """
    out = []
    for m in masks.unbind(0):
        r = torch.rand(3)
        if r[0] < 1 / 3:
            out.append(m)
            continue
        k = int(torch.randint(1, max_pixels + 1, (1,)))
        m = m[None]
        m = F.max_pool2d(m, 2 * k + 1, 1, k) if r[1] < 0.5 else -F.max_pool2d(-m, 2 * k + 1, 1, k)
        dy, dx = (int(v) for v in torch.randint(-max_pixels, max_pixels + 1, (2,)))
        p = max_pixels
        m = F.pad(m, (p, p, p, p), mode="replicate")[..., p + dy : p + dy + masks.shape[-2],
                                                        p + dx : p + dx + masks.shape[-1]]
        if r[2] < 0.5:
            m = F.avg_pool2d(m, 5, 1, 2, count_include_pad=False)
        out.append(m[0])
    return torch.stack(out)
