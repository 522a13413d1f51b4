"""Shots: cut detection on a real two-shot clip, the keys it exports, and propagation that never crosses a cut."""
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from support.cli import bad, run
from support.media import write_video
from vprop.engine.propagator import Propagator, Settings
from vprop.engine.shots import find_cuts, shot_keys, shots, time_code
from vprop.eval.baselines import Passthrough
from vprop.io.video import VideoFrame, read_frames
from vprop.models.hub import load_model
from vprop.tasks.color import ColorTask

REPO = Path(__file__).resolve().parents[2]
RHINO = REPO / "examples" / "rhino.mp4"
# A DAVIS video for the second shot where the data is beside the checkout (CI; a worktree one level deeper).
DAVIS = next((p for p in (REPO.parent / "shared" / "data" / "davis2016-train" / "boat.mp4",
                          REPO.parent.parent / "shared" / "data" / "davis2016-train" / "boat.mp4") if p.exists()),
             None)
SIZE = (128, 72)
FIRST, SECOND = 20, 16          # frames per shot: the cut is at frame 20


def _frames(path, start, count):
    out = []
    for frame in read_frames(path):
        if start <= frame.index < start + count:
            out.append(cv2.resize(frame.rgb, SIZE, interpolation=cv2.INTER_AREA))
    return out


@pytest.fixture(scope="module", params=["rhino+rhino-reversed", "rhino+davis"])
def two_shots(request, tmp_path_factory):
    """A real clip with a hard cut at frame FIRST: rhino, then a different real clip (a DAVIS video where the data
    is present; otherwise later rhino footage upside down with red and blue swapped: other framing, other colours)."""
    if request.param == "rhino+davis":
        if DAVIS is None:
            pytest.skip("DAVIS data (../shared/data/davis2016-train) is not beside this checkout")
        second = _frames(DAVIS, 0, SECOND)
    else:
        second = [np.ascontiguousarray(f[::-1, ::-1, ::-1]) for f in _frames(RHINO, 30, SECOND)]
    frames = _frames(RHINO, 0, FIRST) + second
    path = tmp_path_factory.mktemp("shots") / "two_shots.mp4"
    return write_video(path, frames=len(frames), size=SIZE, content=lambda i, w, h: frames[i])


def test_the_cut_is_found_exactly_and_nothing_else(two_shots):
    cuts, count = find_cuts(read_frames(two_shots))
    assert count == FIRST + SECOND
    assert cuts == [FIRST]


def test_no_cut_inside_the_real_example():
    assert find_cuts(read_frames(RHINO)) == ([], 50)


def test_shot_keys_start_every_shot_and_split_long_ones():
    assert shot_keys([20], 36, 30) == [0, 20]
    assert shot_keys([7, 50], 100, 30) == [0, 7, 37, 50, 80]
    assert shot_keys([7], 10, None) == [0, 7]
    assert [(s.number, s.start, s.end) for s in shots([7], 10)] == [(1, 0, 7), (2, 7, 10)]
    assert time_code(Fraction(90061, 24)) == "01:02:32.542"


def test_keys_shots_exports_a_key_at_the_cut(two_shots, tmp_path):
    out = tmp_path / "keys"
    result = run("keys", two_shots, "--shots", "--interval", 30, "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.png")) == ["00000.png", f"{FIRST:05d}.png"]


def test_keys_interval_warns_of_a_shot_it_leaves_without_a_key(two_shots, tmp_path):
    # Said at export, before anyone paints: colorize would refuse the shot only after the painting.
    result = run("keys", two_shots, "--interval", 2 * FIRST, "-o", tmp_path / "few")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "few").glob("*.png")) == ["00000.png"]
    assert f"shot 2 (frames {FIRST}-{FIRST + SECOND - 1}" in result.output and "--shots --interval" in result.output
    enough = run("keys", two_shots, "--interval", FIRST // 2, "-o", tmp_path / "enough")
    assert enough.exit_code == 0 and "warning" not in enough.output


def test_keys_list_prints_frames_time_codes_and_shots(two_shots, tmp_path):
    result = run("keys", two_shots, "--shots", "--interval", 8, "--list", "--quiet")
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.strip().splitlines()[1:]]
    assert rows == [["0", "00:00:00.000", "1"], ["8", "00:00:00.333", "1"], ["16", "00:00:00.667", "1"],
                    [str(FIRST), "00:00:00.833", "2"], [str(FIRST + 8), "00:00:01.167", "2"]]
    assert not (tmp_path / "keys").exists()


def _tinted(rgb, channel):
    out = rgb.copy()
    out[..., channel] = np.clip(out[..., channel].astype(int) + 80, 0, 255)
    return out


def _key_lab(rgb):
    return ColorTask().prepare_key(rgb)


