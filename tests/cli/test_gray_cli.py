"""`vprop gray`: the gray version of a colour clip is its Lab lightness, the frames colorize and the evaluation see."""
import av
import numpy as np

from support.cli import bad, run
from vprop.io.video import read_frames
from vprop.tasks.color import rgb_to_lab


def test_gray_is_the_lab_lightness_of_each_frame(tmp_path, make_video):
    video = make_video("colour.mp4", frames=10, size=(64, 48), audio="aac")
    out = tmp_path / "gray.mkv"
    result = run("gray", video, "-o", out, "--lossless")
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == f"wrote {out}"
    source, grays = list(read_frames(video)), list(read_frames(out))
    assert len(grays) == len(source) == 10
    for frame, gray in zip(source, grays):
        assert np.ptp(frame.rgb.astype(int), axis=-1).max() > 50          # the source has colour
        assert np.array_equal(gray.rgb[..., 0], gray.rgb[..., 1])          # the output has none
        assert np.array_equal(gray.rgb[..., 0], gray.rgb[..., 2])
        # Its lightness is the source's, to within one 8-bit step of gray (at most 0.4 L near white).
        assert np.abs(rgb_to_lab(gray.rgb)[..., 0] - rgb_to_lab(frame.rgb)[..., 0]).max() < 0.45
    with av.open(str(out)) as c:
        assert len(c.streams.audio) == 1


def test_gray_h264_and_bad_input(tmp_path, make_video):
    video = make_video("colour.mp4", frames=5, size=(64, 48))
    assert run("gray", video, "-o", tmp_path / "g.mp4", "-q").exit_code == 0
    assert len(list(read_frames(tmp_path / "g.mp4"))) == 5
    bad(run("gray", tmp_path / "nope.mp4", "-o", tmp_path / "x.mp4"), "nope.mp4", "no such file")
    bad(run("gray", video, "-o", video), "output would overwrite the input")
