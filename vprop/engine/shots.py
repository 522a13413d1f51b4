"""Shots: hard cuts found from the frames' colour content, so that no key is propagated across a cut.

Each frame is shrunk to ``WIDTH`` pixels wide and summarised by a hue-saturation histogram and a brightness
histogram and a gray thumbnail; a cut is a frame whose histograms differ from the previous frame's by more than a
fixed distance (Bhattacharyya, 0 = same, 1 = disjoint) while its thumbnail does not show the same framing.
Streaming: only the previous frame's summary is held.
``benchmarks/eval_cuts.py`` measures the rule (no false cut inside the 30 DAVIS videos, every synthetic cut found).
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from vprop.errors import InputError
from vprop.io.video import VideoFrame, VideoInfo, index_frames, probe, read_frames

WIDTH = 64                 # histograms are taken at this width: cheap, and blind to noise and fine texture
# Histogram distance above which two consecutive frames may belong to different shots: benchmarks/eval_cuts.py
# measured at most 0.24 between the frames of one DAVIS video, at least 0.38 across any of the 870 ordered pairs.
CUT_DISTANCE = 0.3
# Gray-thumbnail correlation at or above which two frames show the same framing, whatever their colours: across the
# 870 DAVIS cuts it was at most 0.88; a synthetic clip whose tint changes every frame keeps 0.97 and more.
LAYOUT_CORRELATION = 0.93


def _summary(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue-saturation and brightness histograms, and the standardised gray thumbnail (the frame's layout)."""
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (WIDTH, max(1, round(h * WIDTH / w))), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hue_sat = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
    value = cv2.calcHist([hsv], [2], None, [32], [0, 256])
    layout = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.5)
    layout = (layout - layout.mean()) / (layout.std() + 1e-3)
    return cv2.normalize(hue_sat, None, 1, 0, cv2.NORM_L1), cv2.normalize(value, None, 1, 0, cv2.NORM_L1), layout


class CutDetector:
    """Feed frames in order. A cut changes the colours and the framing: the histogram
    distance to the previous frame is above ``threshold`` and their gray thumbnails do not correlate as closely as
    ``correlation`` (the same framing). The second cue keeps a global tint or exposure change over one framing
    (a flash, flat synthetic colour) from reading as a cut."""

    def __init__(self, threshold: float = CUT_DISTANCE, correlation: float = LAYOUT_CORRELATION):
        self.threshold, self.correlation = threshold, correlation
        self._previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def measure(self, rgb: np.ndarray) -> tuple[float, float]:
        """(histogram distance, layout correlation) to the previous frame fed; (0, 1) for the first frame."""
        current = _summary(rgb)
        previous, self._previous = self._previous, current
        if previous is None or previous[2].shape != current[2].shape:
            return (0.0, 1.0) if previous is None else (1.0, 0.0)
        # The larger histogram distance: a cut may keep the colours and change the lighting, or the other way.
        distance = max(cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA) for a, b in zip(previous[:2], current[:2]))
        return distance, float((previous[2] * current[2]).mean())

    def is_cut(self, rgb: np.ndarray) -> bool:
        distance, correlation = self.measure(rgb)
        return distance > self.threshold and correlation < self.correlation


def find_cuts(frames: Iterable[VideoFrame], threshold: float = CUT_DISTANCE,
              correlation: float = LAYOUT_CORRELATION) -> tuple[list[int], int]:
    """(indices of the frames that start a new shot, excluding frame 0; number of frames)."""
    detector, cuts, count = CutDetector(threshold, correlation), [], 0
    for frame in frames:
        if detector.is_cut(frame.rgb):
            cuts.append(frame.index)
        count = frame.index + 1
    return cuts, count


@dataclass(frozen=True)
class Shot:
    number: int     # 1-based, as a person counts them
    start: int      # first frame index
    end: int        # one past the last frame index


def shots(cuts: Sequence[int], frame_count: int) -> list[Shot]:
    bounds = [0, *cuts, frame_count]
    return [Shot(n + 1, a, b) for n, (a, b) in enumerate(zip(bounds, bounds[1:])) if b > a]


def shot_keys(cuts: Sequence[int], frame_count: int, interval: int | None) -> list[int]:
    """The frames to key: the first frame of every shot, plus every ``interval``-th frame within it."""
    step = interval or frame_count or 1
    return [i for s in shots(cuts, frame_count) for i in range(s.start, s.end, step)]


def time_code(seconds: Fraction | float) -> str:
    """HH:MM:SS.mmm of a time in seconds."""
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def frame_starts(video, info: VideoInfo) -> Callable[[int], Fraction]:
    """A frame's start in seconds from the first frame's, by index: from its own timestamp where the packets give
    every frame's (a phone's variable frame rate, an AVI's dropped frames: where an editor shows the frame), else
    at the video's average frame rate. ``info``: the video's ``probe``."""
    index = index_frames(video)
    if index is None:
        return lambda i: Fraction(i) / info.fps
    return lambda i: (index.pts[i] - index.pts[0]) * info.time_base


def shots_without_key(cuts: Sequence[int], frame_count: int, keys: Iterable[int]) -> list[Shot]:
    keys = sorted(keys)
    return [s for s in shots(cuts, frame_count) if not any(s.start <= k < s.end for k in keys)]


def describe(shot: Shot, start: Callable[[int], Fraction]) -> str:
    """The shot as a person finds it: its number, frames and time codes (``start``: ``frame_starts``)."""
    return (f"shot {shot.number} (frames {shot.start}-{shot.end - 1}, "
            f"{time_code(start(shot.start))}-{time_code(start(shot.end - 1))})")


def video_cuts(video, key_indices: Iterable[int], allow_missing: bool = False) -> list[int]:
    """A first pass over ``video``: its cuts, checked so that every shot has a key. A shot without one is an error
    naming it, or with ``allow_missing`` a warning (the pipeline then writes it gray / empty)."""
    cuts, count = find_cuts(read_frames(video))
    missing = shots_without_key(cuts, count, key_indices)
    if missing:
        start = frame_starts(video, probe(video))
        named = describe(missing[0], start) + (f" and {len(missing) - 1} more shots" if len(missing) > 1 else "")
        if not allow_missing:
            raise InputError(video, f"{named} has no key-frame: add one (vprop keys --shots lists the shots), "
                                    f"or pass --allow-missing to leave it empty")
        for shot in missing:
            warnings.warn(f"{video}: {describe(shot, start)} has no key-frame; it is written empty")
    return cuts
