"""Colour propagation in CIE-Lab: the guidance is lightness L, the propagated property is the chroma ab."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vprop.engine.flow import ChainedWarp, to_gray_u8
from vprop.engine.lookup import looked_up, matchable

AB_SCALE = 110.0   # |a|, |b| of sRGB colours stay below ~110 in OpenCV's float Lab


# OpenCV's float sRGB curve is tabulated: L is off by up to 0.15, finer than an 8-bit step but coarser than a 10-bit
# one. Deep (16-bit) frames are decoded by the curve's formula, looked up for each code, and converted to Lab from
# linear RGB, which OpenCV does exactly.
_CODE = np.arange(65536) / 65535.0
_LINEAR = np.where(_CODE <= 0.04045, _CODE / 12.92, ((_CODE + 0.055) / 1.055) ** 2.4).astype(np.float32)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 (or uint16) RGB -> float32 Lab (L in 0..100, ab roughly -110..110)."""
    if rgb.dtype == np.uint8:
        return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    return cv2.cvtColor(_LINEAR[rgb], cv2.COLOR_LRGB2Lab)


# The L of every gray level (R = G = B) as the conversion above gives it, to the bit: a gray frame, what colorize is
# given, is looked up instead of converted, at about a sixth of the cost (rgb_to_lab's 5 ms at 854x480 here).
_GRAY_LIGHTNESS = rgb_to_lab(np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, 2))[0, :, 0].copy()


def lightness(rgb: np.ndarray) -> np.ndarray:
    """uint8 (or uint16) RGB -> float32 Lab lightness L (0..100), as ``rgb_to_lab`` gives it."""
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    if rgb.dtype == np.uint8 and np.array_equal(red, green) and np.array_equal(green, blue):
        return _GRAY_LIGHTNESS[red]
    return rgb_to_lab(rgb)[..., 0]


def lab_to_rgb(lab: np.ndarray, dtype=np.uint8) -> np.ndarray:
    """float32 Lab -> RGB of ``dtype`` (uint8 or uint16)."""
    top = np.iinfo(dtype).max
    rgb = cv2.cvtColor(np.ascontiguousarray(lab, dtype=np.float32), cv2.COLOR_Lab2RGB)
    return np.clip(rgb * top + 0.5, 0, top).astype(dtype)


def guidance_channels(aligned: bool) -> int:
    return 5 if aligned else 2


def model_inputs(target_l: np.ndarray, key_lab: np.ndarray, chain: ChainedWarp | None):
    """Network inputs (guidance (C, H, W), property (2, H, W)) for colouring a frame of lightness ``target_l``.

    With a chain, the key is first aligned to the target; the network also sees how far to trust that
    alignment (inside the frame, flow consistency, and how well the warped lightness matches).
    Without one, the paper's inputs: the two lightness maps and the key's own ab.
    """
    t = target_l / 100.0
    if chain is None:
        guidance = np.stack([key_lab[..., 0] / 100.0, t])
        prop = key_lab[..., 1:]
    else:
        warped = chain.warp(key_lab)
        wl = warped[..., 0] / 100.0
        guidance = np.stack([t, wl, np.abs(wl - t) * 4.0, chain.valid, chain.confidence()])
        prop = warped[..., 1:]
    return guidance.astype(np.float32), np.ascontiguousarray(prop.transpose(2, 0, 1) / AB_SCALE, dtype=np.float32)


def compose(target_l: np.ndarray, ab: np.ndarray, dtype=np.uint8) -> np.ndarray:
    """Output frame: its own lightness with the propagated chroma. ab: (2, H, W) in network units."""
    lab = np.dstack([target_l, ab.transpose(1, 2, 0) * AB_SCALE])
    return lab_to_rgb(lab, dtype)


def at_source_depth(result: np.ndarray, source: np.ndarray) -> np.ndarray:
    """uint8 RGB ``result`` (a coloured or gray frame) on the lightness of its deep ``source`` frame (uint16 RGB),
    as uint16 RGB: the frames are worked on at 8 bits, and the source's finer steps of lightness (a 10-bit scan's)
    are kept."""
    return compose(lightness(source), key_chroma(rgb_to_lab(result)), np.uint16)


def key_chroma(key_lab: np.ndarray) -> np.ndarray:
    """A key's ab (2, H, W) in network units."""
    return key_lab[..., 1:].transpose(2, 0, 1) / AB_SCALE


def lightness_only(rgb: np.ndarray) -> np.ndarray:
    """uint8 (or uint16) RGB -> the gray RGB of its Lab lightness, of the same type: the frame as colorize and
    `vprop eval color` see it."""
    target_l = lightness(rgb)
    return compose(target_l, np.zeros((2, *target_l.shape), np.float32), rgb.dtype)


@dataclass
class ColorTask:
    """Frames are seen as their Lab lightness L (only L is kept of a frame); a key is the Lab image of the artist's
    colour frame."""

    # Chains are mended (Settings.repair) once newly failed on 3% of the frame: a third as many repairs as at 1%
    # (the bundled example, offline: 22 against 60 in 85 chain steps) at the same PSNR on the DAVIS dev videos
    # (38.48 dB offline K=30, 38.85 dB online K=10, 854x480); 5% lost 0.02 dB online.
    repair_above: float = 0.03
    # Every frame runs the network, near its key too: leaving it out within 2, 3 or 5 frames of the key lost up to
    # 0.3 dB offline at K=10 on the DAVIS dev videos (lucia 39.24 -> 38.95 dB at 5; elephant gained 0.04; measured
    # with the "aligned" detail, which colour then did not keep).
    near_key: int = 0
    # At the working size (vprop.engine.working): the key's fine chroma faded with the chain's confidence ("fine");
    # the key aligned at full size ("aligned") lost 0.06-0.10 dB online at K=10 on the dev videos (39.12 dB).
    detail: str = "fine"

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        return lightness(rgb)

    def prepare_key(self, rgb: np.ndarray) -> np.ndarray:
        return rgb_to_lab(rgb)

    def key(self, frame_l: np.ndarray, key_lab: np.ndarray) -> np.ndarray:
        return key_lab       # a colour key stands alone: the frame under it is not needed

    def gray(self, frame_l: np.ndarray) -> np.ndarray:
        return to_gray_u8(frame_l)

    def inputs(self, frame_l: np.ndarray, key_lab: np.ndarray, chain: ChainedWarp | None):
        return model_inputs(frame_l, key_lab, chain)

    def key_output(self, frame_l: np.ndarray, key_lab: np.ndarray) -> np.ndarray:
        return key_chroma(key_lab)

    def finish(self, frame_l: np.ndarray, ab: np.ndarray) -> np.ndarray:
        return compose(frame_l, ab)

    def looked_up(self, frame_ls: list[np.ndarray], key_lab: np.ndarray, chains: list[ChainedWarp],
                  chromas: list[np.ndarray]) -> list[np.ndarray]:
        key = matchable(key_lab[..., 0] / 100.0, key_chroma(key_lab))
        return [looked_up(key, frame_l / 100.0, ab, chain.failed(), chain.coords)
                for frame_l, chain, ab in zip(frame_ls, chains, chromas)]

    def empty(self, frame_l: np.ndarray) -> np.ndarray:
        return np.zeros((2, *frame_l.shape[:2]), np.float32)     # no chroma: the frame stays gray

