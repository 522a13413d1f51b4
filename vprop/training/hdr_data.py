"""Training pairs for HDR propagation: virtual-camera clips over HDR panoramas, LDR synthesised per clip.

Each sample renders a short window path (pan, zoom, rotation; ``vprop.training.synthetic_hdr``) over a random training
panorama, records it as an 8-bit camera would (random exposure, random HDRCNN curve n in [0.8, 1.0],
sigma in [0.5, 0.7]), aligns the key to the target by chained DIS flow on the LDR frames exactly as the
pipeline does, and yields (guidance, key U warped, target U) with U = log(H + 0.01) - log_mean.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

from vprop.engine.flow import ChainedWarp, FlowEstimator
from vprop.errors import InputError
from vprop.io.images import read_linear_rgb
from vprop.tasks import hdr
from vprop.training.data import PairStream, edge_biased_crop, find_files
from vprop.training.synthetic_hdr import CameraPath, hdr_frames

PANORAMA_SUFFIXES = {".exr", ".hdr"}


def find_panoramas(folders: list[Path]) -> list[Path]:
    return find_files(folders, PANORAMA_SUFFIXES, "HDR panoramas")


def load_panorama(path: Path) -> np.ndarray:
    pano = read_linear_rgb(path)
    return np.ascontiguousarray(np.clip(np.nan_to_num(pano, nan=0.0, posinf=0.0, neginf=0.0), 0, None),
                                dtype=np.float32)


def load_panoramas(paths: list[Path]) -> list[np.ndarray]:
    panos = []
    for p in paths:
        try:
            panos.append(load_panorama(p))
        except InputError as e:
            warnings.warn(f"skipped {e}")
    if not panos:
        raise InputError(paths[0].parent if paths else Path("."), "no readable HDR panoramas")
    return panos


def log_mean(panoramas: list[np.ndarray]) -> float:
    """Mean of log(H + 0.01) over the training panoramas, each panorama weighted equally."""
    return float(np.mean([np.log(p.astype(np.float64) + hdr.EPS).mean() for p in panoramas]))


def random_curve(rng) -> hdr.CameraCurve:
    """HDRCNN's augmentation: n in [0.8, 1.0], sigma in [0.5, 0.7]."""
    return hdr.CameraCurve(n=float(rng.uniform(0.8, 1.0)), sigma=float(rng.uniform(0.5, 0.7)))


def random_path(rng, pano_shape, frames: int, size: tuple[int, int]) -> CameraPath:
    """A window of ``size`` (w, h) with a 50-110 degree horizontal field of view, random pan/zoom/rotation."""
    ph, pw = pano_shape[:2]
    fov = rng.uniform(50.0, 110.0)
    scale = pw * fov / 360.0 / size[0]
    speed = rng.uniform(0.3, 4.0) * scale                # output pixels per frame, in panorama pixels
    angle = rng.uniform(0, 2 * math.pi)
    pan = (float(speed * math.cos(angle)), float(0.35 * speed * math.sin(angle)))
    half_h = size[1] * scale / 2
    cy_lo, cy_hi = half_h, max(half_h + 1, ph - half_h)
    center = (float(rng.uniform(0, pw)), float(rng.uniform(cy_lo, cy_hi)))
    return CameraPath(frames=frames, size=size, pan=pan, zoom=float(rng.uniform(-0.006, 0.006)),
                      rotate=float(rng.uniform(-0.3, 0.3)), scale=float(scale), center=center)


class HDRPairs(PairStream):
    """Endless (guidance (9|6, h, w), key U (3, h, w), target U (3, h, w)) float32 tensors.

    ``frame_size`` (w, h): the rendered frames (flow runs on the whole frame, as at inference); ``crop``
    (h, w): the training crop, half of them touching a left/right frame edge; random horizontal flips.
    """

    def __init__(self, panoramas: list[np.ndarray], frame_size: tuple[int, int], crop: tuple[int, int],
                 max_distance: int, aligned: bool, seed: int, log_mean: float,
                 saturated: tuple[float, float] = (0.02, 0.15)):
        self.panoramas, self.frame_size, self.crop = panoramas, tuple(frame_size), tuple(crop)
        self.max_distance, self.aligned, self.seed, self.log_mean = max_distance, aligned, seed, log_mean
        self.saturated = saturated

    def samples(self, rng, flow: FlowEstimator):
        pano = self.panoramas[int(rng.integers(len(self.panoramas)))]
        distance = int(rng.integers(1, max(1, self.max_distance) + 1))
        path = random_path(rng, pano.shape, distance + 1, self.frame_size)
        frames = list(hdr_frames(pano, path))
        if rng.random() < 0.5:                # backward in time: the same chain run from the other end
            frames.reverse()
        # Random exposure: a random fraction of the key's pixels clip, then a further random stop or so.
        exposure = hdr.auto_exposure(frames[:1], float(rng.uniform(*self.saturated)))
        exposure *= float(2.0 ** rng.uniform(-0.5, 0.5))
        curve = random_curve(rng)
        ldr = [hdr.synthesize_ldr(f, exposure, curve) for f in frames]
        gray = [cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in ldr]
        key = hdr.HDRKey(frames[0], ldr[0])
        h, w = gray[0].shape
        warp = ChainedWarp.identity(h, w)
        stops = {distance, int(rng.integers(1, distance + 1))}
        for d in range(1, distance + 1):
            if self.aligned:
                warp = warp.step(flow(gray[d], gray[d - 1]), flow(gray[d - 1], gray[d]))
            if d in stops:
                guidance, prop = hdr.model_inputs(ldr[d], key, warp if self.aligned else None, self.log_mean)
                truth = hdr.to_log(frames[d], self.log_mean).transpose(2, 0, 1)
                y, x, ch, cw = edge_biased_crop(rng, self.crop, h, w)
                arrays = [a[:, y : y + ch, x : x + cw] for a in (guidance, prop, truth)]
                if rng.random() < 0.5:
                    arrays = [a[..., ::-1] for a in arrays]
                yield tuple(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in arrays)

    def __iter__(self):
        rng = self.rng()
        flow = FlowEstimator()
        while True:
            yield from self.samples(rng, flow)
