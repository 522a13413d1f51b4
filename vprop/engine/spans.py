"""Spans: the video cut at its keys and its shots into pieces that the frame loop can run independently.

The frame loop (``Propagator``) restarts its flow chain at every key and never crosses a cut, so the frames
from a key up to the next key (or the shot's end) depend only on the frames they read:
online, themselves (from their key on); offline, themselves plus the next key of the same shot, whose backward
pass they blend in. Frames before a shot's first key go backward from it. A span is such a piece: it
*outputs* frames ``[start, end)`` and *reads* ``[start, read_end)``. Run span by span, the loop gives every
frame exactly the output it gives in one pass over the video, which is what makes a resumed run and a run
spread over worker processes equal to an uninterrupted one.
"""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    start: int       # first frame it outputs
    end: int         # one past the last frame it outputs
    read_end: int    # one past the last frame it reads: offline, the next key of the same shot is read too

    @property
    def frames(self) -> int:
        return self.end - self.start


def plan_spans(frame_count: int, keys: Iterable[int], cuts: Iterable[int], offline: bool) -> list[Span]:
    """The spans of a video of ``frame_count`` frames, in order, covering every frame once.

    ``keys``: the key-frame indices; ``cuts``: the frames that start a new shot; ``offline``: the frame loop
    blends each frame with the backward pass from the next key. A shot without a key is one span (its frames
    are independent: the loop writes them empty or refuses the shot).
    """
    keys = sorted(k for k in set(keys) if 0 <= k < frame_count)
    bounds = [0, *sorted(c for c in set(cuts) if 0 < c < frame_count), frame_count]
    spans: list[Span] = []
    for shot_start, shot_end in zip(bounds, bounds[1:]):
        inside = keys[bisect_left(keys, shot_start):bisect_left(keys, shot_end)]
        if not inside:
            spans.append(Span(shot_start, shot_end, shot_end))
            continue
        if inside[0] > shot_start:       # the frames before the shot's first key go backward from it
            spans.append(Span(shot_start, inside[0], inside[0] + 1))
        for key, next_key in zip(inside, [*inside[1:], None]):
            end = shot_end if next_key is None else next_key
            spans.append(Span(key, end, end + 1 if offline and next_key is not None else end))
    return spans