def test_frames_after_the_cut_are_coloured_from_their_own_shot_only(two_shots, tiny_color_weights):
    frames = list(read_frames(two_shots))
    cuts, _ = find_cuts(read_frames(two_shots))
    inside = FIRST + 5
    keys = {0: _key_lab(_tinted(frames[0].rgb, 0)), inside: _key_lab(_tinted(frames[inside].rgb, 2))}
    model, _ = load_model("color", str(tiny_color_weights), "cpu")
    s = Settings(mode="offline", align=True)
    whole = dict((f.index, rgb) for f, rgb in Propagator(model, ColorTask(), s)(iter(frames), keys, cuts=cuts))
    alone = dict((f.index, rgb) for f, rgb in
                 Propagator(model, ColorTask(), s)(iter(frames[FIRST:]), {inside: keys[inside]}))
    assert sorted(whole) == list(range(FIRST + SECOND))
    for i in range(FIRST, FIRST + SECOND):
        assert np.abs(whole[i].astype(int) - alone[i].astype(int)).max() <= 1, i


@pytest.mark.parametrize("mode", ["offline", "online"])
def test_no_colour_of_the_first_shot_leaks_past_the_cut(mode):
    """Passthrough copies the key's colour: frames of shot 2 must carry the blue key's colour, none of the red."""
    def gray(i):
        return VideoFrame(i, np.full((24, 32, 3), 100 if i < 5 else 160, np.uint8), i, None)
    red, blue = (_key_lab(np.full((24, 32, 3), c, np.uint8)) for c in ((200, 90, 90), (90, 90, 200)))
    keys = {0: red, 7: blue}
    task, s = ColorTask(), Settings(mode=mode, align=False)
    out = dict((f.index, rgb) for f, rgb in Propagator(Passthrough(), task, s)((gray(i) for i in range(10)), keys,
                                                                                 cuts=[5]))
    blue_only = task.finish(task.prepare(gray(5).rgb), task.key_output(None, blue))
    red_only = task.finish(task.prepare(gray(0).rgb), task.key_output(None, red))
    for i in range(5, 10):
        assert np.abs(out[i].astype(int) - blue_only.astype(int)).max() <= 1, i
    for i in range(0, 5):
        assert np.abs(out[i].astype(int) - red_only.astype(int)).max() <= 1, i
    # Without the cut, offline blends the red key into frames 5 and 6.
    crossed = dict((f.index, rgb) for f, rgb in Propagator(Passthrough(), task, s)((gray(i) for i in range(10)), keys))
    if mode == "offline":
        assert np.abs(crossed[5].astype(int) - blue_only.astype(int)).max() > 20


def test_a_shot_without_a_key_is_an_error_or_gray(two_shots, tmp_path, tiny_color_weights):
    keys = tmp_path / "keys"
    keys.mkdir()
    first = next(iter(read_frames(two_shots))).rgb
    cv2.imwrite(str(keys / "00000.png"), cv2.cvtColor(_tinted(first, 0), cv2.COLOR_RGB2BGR))
    args = ("colorize", two_shots, "--keys", keys, "--weights", tiny_color_weights, "--device", "cpu")
    bad(run(*args, "-o", tmp_path / "a.mp4"), "shot 2 (frames 20-35, 00:00:00.833-00:00:01.458)", "no key-frame")
    assert not (tmp_path / "a.mp4").exists()
    result = run(*args, "-o", f"{tmp_path / 'b'}/", "--allow-missing")
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "shot 2" in result.output
    second = cv2.imread(str(sorted((tmp_path / "b").glob("*.png"))[FIRST + 3]))
    assert np.abs(second.astype(int) - second[..., :1].astype(int)).max() <= 2     # gray: R = G = B
    result = run(*args, "-o", tmp_path / "c.mp4", "--no-shots", "--quiet")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("chain", [False, True])
def test_masks_do_not_cross_a_cut(chain):
    """Passthrough copies the key's mask: shot 2 takes its own key's mask (or none, with allow_missing)."""
    from vprop.engine.masks import propagate_masks

    def frames():
        return (VideoFrame(i, np.full((24, 32, 3), 90 if i < 5 else 170, np.uint8), i, None) for i in range(10))
    left, right = np.zeros((24, 32), np.uint8), np.zeros((24, 32), np.uint8)
    left[:, :10], right[:, 20:] = 1, 1
    s = Settings(mode="online", align=False)
    out = dict((f.index, m) for f, m in propagate_masks(Passthrough(), frames(), {0: left, 7: right}, s,
                                                        chain=chain, cuts=[5]))
    assert all((out[i] == left).all() for i in range(5))
    assert all((out[i] == right).all() for i in range(5, 10))
    s.allow_missing = True
    out = dict((f.index, m) for f, m in propagate_masks(Passthrough(), frames(), {0: left}, s, chain=chain,
                                                        cuts=[5]))
    assert all((out[i] == left).all() for i in range(5)) and not any(out[i].any() for i in range(5, 10))
