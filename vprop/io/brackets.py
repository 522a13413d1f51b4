"""Bracketed exposures of one still -> its scene-linear radiance (Debevec calibration and merge): an HDR key."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import cv2
import numpy as np

from vprop.errors import InputError
from vprop.io.images import read_rgb, write_exr
from vprop.tasks.hdr import SATURATED


BRACKET_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def _exif_exposure(path: Path) -> float | None:
    from PIL import Image

    try:
        with Image.open(path) as image:
            exif = image.getexif()
            value = exif.get_ifd(0x8769).get(33434) or exif.get(33434)
    except Exception:
        return None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def _parse_time(text: str) -> float:
    if "/" in text:
        a, b = text.split("/", 1)
        return float(a) / float(b)
    return float(text)


def bracket_times(directory) -> dict[Path, float]:
    """The exposure time of each bracket image: ``times.txt`` ("filename seconds" per line) or EXIF."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(directory, "no such directory")
    images = sorted(p for p in directory.iterdir()
                    if p.suffix.lower() in BRACKET_SUFFIXES and not p.name.startswith("."))
    if len(images) < 2:
        raise InputError(directory, "need at least two bracketed exposures (.png/.jpg/.tif)")
    sidecar = directory / "times.txt"
    given: dict[str, float] = {}
    if sidecar.is_file():
        for number, line in enumerate(sidecar.read_text().splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = re.split(r"\s+", line)
            try:
                if len(parts) != 2:
                    raise ValueError
                given[parts[0]] = _parse_time(parts[1])
            except (ValueError, ZeroDivisionError):
                raise InputError(sidecar, f"line {number}: expected 'filename seconds', got {line!r}") from None
    times = {}
    for path in images:
        t = given.get(path.name)
        if t is None:
            t = _exif_exposure(path)
        if t is None:
            raise InputError(path, "no exposure time (add a line to times.txt or keep the EXIF ExposureTime)")
        if not (np.isfinite(t) and t > 0):
            raise InputError(path, f"exposure time must be positive, got {t}")
        times[path] = float(t)
    if len(set(times.values())) < 2:
        raise InputError(directory, "all brackets have the same exposure time")
    return times


def merge_brackets(directory, samples: int = 70) -> np.ndarray:
    """Scene-linear RGB (H, W, 3) float32 from bracketed 8-bit exposures: Debevec calibration + merge."""
    times = bracket_times(directory)
    images, shape = [], None
    for path in times:
        rgb = read_rgb(path)
        if shape is not None and rgb.shape != shape:
            raise InputError(path, f"size {rgb.shape[1]}x{rgb.shape[0]} differs from the other brackets "
                                   f"({shape[1]}x{shape[0]})")
        shape = rgb.shape
        images.append(np.ascontiguousarray(rgb[..., ::-1]))   # OpenCV's order
    exposure = np.array(list(times.values()), np.float32)
    _warn_if_clipped_everywhere(directory, images, min(times.values()))
    response = cv2.createCalibrateDebevec(samples=samples).process(images, exposure)
    merged = cv2.createMergeDebevec().process(images, exposure, response)
    rgb = np.nan_to_num(np.asarray(merged, np.float32)[..., ::-1], nan=0.0, posinf=0.0, neginf=0.0)
    return np.ascontiguousarray(np.clip(rgb, 0, None))


def _warn_if_clipped_everywhere(directory, images: list[np.ndarray], shortest: float,
                                at_most: float = 0.001) -> None:
    """Where even the shortest exposure clipped, no bracket measured the radiance: the merge can only guess it."""
    clipped = np.logical_and.reduce([image.max(-1) >= SATURATED * 255 for image in images])
    share = float(clipped.mean())
    if share > at_most:
        seconds = f"1/{1 / shortest:.0f}" if shortest < 1 else f"{shortest:g}"
        warnings.warn(f"{Path(directory).name}: {share:.1%} of the pixels are clipped in every exposure, even the "
                      f"shortest ({seconds} s): their radiance is unknown and merged too dark; add a shorter exposure",
                      stacklevel=3)


def hdr_merge(directory, output) -> Path:
    """Merge the brackets in ``directory`` into ``output`` (.exr, half float)."""
    output = Path(output)
    if output.suffix.lower() != ".exr":
        raise InputError(output, "output must be an .exr file")
    rgb = merge_brackets(directory)
    write_exr(output, rgb)
    return output
