"""PSNR and CDC (colour distribution consistency) on hand-computed cases and on the real example video."""
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from vprop.eval.baselines import resized_frames
from vprop.eval.metrics import CDC_STEPS, ColorConsistency, cdc, channel_histograms, js_divergence, psnr

RHINO = Path(__file__).resolve().parents[2] / "examples" / "rhino.mp4"


def test_psnr_of_known_errors():
    assert psnr(255.0**2 / 1000) == pytest.approx(30.0)
    assert psnr(1.0) == pytest.approx(48.1308, abs=1e-4)
    assert psnr(0.0) == pytest.approx(10 * math.log10(255.0**2 / 1e-10))   # a perfect frame stays finite


def test_js_divergence_is_symmetric_zero_on_equal_and_ln2_on_disjoint():
    p, q = np.array([0.2, 0.8, 0.0]), np.array([0.5, 0.0, 0.5])
    assert js_divergence(p, p) == 0.0
    assert js_divergence(p, q) == pytest.approx(js_divergence(q, p))
    assert js_divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(math.log(2))


def test_cdc_of_two_frames_by_hand():
    black = np.zeros((4, 4, 3), np.uint8)
    half = black.copy()
    half[:2] = 255                                   # every channel: half the pixels 0, half 255
    m0, m255 = 0.75, 0.25
    expected = (math.log(1 / m0) + 0.5 * math.log(0.5 / m0) + 0.5 * math.log(0.5 / m255)) / 2
    assert cdc([black, half]) == pytest.approx(expected)
    assert channel_histograms(half)[:, [0, 255]].tolist() == [[0.5, 0.5]] * 3


def test_identical_frames_have_zero_cdc_and_too_short_a_sequence_none():
    frame = next(resized_frames(RHINO, 96)).rgb
    assert cdc([frame] * 6) == 0.0
    assert math.isnan(cdc([frame]))


def test_steps_the_sequence_is_too_short_for_are_left_out():
    frames = [np.full((2, 2, 3), v, np.uint8) for v in (0, 10, 20)]   # each pair disjoint: ln 2 at k = 1, 2
    consistency = ColorConsistency()
    for f in frames:
        consistency.add(f)
    assert consistency.counts == {1: 2, 2: 1, 4: 0} and CDC_STEPS == (1, 2, 4)
    assert consistency.value == pytest.approx(math.log(2))


def test_a_flickering_colouring_scores_worse_than_the_real_video():
    """The real frames against the same frames with a colour cast that comes and goes, as a flickering
    colouriser produces; and the cast held steady does not flicker."""
    frames = [f.rgb for f in resized_frames(RHINO, 96, limit=12)]
    lab = [cv2.cvtColor(f, cv2.COLOR_RGB2LAB).astype(np.int16) for f in frames]

    def cast(f, shift):
        out = f.copy()
        out[..., 1:] += shift
        return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)

    flicker = [cast(f, 12 if i % 2 else -12) for i, f in enumerate(lab)]
    steady_cast = [cast(f, 12) for f in lab]
    real = cdc(frames)
    assert 0 < real < 0.05
    assert cdc(flicker) > 5 * real
    assert cdc(steady_cast) < 2 * real
