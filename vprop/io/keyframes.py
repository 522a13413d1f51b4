"""Key-frame files read at the video's size: colour keys, HDR radiance keys, mask keys (one-line InputErrors)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from vprop.errors import InputError
from vprop.io.images import fit_to_size, is_grayscale, read_linear_rgb, read_mask, read_rgb

COLOR_KEY_SUFFIXES = (".png", ".jpg", ".jpeg")
HDR_KEY_SUFFIXES = (".exr", ".hdr")


def load_color_key(path, width: int, height: int) -> np.ndarray:
    """A colour key's uint8 RGB at the video's size; a grayscale key is an error (it holds no colour)."""
    rgb = read_rgb(path)
    if is_grayscale(rgb):
        raise InputError(path, "key-frame is grayscale; colour it first")
    return fit_to_size(rgb, width, height, path)


def load_hdr_key(path, width: int, height: int) -> np.ndarray:
    """A key's scene-linear RGB at the video's size; NaN/Inf replaced (with a warning), negatives clipped."""
    path = Path(path)
    rgb = read_linear_rgb(path)
    bad = ~np.isfinite(rgb)
    if bad.any():
        count = int(bad.any(-1).sum())
        warnings.warn(f"{path.name}: {count} pixel(s) with NaN or Inf replaced", stacklevel=2)
        posinf = np.isposinf(rgb)
        rgb = np.nan_to_num(rgb, nan=0.0, posinf=0.0, neginf=0.0)
        rgb[posinf] = rgb.max()    # +Inf: as bright as the brightest real pixel
    rgb = np.clip(rgb, 0.0, None)
    if not rgb.any():
        raise InputError(path, "key-frame is all black (no radiance)")
    return np.ascontiguousarray(fit_to_size(rgb, width, height, path), dtype=np.float32)


def load_mask(path, width: int, height: int) -> np.ndarray:
    """A key mask as an (H, W) label map of the video's size; one-line InputErrors for unusable files."""
    labels = read_mask(path)            # not an image, index above 254
    labels = fit_to_size(labels, width, height, path)   # other aspect: error; same aspect: nearest resize
    if not labels.any():
        warnings.warn(f"{Path(path).name}: mask has no object (all background); its frames get empty masks",
                      stacklevel=2)
    return labels


def parse_mask_option(text: str) -> tuple[int, Path]:
    """``FILE`` (frame 0) or ``IDX:FILE``. A Windows drive letter (``C:\\m.png``) is not an index."""
    head, sep, tail = text.partition(":")
    if sep and head.strip().isdigit():
        return int(head), Path(tail)
    return 0, Path(text)
