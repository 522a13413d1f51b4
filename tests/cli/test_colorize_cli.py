"""`vprop colorize` and `vprop keys` end to end through click, on real footage and on made-up bad input."""
import shutil
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from support.cli import bad, misused, run
from support.media import need_encoder, packets

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def frame_times(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [float(f.pts * f.time_base) for f in c.decode(s)]


def colour_keys(video, directory, indices):
    directory.mkdir(exist_ok=True)
    with av.open(str(video)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i in indices:
                rgb = frame.to_ndarray(format="rgb24")
                rgb[..., 0] = np.clip(rgb[..., 0].astype(int) + 40, 0, 255)   # tint: a colour key
                cv2.imwrite(str(directory / f"{i:05d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return directory


def test_colorizes_the_real_example_clip(tmp_path, tiny_color_weights):
    out = tmp_path / "color.mp4"
    result = run("colorize", EXAMPLES / "rhino_gray.mp4", "--keys", EXAMPLES / "rhino_keys", "--interval", 20,
                 "-o", out, "--weights", tiny_color_weights, "--quiet")
    assert result.exit_code == 0, result.output
    assert frame_times(out) == frame_times(EXAMPLES / "rhino_gray.mp4")
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    key = cv2.cvtColor(cv2.imread(str(EXAMPLES / "rhino_keys" / "00020.jpg")), cv2.COLOR_BGR2RGB)
    # Key frames come back in their own colours; the frames between are coloured, not gray.
    assert np.abs(frames[20].astype(int) - key).mean() < 6
    saturation = [np.ptp(f.astype(int), axis=-1).mean() for f in frames]
    assert min(saturation) > 3
    assert not list(tmp_path.glob(".*partial*"))


def test_lookup_changes_only_the_pixels_whose_chains_failed(tmp_path, tiny_color_weights):
    """The look-up is on by default; --no-lookup differs in some pixels of some frames (where chains failed), never
    in a key."""
    outs = {}
    for name, extra in [("default", []), ("no-lookup", ["--no-lookup"])]:
        out = tmp_path / name
        result = run("colorize", EXAMPLES / "rhino_gray.mp4", "--keys", EXAMPLES / "rhino_keys", "--interval", 20,
                     "--mode", "online", "-o", str(out) + "/", "--weights", tiny_color_weights, "-q", *extra)
        assert result.exit_code == 0, result.output
        outs[name] = [cv2.imread(str(p)) for p in sorted(out.glob("*.png"))[:20]]
    changed = [np.mean(np.any(a != b, axis=-1)) for a, b in zip(outs["default"], outs["no-lookup"])]
    assert changed[0] == 0 and 0 < max(changed) < 0.5      # the key as it is; some pixels of a few frames after it


def test_audio_timestamps_and_frame_count_survive(tmp_path, make_video, tiny_color_weights):
    video = make_video("talk.mp4", frames=30, size=(64, 48), audio="aac")
    keys = colour_keys(video, tmp_path / "keys", {0, 10, 20})
    out = tmp_path / "out.mp4"
    result = run("colorize", video, "--keys", keys, "--interval", 10, "-o", out, "--weights", tiny_color_weights)
    assert result.exit_code == 0, result.output
    assert frame_times(out) == frame_times(video)
    with av.open(str(out)) as c, av.open(str(video)) as src:
        assert len(c.streams.audio) == 1
        assert c.streams.audio[0].codec_context.name == src.streams.audio[0].codec_context.name
        got = sum(p.size for p in c.demux(c.streams.audio[0]))
        want = sum(p.size for p in src.demux(src.streams.audio[0]))
        assert got == want


def test_an_avi_with_dropped_frames_keys_and_colours_the_frames_it_has(tmp_path, make_video, tiny_color_weights):
    # Its header counts 21 frames for the 12 it holds (the gaps in its timestamps): the keys --interval exports
    # must be all that colorize asks for, and the timing must survive.
    video = make_video("gaps.avi", frames=12, pts=[0, 2, 3, 5, 8, 9, 11, 14, 15, 17, 20, 22],
                       time_base=Fraction(1, 24))
    listed = run("keys", video, "--interval", 5, "--list")
    rows = [line.split() for line in listed.output.splitlines()[1:]]
    assert listed.exit_code == 0 and [row[0] for row in rows] == ["0", "5", "10"]
    # time codes where an editor shows the frames: from their own timestamps, not from the average frame rate
    starts = [t - frame_times(video)[0] for t in frame_times(video)]
    assert [row[1] for row in rows] == [f"00:00:{starts[i]:06.3f}" for i in (0, 5, 10)] != \
        ["00:00:00.000", "00:00:00.208", "00:00:00.417"]
    assert run("keys", video, "--interval", 5, "-o", tmp_path / "k", "-q").exit_code == 0
    out = tmp_path / "out.mp4"
    result = run("colorize", video, "--keys", tmp_path / "k", "--interval", 5, "-o", out, "--weights",
                 tiny_color_weights, "-q")
    assert result.exit_code == 0, result.output
    times = frame_times(out)
    assert len(times) == 12 and np.allclose(times, frame_times(video), atol=1e-3)   # MP4's time base: to 1 ms


def test_png_directory_output_and_online_mode(tmp_path, make_video, tiny_color_weights):
    video = make_video("v.mp4", frames=12, size=(64, 48))
    keys = colour_keys(video, tmp_path / "keys", {0})
    result = run("colorize", video, "--keys", keys, "--mode", "online", "-o", str(tmp_path / "frames") + "/",
                 "--weights", tiny_color_weights, "-q")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [f"{i:05d}.png" for i in range(12)]


def test_keys_exports_what_colorize_expects(tmp_path, make_video, tiny_color_weights):
    video = make_video("v.mp4", frames=25, size=(64, 48))
    result = run("keys", video, "--interval", 10, "-o", tmp_path / "k", "-q")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == ["00000.png", "00010.png", "00020.png"]
    # As colorize's and segment's outputs, a directory whose parents do not exist yet is made.
    assert run("keys", video, "--interval", 10, "-o", tmp_path / "a" / "b", "-q").exit_code == 0
    assert len(list((tmp_path / "a" / "b").glob("*.png"))) == 3
    bad(run("keys", video, "--interval", 10, "-o", tmp_path / "k", "-q"), "k", "already holds PNG files")


@pytest.fixture
def setup(tmp_path, make_video):
    video = make_video("v.mp4", frames=12, size=(64, 48))
    keys = colour_keys(video, tmp_path / "keys", {0, 6})
    return tmp_path, video, keys


def test_missing_video(setup, tiny_color_weights):
    tmp, video, keys = setup
    bad(run("colorize", tmp / "nope.mp4", "--keys", keys, "-o", tmp / "o.mp4", "--weights", tiny_color_weights),
        "nope.mp4", "no such file")


def test_not_a_video(setup, tiny_color_weights):
    tmp, video, keys = setup
    fake = tmp / "fake.mp4"
    fake.write_text("hello")
    bad(run("colorize", fake, "--keys", keys, "-o", tmp / "o.mp4", "--weights", tiny_color_weights), "fake.mp4")


def test_no_keys(setup, tiny_color_weights):
    tmp, video, keys = setup
    (tmp / "empty").mkdir()
    bad(run("colorize", video, "--keys", tmp / "empty", "-o", tmp / "o.mp4", "--weights", tiny_color_weights), "empty")


def test_missing_interval_keys(setup, tiny_color_weights):
    tmp, video, keys = setup
    bad(run("colorize", video, "--keys", keys, "--interval", 3, "-o", tmp / "o.mp4", "--weights", tiny_color_weights),
        "missing key-frames", "3, 9")


def test_key_beyond_the_end(setup, tiny_color_weights):
    tmp, video, keys = setup
    shutil.copy(keys / "00006.png", keys / "00050.png")
    bad(run("colorize", video, "--keys", keys, "-o", tmp / "o.mp4", "--weights", tiny_color_weights),
        "00050.png", "beyond")
    assert not (tmp / "o.mp4").exists()


def test_key_of_the_wrong_size(setup, tiny_color_weights):
    tmp, video, keys = setup
    cv2.imwrite(str(keys / "00006.png"), np.full((10, 50, 3), 90, np.uint8) + np.array([0, 0, 60], np.uint8))
    bad(run("colorize", video, "--keys", keys, "-o", tmp / "o.mp4", "--weights", tiny_color_weights),
        "00006.png", "does not match")


def test_grayscale_key(setup, tiny_color_weights):
    tmp, video, keys = setup
    cv2.imwrite(str(keys / "00006.png"), np.full((48, 64, 3), 90, np.uint8))
    bad(run("colorize", video, "--keys", keys, "-o", tmp / "o.mp4", "--weights", tiny_color_weights),
        "00006.png", "grayscale")


def test_output_equal_to_input(setup, tiny_color_weights):
    tmp, video, keys = setup
    before = video.read_bytes()
    bad(run("colorize", video, "--keys", keys, "-o", video, "--weights", tiny_color_weights), "v.mp4")
    assert video.read_bytes() == before


def test_unwritable_output(setup, tiny_color_weights):
    tmp, video, keys = setup
    blocker = tmp / "file"
    blocker.write_text("x")
    bad(run("colorize", video, "--keys", keys, "-o", blocker / "o.mp4", "--weights", tiny_color_weights))


def test_unknown_weights_file(setup):
    tmp, video, keys = setup
    bad(run("colorize", video, "--keys", keys, "-o", tmp / "o.mp4", "--weights", tmp / "missing.safetensors"),
        "missing.safetensors")


def test_usage_error_exits_2(setup):
    tmp, video, keys = setup
    misused(run("colorize", video, "-o", tmp / "o.mp4"), "Missing option '--keys'")


def test_truncated_video_colours_what_decodes_and_warns(tmp_path, make_video, tiny_color_weights):
    video = make_video("v.mkv", frames=48, size=(64, 48))   # MKV: the index is not at the end of the file
    keys = colour_keys(video, tmp_path / "keys", {0})
    cut = tmp_path / "cut.mkv"
    data = video.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    out = tmp_path / "o.mp4"
    result = run("colorize", cut, "--keys", keys, "-o", out, "--weights", tiny_color_weights)
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "cut.mkv" in result.output
    n = len(frame_times(out))
    assert 0 < n < 48


def test_mp3_in_mp4_comes_out_bit_exact(tmp_path, make_video, tiny_color_weights):
    """The README's promise, end to end: MP4 holds MP3, so not one packet is re-encoded."""
    need_encoder("libmp3lame")
    video = make_video("talk.mp4", frames=12, size=(64, 48), audio="libmp3lame")
    keys = colour_keys(video, tmp_path / "keys", {0})
    out = tmp_path / "out.mp4"
    result = run("colorize", video, "--keys", keys, "--mode", "online", "-o", out, "--weights", tiny_color_weights)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    assert packets(out) == packets(video) and packets(out)[0] == "mp3"
    assert frame_times(out) == frame_times(video)


def test_audio_the_container_cannot_hold_is_reencoded_with_one_warning(tmp_path, make_video, tiny_color_weights):
    need_encoder("libopus")
    video = make_video("talk.mkv", frames=12, size=(64, 48), audio="libopus")
    keys = colour_keys(video, tmp_path / "keys", {0})
    args = ("colorize", video, "--keys", keys, "--mode", "online", "--weights", tiny_color_weights)
    result = run(*args, "-o", tmp_path / "out.mov")
    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert warned == ["warning: talk.mkv: audio stream #1 (opus) cannot go into .mov (the mov muxer does not take "
                      "opus); re-encoded to AAC"]
    assert packets(tmp_path / "out.mov")[0] == "aac"
    quiet = run(*args, "-o", tmp_path / "quiet.mov", "--quiet")
    assert quiet.exit_code == 0 and quiet.output == ""


def test_an_image_where_the_video_goes(setup, tiny_color_weights):
    tmp, video, keys = setup
    bad(run("colorize", keys / "00006.png", "--keys", keys, "-o", tmp / "o.mp4", "--weights", tiny_color_weights),
        "00006.png: is a still image (png), not a video file")


def test_keys_off_the_interval_are_named_in_a_warning(setup, tiny_color_weights):
    tmp, video, keys = setup
    shutil.copy(keys / "00006.png", keys / "00003.png")
    result = run("colorize", video, "--keys", keys, "--interval", 6, "-o", tmp / "o.mp4",
                 "--weights", tiny_color_weights)
    assert result.exit_code == 0, result.output
    assert "warning: keys: 00003.png not on --interval 6, so not used (without --interval every key is used)" \
        in result.output.splitlines()


def test_a_key_of_the_video_aspect_but_another_size_is_resized_with_a_warning(setup, tiny_color_weights):
    """As the README says: another aspect ratio is an error (test_key_of_the_wrong_size), another size is not."""
    tmp, video, keys = setup
    half = cv2.resize(cv2.imread(str(keys / "00006.png")), (32, 24), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(keys / "00006.png"), half)
    result = run("colorize", video, "--keys", keys, "-o", tmp / "o.mp4", "--weights", tiny_color_weights)
    assert result.exit_code == 0, result.output
    assert "warning: 00006.png: resized from 32x24 to 64x48 to match the video" in result.output.splitlines()
