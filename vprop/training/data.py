"""Training pairs from real video: frames at a training resolution with their optical flow, cached on disk.

Pairs are drawn the way inference runs: a key frame and a target up to ``max_distance`` frames away in
either direction, the key aligned to the target by the same chained-flow code the pipeline uses.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from vprop.errors import InputError
from vprop.engine.flow import ChainedWarp, FlowEstimator, to_gray_u8
from vprop.io.atomic import atomic_path
from vprop.io.video import read_frames
from vprop.tasks import color

VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm"}


@dataclass
class Clip:
    """One video at training resolution. ``to_prev[i]``: flow from frame i to i-1; ``from_prev[i]``: i-1 to i."""

    name: str
    lab: np.ndarray         # (N, H, W, 3) float16
    to_prev: np.ndarray     # (N, H, W, 2) float16, entry 0 unused
    from_prev: np.ndarray   # (N, H, W, 2) float16, entry 0 unused

    def __len__(self) -> int:
        return len(self.lab)

    def extend(self, warp: ChainedWarp, j: int, forward: bool) -> ChainedWarp:
        """Add frame j to a chain walking forward (from j - 1) or backward (from j + 1), as the pipeline does."""
        if forward:
            return warp.step(self.to_prev[j].astype(np.float32), self.from_prev[j].astype(np.float32))
        # Walking backwards, the chain's "previous" frame is j + 1.
        return warp.step(self.from_prev[j + 1].astype(np.float32), self.to_prev[j + 1].astype(np.float32))


def find_files(folders: list[Path], suffixes: set[str], what: str) -> list[Path]:
    """Files with one of ``suffixes`` directly in ``folders``; an error naming the folder when none."""
    found = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(folder, "not a directory")
        found += sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes)
    if not found:
        raise InputError(folders[0], f"no {what} found ({', '.join(sorted(suffixes))})")
    return found


def find_videos(folders: list[Path]) -> list[Path]:
    return find_files(folders, VIDEO_SUFFIXES, "videos")


def load_clip(path: Path, short_side: int, cache_dir: Path, max_frames: int | None = None,
              flow: str = "medium") -> Clip:
    """Decode, resize and compute flows once (``flow``: a FLOW_PRESETS name); later runs read the cache."""
    stamp = f"{Path(path).resolve()}:{Path(path).stat().st_mtime_ns}:{short_side}:{max_frames}"
    # The shipped recipe's caches ("medium") keep their names.
    key = hashlib.sha1((stamp if flow == "medium" else f"{stamp}:{flow}").encode())
    cache = Path(cache_dir) / f"{Path(path).stem}-{key.hexdigest()[:10]}.npz"
    if cache.exists():
        z = np.load(cache)
        return Clip(Path(path).stem, z["lab"], z["to_prev"], z["from_prev"])
    estimate = FlowEstimator(flow)
    labs, to_prev, from_prev, prev_gray = [], [], [], None
    for frame in read_frames(path):
        if max_frames is not None and frame.index >= max_frames:
            break
        rgb = frame.rgb
        h, w = rgb.shape[:2]
        scale = short_side / min(h, w)
        rgb = cv2.resize(rgb, (round(w * scale / 2) * 2, round(h * scale / 2) * 2), interpolation=cv2.INTER_AREA)
        lab = color.rgb_to_lab(rgb)
        gray = to_gray_u8(lab[..., 0])
        if prev_gray is None:
            zero = np.zeros((*gray.shape, 2), np.float16)
            to_prev.append(zero), from_prev.append(zero)
        else:
            to_prev.append(estimate(gray, prev_gray).astype(np.float16))
            from_prev.append(estimate(prev_gray, gray).astype(np.float16))
        labs.append(lab.astype(np.float16))
        prev_gray = gray
    clip = Clip(Path(path).stem, np.stack(labs), np.stack(to_prev), np.stack(from_prev))
    cache.parent.mkdir(parents=True, exist_ok=True)
    # A temporary of its own: processes sharing the cache (torchrun ranks, parallel runs) may write it at once.
    with atomic_path(cache) as tmp:
        np.savez(tmp, lab=clip.lab, to_prev=clip.to_prev, from_prev=clip.from_prev)
    return clip


def load_clips(paths: list[Path], short_side: int, cache_dir: Path, flow: str) -> list[Clip]:
    clips, skipped = [], 0
    for p in paths:
        try:
            clip = load_clip(p, short_side, cache_dir, flow=flow)
        except InputError as e:
            warnings.warn(f"skipped {e}")
            skipped += 1
            continue
        if len(clip) >= 2:
            clips.append(clip)
    if skipped:
        warnings.warn(f"{skipped} unreadable video(s) skipped")
    if not clips:
        raise InputError(paths[0].parent if paths else Path("."), "no readable videos with 2+ frames")
    return clips


def edge_biased_crop(rng, crop: tuple[int, int], h: int, w: int) -> tuple[int, int, int, int]:
    """(y, x, height, width) of a random crop; half of them touch a frame edge, where chained flow fails most."""
    ch, cw = min(crop[0], h), min(crop[1], w)
    y = rng.integers(0, h - ch + 1)
    x = rng.integers(0, w - cw + 1)
    if rng.random() < 0.5:
        x = 0 if rng.random() < 0.5 else w - cw
    return y, x, ch, cw


class PairStream(torch.utils.data.IterableDataset):
    """An endless random stream of training pairs, reproducible from (seed, loader worker, start step)."""

    seed: int = 0
    start: int = 0      # the training step the stream starts at: a resumed run draws new pairs, reproducibly

    def rng(self) -> np.random.Generator:
        info = torch.utils.data.get_worker_info()
        return np.random.default_rng([self.seed, info.id if info else 0, self.start])


class ColorPairs(PairStream):
    """Endless random (key, target) colour pairs: yields (guidance, property, target ab) as tensors.

    One chain serves two targets (its end and a random point on the way), halving the flow work per sample.
    """

    def __init__(self, clips: list[Clip], crop: tuple[int, int], max_distance: int, aligned: bool, seed: int):
        self.clips, self.crop, self.max_distance, self.aligned, self.seed = clips, crop, max_distance, aligned, seed
        self.weights = np.array([len(c) for c in clips], np.float64)
        self.weights /= self.weights.sum()

    def samples(self, rng):
        clip = self.clips[rng.choice(len(self.clips), p=self.weights)]
        n = len(clip)
        distance = int(rng.integers(1, min(self.max_distance, n - 1) + 1))
        forward = rng.random() < 0.5
        key = int(rng.integers(0, n - distance)) if forward else int(rng.integers(distance, n))
        sign = 1 if forward else -1
        h, w = clip.lab.shape[1:3]
        warp = ChainedWarp.identity(h, w)
        stops = {distance, int(rng.integers(1, distance + 1))}
        key_lab = clip.lab[key].astype(np.float32)
        for d in range(1, distance + 1):
            j = key + sign * d
            if self.aligned:
                warp = clip.extend(warp, j, forward)
            if d in stops:
                target_lab = clip.lab[j].astype(np.float32)
                guidance, prop = color.model_inputs(target_lab[..., 0], key_lab, warp if self.aligned else None)
                truth = target_lab[..., 1:].transpose(2, 0, 1) / color.AB_SCALE
                y, x, ch, cw = edge_biased_crop(rng, self.crop, h, w)
                arrays = [a[:, y : y + ch, x : x + cw] for a in (guidance, prop, truth)]
                if rng.random() < 0.5:
                    arrays = [a[..., ::-1] for a in arrays]
                yield tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)

    def __iter__(self):
        rng = self.rng()
        while True:
            yield from self.samples(rng)
