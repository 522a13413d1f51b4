"""Outputs that are not pictures, drawn for people: masks over their frame, HDR tone-mapped to SDR."""
from __future__ import annotations

import cv2
import numpy as np


def overlay(rgb: np.ndarray, labels: np.ndarray, palette: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The frame with each object tinted in its palette colour and outlined."""
    out = rgb.astype(np.float32)
    colours = palette[labels].astype(np.float32)
    inside = labels > 0
    out[inside] = out[inside] * (1 - alpha) + colours[inside] * alpha
    edge = cv2.morphologyEx(labels, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    dilated = cv2.dilate(labels, np.ones((3, 3), np.uint8))
    out[edge] = palette[dilated[edge]]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def tonemap_reinhard(hdr: np.ndarray, gamma: float = 2.2) -> np.ndarray:
    """SDR uint8 RGB of a scene-linear frame with OpenCV's Reinhard operator."""
    tonemap = cv2.createTonemapReinhard(gamma=gamma)
    bgr = np.ascontiguousarray(np.asarray(hdr, np.float32)[..., ::-1])
    if not bgr.any():
        return np.zeros(hdr.shape, np.uint8)
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)   # its internals warn on every call
    try:
        out = np.nan_to_num(tonemap.process(np.maximum(bgr, 1e-6)))
    finally:
        cv2.utils.logging.setLogLevel(level)
    return np.clip(out[..., ::-1] * 255.0 + 0.5, 0, 255).astype(np.uint8)
