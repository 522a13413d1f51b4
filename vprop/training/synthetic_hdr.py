"""Virtual-camera HDR clips: a window that pans, zooms and rotates over an equirectangular HDR panorama.

Each frame is the panorama resampled through an affine map (cv2.warpAffine on the float image, so radiance
stays linear); the LDR video is the same frames through the camera curve at one fixed exposure, clipped and
quantised to 8 bits, as a real camera would record them. Used for training, tests and ``vprop eval hdr``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from vprop.io.atomic import atomic_path
from vprop.io.images import read_linear_rgb, write_exr
from vprop.io.video import VideoFrame, VideoWriter, new_video
from vprop.tasks.hdr import HDRCNN_CURVE, CameraCurve, auto_exposure, luminance, synthesize_ldr


@dataclass
class CameraPath:
    """How the window moves, per frame: ``pan`` in panorama pixels (x, y), ``zoom`` as a relative change of
    scale, ``rotate`` in degrees. ``scale``: panorama pixels per output pixel at the first frame.
    ``center``: the first window's centre in panorama pixels (None: next to the brightest region)."""

    frames: int = 60
    size: tuple[int, int] = (256, 192)
    pan: tuple[float, float] = (2.0, 0.3)
    zoom: float = 0.003
    rotate: float = 0.15
    scale: float = 1.0
    center: tuple[float, float] | None = None


def _default_center(panorama: np.ndarray, path: CameraPath) -> tuple[float, float]:
    """Put the brightest (blurred) spot inside the window, then back off so the pan passes over it."""
    h, w = panorama.shape[:2]
    small = cv2.GaussianBlur(np.log1p(luminance(panorama)), (0, 0), max(2.0, min(path.size) * path.scale / 8))
    y, x = np.unravel_index(int(np.argmax(small)), small.shape)
    cx = x - path.pan[0] * path.frames / 2
    cy = y - path.pan[1] * path.frames / 2
    half_h = path.size[1] * path.scale / 2
    cy = float(np.clip(cy + half_h * 0.3, half_h, h - half_h))   # the bright spot above centre, horizon-like
    return float(cx % w), cy


def window_matrix(path: CameraPath, center: tuple[float, float], t: int) -> np.ndarray:
    """2x3 map from output pixel to panorama pixel at frame t (for warpAffine with WARP_INVERSE_MAP)."""
    w, h = path.size
    s = path.scale * (1.0 + path.zoom) ** (-t)         # zooming in: fewer panorama pixels per output pixel
    a = math.radians(path.rotate * t)
    cx, cy = center[0] + path.pan[0] * t, center[1] + path.pan[1] * t
    c, si = math.cos(a) * s, math.sin(a) * s
    # panorama = R·s·(p - output centre) + window centre
    return np.array([[c, -si, cx - c * (w - 1) / 2 + si * (h - 1) / 2],
                     [si, c, cy - si * (w - 1) / 2 - c * (h - 1) / 2]], np.float32)


def hdr_frames(panorama: np.ndarray, path: CameraPath = CameraPath()) -> Iterator[np.ndarray]:
    """Scene-linear (h, w, 3) float32 frames of the moving window."""
    panorama = np.ascontiguousarray(np.clip(np.nan_to_num(panorama), 0, None), dtype=np.float32)
    center = path.center or _default_center(panorama, path)
    for t in range(path.frames):
        m = window_matrix(path, center, t)
        yield cv2.warpAffine(panorama, m, path.size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_WRAP)   # equirectangular: the horizon wraps around


def clip_frames(panorama: np.ndarray, path: CameraPath = CameraPath(), curve: CameraCurve = HDRCNN_CURVE,
                exposure: float | None = None, saturated: float = 0.10
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(hdr_frame, ldr_frame) pairs; the exposure is fixed for the clip (default: ~``saturated`` pixels clip)."""
    frames = list(hdr_frames(panorama, path))
    if exposure is None:
        exposure = auto_exposure(frames, saturated)
    for hdr in frames:
        yield hdr, synthesize_ldr(hdr, exposure, curve)


def write_clip(panorama, out_dir, path: CameraPath = CameraPath(), curve: CameraCurve = HDRCNN_CURVE,
               exposure: float | None = None, saturated: float = 0.10, fps: int = 25
               ) -> tuple[Path, Path]:
    """Write ``out_dir/ldr.mp4`` (H.264, near lossless) and ``out_dir/hdr/00000.exr ...``; returns both paths.

    ``panorama``: an array or an .exr/.hdr path (read, never copied).
    """
    if not isinstance(panorama, np.ndarray):
        panorama = read_linear_rgb(panorama)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    video, hdr_dir = out_dir / "ldr.mp4", out_dir / "hdr"
    source = new_video(*path.size, fps)
    with atomic_path(hdr_dir, directory=True) as tmp_dir, VideoWriter(video, source, crf=10) as writer:
        for i, (hdr, ldr) in enumerate(clip_frames(panorama, path, curve, exposure, saturated)):
            write_exr(Path(tmp_dir) / f"{i:05d}.exr", hdr)
            writer.write(VideoFrame(i, ldr, i, source.time_base), ldr)
    return video, hdr_dir
