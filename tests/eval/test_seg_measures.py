"""J and F on hand-made masks with known answers."""
import numpy as np
import pytest

from vprop.eval.metrics import boundary, f_measure, jaccard, tolerance
from vprop.eval.seg import SegScores


def square(x0, y0, size=20, shape=(60, 80)):
    m = np.zeros(shape, bool)
    m[y0:y0 + size, x0:x0 + size] = True
    return m


def test_identical_masks_score_one():
    a = square(10, 10)
    assert jaccard(a, a) == 1.0
    assert f_measure(a, a) == 1.0


def test_empty_against_empty_is_one_and_against_object_is_zero():
    empty = np.zeros((60, 80), bool)
    assert jaccard(empty, empty) == 1.0
    assert f_measure(empty, empty) == 1.0
    assert jaccard(empty, square(10, 10)) == 0.0
    assert f_measure(square(10, 10), empty) == 0.0


def test_disjoint_masks_score_zero():
    a, b = square(0, 0, 15), square(50, 30, 15)
    assert jaccard(a, b) == 0.0
    assert f_measure(a, b) == 0.0


def test_half_overlap_iou():
    a, b = square(10, 10, 20), square(20, 10, 20)     # 200 shared of 600
    assert jaccard(a, b) == pytest.approx(200 / 600)


def test_one_pixel_shift_is_within_the_boundary_tolerance():
    a, b = square(10, 10), square(11, 10)
    assert tolerance(a.shape) >= 1
    assert f_measure(a, b) == 1.0
    assert jaccard(a, b) < 1.0


def test_far_shift_is_not():
    a, b = square(10, 10), square(16, 10)
    assert f_measure(a, b) < 0.7


def test_tolerance_follows_the_davis_rule():
    assert tolerance((480, 854)) == round(0.008 * np.hypot(480, 854)) == 8
    assert tolerance((10, 10)) == 1


def test_boundary_is_the_morphological_gradient():
    b = boundary(square(10, 10, 4, (20, 20)))
    assert b[9:15, 9:15].sum() == 6 * 6 - 2 * 2 + 0 and not b[11:13, 11:13].any()


def test_means_are_per_object_over_frames_then_over_objects():
    s = SegScores(ids=(1, 2), frames=[1, 2], j=[[1.0, 0.0], [0.5, 0.0]], f=[[1.0, 1.0], [1.0, 0.0]])
    assert s.J == pytest.approx(0.375)
    assert s.F == pytest.approx(0.75)
    assert s.JF == pytest.approx(0.5625)
    assert s.per_object()[1]["J"] == pytest.approx(0.75)
