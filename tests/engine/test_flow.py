"""Optical flow between consecutive frames (FlowEstimator): both directions at once, and at half size."""
import cv2
import numpy as np
import pytest

from vprop.engine.flow import FLOW_PRESETS, FlowEstimator


def textured_pair(shift: int = 3, size=(96, 128)):
    """A smooth random texture and the same texture moved ``shift`` pixels to the right."""
    rng = np.random.default_rng(0)
    noise = cv2.GaussianBlur(rng.random((size[0], size[1] + shift)).astype(np.float32), (0, 0), 2.0)
    image = cv2.normalize(noise, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return np.ascontiguousarray(image[:, shift:]), np.ascontiguousarray(image[:, :-shift])


@pytest.fixture
def opencv_threads():
    """Sets OpenCV's thread count for one test (a worker process of several runs with one)."""
    before = cv2.getNumThreads()
    yield cv2.setNumThreads
    cv2.setNumThreads(before)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("preset", list(FLOW_PRESETS))
def test_both_ways_gives_the_two_flows_of_calls_in_turn(preset, threads, opencv_threads):
    opencv_threads(threads)
    a, b = textured_pair()
    there, back = FlowEstimator(preset).both_ways(a, b)
    one_by_one = FlowEstimator(preset)
    assert np.array_equal(there, one_by_one(a, b)) and np.array_equal(back, one_by_one(b, a))


def test_both_ways_measures_the_motion_each_way():
    a, b = textured_pair(shift=3)        # b is a moved 3 px right: a(p) is b(p + (3, 0))
    there, back = FlowEstimator("fast-full").both_ways(a, b)
    inner = (slice(16, -16), slice(16, -16))
    assert np.median(there[inner][..., 0]) == pytest.approx(3.0, abs=0.3)
    assert np.median(back[inner][..., 0]) == pytest.approx(-3.0, abs=0.3)
    assert np.abs(np.median(there[inner][..., 1])) < 0.3


def test_both_ways_at_half_answers_at_full_size_in_full_size_pixels():
    a, b = textured_pair(shift=4)
    there, back = FlowEstimator().both_ways_at_half(a, b)
    assert there.shape == back.shape == (*a.shape, 2)
    inner = (slice(16, -16), slice(16, -16))
    assert np.median(there[inner][..., 0]) == pytest.approx(4.0, abs=0.5)
    assert np.median(back[inner][..., 0]) == pytest.approx(-4.0, abs=0.5)
