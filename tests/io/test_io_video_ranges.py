"""Reading a range of frames seeks instead of decoding from frame 0, and gives exactly the full decode's frames."""
from pathlib import Path

import av
import numpy as np
import pytest

from support.media import pattern
from vprop.io.video import FrameIndex, index_frames, read_frames

CLIPS = Path("/work/shared/data/clips")


def _b_frame_video(path, frames=60, gop=12):
    """H.264 with B-frames (pts out of decode order) and a keyframe every ``gop`` frames."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.codec_context.options = {"g": str(gop), "keyint_min": str(gop), "bf": "3", "sc_threshold": "0"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern(i, 64, 48), format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


def _check_ranges(path, ranges):
    index = index_frames(path)
    assert index is not None and len(index.keyframes) > 1
    full = list(read_frames(path))
    assert len(index) == len(full)
    for start, stop in ranges:
        got = list(read_frames(path, start, stop, index))
        want = full[start:stop]
        assert [(f.index, f.pts) for f in got] == [(f.index, f.pts) for f in want]
        assert all(np.array_equal(g.rgb, w.rgb) for g, w in zip(got, want))


def test_ranges_of_a_b_frame_video(tmp_path):
    path = _b_frame_video(tmp_path / "b.mp4")
    _check_ranges(path, [(1, 4), (11, 13), (12, 13), (13, 30), (35, None), (59, None), (0, 5)])


@pytest.mark.parametrize("name", ["bikes.mp4", "pexels-koolshooters-7322716.mp4", "tree.avi"])
def test_ranges_of_real_clips(name):
    if not (CLIPS / name).is_file():
        pytest.skip(f"{CLIPS / name} is not on this machine (optional data)")
    _check_ranges(CLIPS / name, [(29, 40), (30, 31), (31, 80), (75, 90), (60, None)])


def test_a_wrong_index_falls_back_to_decoding_from_the_start(tmp_path):
    path = _b_frame_video(tmp_path / "b.mp4")
    index = index_frames(path)
    shifted = FrameIndex(tuple(p + 1000 for p in index.pts), index.keyframes, index.seek_to)
    got = list(read_frames(path, 20, 25, shifted))
    full = list(read_frames(path))[20:25]
    assert [f.index for f in got] == list(range(20, 25))
    assert all(np.array_equal(g.rgb, w.rgb) for g, w in zip(got, full))
