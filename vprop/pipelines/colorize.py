"""Colorize: L of each frame + ab propagated from colour key-frames."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from vprop.engine.confidence import ConfidenceReport
from vprop.errors import InputError
from vprop.engine.flow import ChainedWarp, to_gray_u8
from vprop.io.images import fit_to_size, is_grayscale, read_rgb
from vprop.io.video import VideoWriter, probe, read_frames
from vprop.engine.keys import LazyKeys, check_all_keys_used, key_files
from vprop.models.hub import load_model
from vprop.engine.propagator import Propagator, Settings
from vprop.engine.shots import video_cuts
from vprop.tasks import color


@dataclass
class ColorTask:
    """Frames are seen as Lab; a key is the Lab image of the artist's colour frame."""

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        return color.rgb_to_lab(rgb)

    def prepare_key(self, rgb: np.ndarray) -> np.ndarray:
        return color.rgb_to_lab(rgb)

    def gray(self, lab: np.ndarray) -> np.ndarray:
        return to_gray_u8(lab[..., 0])

    def inputs(self, lab: np.ndarray, key_lab: np.ndarray, chain: ChainedWarp | None):
        return color.model_inputs(lab[..., 0], key_lab, chain)

    def key_output(self, lab: np.ndarray, key_lab: np.ndarray) -> np.ndarray:
        return key_lab[..., 1:].transpose(2, 0, 1) / color.AB_SCALE

    def finish(self, lab: np.ndarray, ab: np.ndarray) -> np.ndarray:
        return color.compose(lab[..., 0], ab)

    def empty(self, lab: np.ndarray) -> np.ndarray:
        return np.zeros((2, *lab.shape[:2]), np.float32)     # no chroma: the frame stays gray


def load_color_key(path: Path, width: int, height: int) -> np.ndarray:
    rgb = read_rgb(path)
    if is_grayscale(rgb):
        raise InputError(path, "key-frame is grayscale; colour it first")
    return fit_to_size(rgb, width, height, path)


def colorize(video, keys_dir, output, *, interval: int | None = None, mode: str = "offline",
             align: bool | None = None, blend: str = "confidence", weights: str | None = None,
             device: str = "cpu", batch_size: int = 4, crf: int = 18, lossless: bool = False,
             report=None, on_frame: Callable[[int], None] | None = None,
             model: torch.nn.Module | None = None, shots: bool = True, allow_missing: bool = False) -> Path:
    """Colour a grayscale (or colour) video from colour key-frames named by frame index.

    ``align=None`` follows the weights (flow-aligned models align, the paper's plain TPN does not).
    ``model``: a colour model already loaded (a batch worker holds one for many videos); ``weights`` is then unused.
    Returns the output path, written atomically. ``on_frame(index)`` is called after each frame.
    ``report``: a directory for the per-frame confidence report (``vprop.engine.confidence.ConfidenceReport``).
    ``shots``: find the hard cuts first (``vprop.engine.shots``) and colour every shot from its own keys only; a shot
    without a key is an error, or with ``allow_missing`` stays gray.
    """
    info = probe(video)
    confidence = ConfidenceReport(report, video=video, task="color", mode=mode) if report else None
    files = key_files(keys_dir, interval, info.frame_count, (".png", ".jpg", ".jpeg"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # resize warnings are shown once, when the key is used
        for path in files.values():       # fail before any work on a bad key
            load_color_key(path, info.width, info.height)
    cuts = video_cuts(video, files, allow_missing) if shots else []
    task = ColorTask()
    keys = LazyKeys(files, lambda p: task.prepare_key(load_color_key(p, info.width, info.height)))
    if model is None:
        model, _ = load_model("color", weights, device)
    settings = Settings(mode=mode, align=model.cfg.extra.get("aligned", True) if align is None else align,
                        blend=blend, batch_size=batch_size, device=device, allow_missing=allow_missing)
    seen = set()
    with VideoWriter(output, info, crf=crf, lossless=lossless) as writer:
        for frame, rgb in Propagator(model, task, settings)(read_frames(video), keys, on_confidence=confidence,
                                                             cuts=cuts):
            writer.write(frame, rgb)
            if confidence:
                confidence.picture(frame.index, lambda: rgb)
            seen.add(frame.index)
            if on_frame:
                on_frame(frame.index)
        check_all_keys_used(files, seen)
        if confidence:
            confidence.write()
    return writer.path
