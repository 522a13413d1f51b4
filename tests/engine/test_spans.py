"""Spans: the frame loop run span by span gives every frame exactly what one pass over the video gives it."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from vprop.engine.propagator import Propagator, Settings
from vprop.engine.spans import Span, plan_spans
from vprop.io.video import VideoFrame, read_frames
from vprop.models.hub import load_model

from vprop.tasks.color import ColorTask

EXAMPLE = Path(__file__).resolve().parents[2] / "examples"


def test_spans_cover_every_frame_once_and_start_at_keys_and_cuts():
    spans = plan_spans(50, keys=[3, 20, 40, 26], cuts=[25], offline=True)
    assert spans == [Span(0, 3, 4), Span(3, 20, 21), Span(20, 25, 25),        # nothing read across the cut
                     Span(25, 26, 27), Span(26, 40, 41), Span(40, 50, 50)]
    online = plan_spans(50, keys=[3, 20, 40, 26], cuts=[25], offline=False)
    assert [(s.start, s.end, s.read_end) for s in online] == [
        (0, 3, 4), (3, 20, 20), (20, 25, 25), (25, 26, 27), (26, 40, 40), (40, 50, 50)]


def test_a_shot_without_keys_is_one_span_and_no_keys_one_span_per_shot():
    assert plan_spans(30, keys=[0], cuts=[10, 20], offline=True) == [Span(0, 10, 10), Span(10, 20, 20),
                                                                   Span(20, 30, 30)]
    assert plan_spans(7, keys=[], cuts=[], offline=True) == [Span(0, 7, 7)]


def _small_example(count=50, width=214):
    frames = []
    for f in read_frames(EXAMPLE / "rhino_gray.mp4"):
        if f.index >= count:
            break
        height = round(f.rgb.shape[0] * width / f.rgb.shape[1])
        frames.append(VideoFrame(f.index, cv2.resize(f.rgb, (width, height), interpolation=cv2.INTER_AREA),
                                 f.pts, f.time_base))
    keys = {}
    for path in sorted((EXAMPLE / "rhino_keys").iterdir()):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        keys[int(path.stem)] = ColorTask().prepare_key(cv2.resize(rgb, frames[0].rgb.shape[1::-1],
                                                                  interpolation=cv2.INTER_AREA))
    return frames, keys


@pytest.mark.parametrize("mode, cuts", [("offline", []), ("online", []), ("offline", [7, 31])])
def test_span_by_span_equals_one_pass_on_the_real_example(mode, cuts):
    """The shipped colour model on the bundled clip (small): byte-identical frames, keys 0, 20, 40 (and cuts that
    make shots whose first frames precede their first key)."""
    frames, keys = _small_example()
    keys = {i: k for i, k in keys.items() if i not in cuts} | ({c + 3: keys[0] for c in cuts})
    model, _ = load_model("color")
    settings = Settings(mode=mode, batch_size=3)
    whole = list(Propagator(model, ColorTask(), settings)(iter(frames), keys, cuts=cuts))
    pieces = []
    spans = plan_spans(len(frames), keys, cuts, offline=mode == "offline")
    assert len(spans) >= 3
    for span in spans:
        run = Propagator(model, ColorTask(), settings)(iter(frames[span.start:span.read_end]), keys, cuts=cuts)
        pieces += [(f, rgb) for f, rgb in run if f.index < span.end]
    assert [f.index for f, _ in pieces] == [f.index for f, _ in whole] == list(range(len(frames)))
    for (_, a), (_, b) in zip(whole, pieces):
        assert np.array_equal(a, b)
