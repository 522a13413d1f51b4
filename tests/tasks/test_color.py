"""A colour frame is seen as its Lab lightness (``vprop.tasks.color``)."""
from pathlib import Path

import numpy as np

from vprop.io.video import read_frames
from vprop.tasks.color import ColorTask, lightness, rgb_to_lab

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_a_gray_frame_gets_the_lightness_the_conversion_gives_to_the_bit():
    """Gray frames take a per-level look-up: every level, anywhere in the frame, as the full conversion has it."""
    levels = np.roll(np.tile(np.arange(256, dtype=np.uint8), (48, 4)), 7, axis=1)
    gray = np.repeat(levels[..., None], 3, axis=2)
    assert np.array_equal(lightness(gray), rgb_to_lab(gray)[..., 0])
    decoded = next(iter(read_frames(EXAMPLES / "rhino_gray.mp4"))).rgb        # a real gray clip, decoded
    assert np.array_equal(lightness(decoded), rgb_to_lab(decoded)[..., 0])


def test_a_colour_frame_is_converted():
    rgb = next(iter(read_frames(EXAMPLES / "rhino.mp4"))).rgb
    assert not np.array_equal(rgb[..., 0], rgb[..., 1])
    assert np.array_equal(ColorTask().prepare(rgb), rgb_to_lab(rgb)[..., 0])
    assert ColorTask().finish(ColorTask().prepare(rgb), np.zeros((2, *rgb.shape[:2]), np.float32)).shape == rgb.shape
