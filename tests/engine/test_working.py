"""The working size: colour propagated on shrunk frames and answered at each frame's own size, and the
--full-resolution path that keeps the frame loop at the video's size."""
import cv2
import numpy as np
import pytest
import torch

from support.cli import run
from support.seen_sizes import SeenSizes
from vprop.engine.flow import FLOW_PRESETS, FlowEstimator, pixel_grid
from vprop.engine.propagator import Propagator, Settings
from vprop.engine.working import (MAX_RESIDUAL, enlarge, propagate_at, propagation_short_side, refined_coords,
                                  residual_flow, shrink, working_short_side, working_size)
from vprop.io.images import read_rgb
from vprop.io.video import VideoFrame, read_frames
from vprop.models.hub import load_model, save_weights
from vprop.models.tpn import SwitchableTPN, TPNConfig
from vprop.pipelines.colorize import propagate_color
from vprop.tasks.color import ColorTask, rgb_to_lab

SIZE = (64, 48)            # (width, height) of the test frames
SHORT_SIDE = 24            # the tiny model's training size: frames are propagated at 32 x 24


def striped(index, width=SIZE[0], height=SIZE[1]):
    """Gray one-pixel stripes (gone at half size: only the full-size frame has them) and a moving bright bar."""
    rgb = np.full((height, width, 3), 60, np.uint8)
    rgb[:, ::2] = 180
    rgb[:, (2 * index) % width:(2 * index) % width + 6] = 230
    return rgb


def tinted_key(index):
    rgb = striped(index).astype(int)
    rgb[..., 0] += 40
    return np.clip(rgb, 0, 255).astype(np.uint8)


def tiny_model(short_side=SHORT_SIDE):
    torch.manual_seed(0)
    cfg = TPNConfig(task="color", guidance_channels=5, property_channels=2, hidden_channels=4, hidden_stride=4,
                    base_width=4, max_width=16, depth=3, decoder="residual",
                    extra={"aligned": True, "short_side": short_side})
    return SwitchableTPN(cfg).eval()


def test_working_size_rule():
    assert working_size(854, 480, 240) == (427, 240)
    assert working_size(480, 854, 240) == (240, 427)        # portrait: the short side is the width
    assert working_size(1280, 720, 240) == (427, 240)
    assert working_size(427, 240, 240) is None              # not larger: the frames' own size
    assert working_size(320, 200, 240) is None
    assert working_size(854, 480, None) is None             # no model (a baseline): the frames' own size
    assert working_short_side(tiny_model(180)) == 180
    assert working_short_side(torch.nn.Identity()) is None


def test_propagation_short_side_is_the_users_choice_else_the_models():
    model = tiny_model(180)
    assert propagation_short_side(model) == 180
    assert propagation_short_side(model, 320) == 320
    assert propagation_short_side(model, None, full_resolution=True) is None
    assert propagation_short_side(torch.nn.Identity(), 320) is None      # a baseline keeps the frames' own size


def test_enlarge_is_bilinear_onto_the_full_size():
    small = np.zeros((2, 2, 2), np.float32)
    small[0, :, 1] = 1.0
    big = enlarge(small, (8, 4))
    assert big.shape == (2, 4, 8)
    assert big[0, :, 0].max() == 0 and big[0, :, -1].min() == 1        # the ends keep their values
    assert np.all(np.diff(big[0], axis=1) >= 0) and 0 < big[0, 0, 4] < 1   # a ramp between, not a step
    assert not big[1].any()


@pytest.mark.parametrize("mode", ["offline", "online"])
def test_frames_keep_their_own_full_resolution_lightness(mode):
    model = SeenSizes(tiny_model())
    frames = [VideoFrame(i, striped(i), i, None) for i in range(12)]
    keys = {0: rgb_to_lab(tinted_key(0)), 10: rgb_to_lab(tinted_key(10))}
    size = working_size(*SIZE, SHORT_SIDE)
    out = dict((f.index, rgb) for f, rgb in propagate_color(model, Settings(mode=mode), iter(frames), keys, size))
    assert sorted(out) == list(range(12))
    assert model.sizes == {(24, 32)}                         # the network only saw working-size frames
    for frame in frames:
        got, want = rgb_to_lab(out[frame.index])[..., 0], rgb_to_lab(frame.rgb)[..., 0]
        assert got.shape == want.shape == (48, 64)
        # The one-pixel stripes (L 25 and 73) are there, to the 8-bit rounding of the output (and where the key's
        # carried chroma detail takes a colour just outside sRGB, the clipping that brings it back).
        assert np.abs(got - want).max() < 1.5 and np.abs(got - want).mean() < 0.2
    # The keys' chroma reaches the frames between them; a key frame has its key's full-size chroma, exactly.
    assert rgb_to_lab(out[5])[..., 1].mean() > 10
    task = ColorTask()
    assert np.array_equal(out[10], task.finish(task.prepare(frames[10].rgb), task.key_output(None, keys[10])))


def test_the_keys_fine_chroma_reaches_the_frames_between_them():
    """Chroma stripes one pixel wide average away at the working size; the key's fine detail, carried along
    the alignment, brings them back on the frames propagated from it."""
    still = striped(0)
    frames = [VideoFrame(i, still, i, None) for i in range(12)]
    key = rgb_to_lab(still)
    key[:, 0::2, 1] += 30.0          # a: +30 on even columns, -30 on odd ones
    key[:, 1::2, 1] -= 30.0
    size = working_size(*SIZE, SHORT_SIDE)
    stripes = {}
    for detail in (True, False):
        out = propagate_at(size, tiny_model(), ColorTask(), Settings(), iter(frames), {0: key, 10: key}, shrink,
                           detail=detail)
        a = dict((f.index, rgb_to_lab(rgb)[..., 1]) for f, rgb in out)[5]
        stripes[detail] = float(np.mean(a[:, 0:-1:2] - a[:, 1::2]))
    assert stripes[True] > 40 and abs(stripes[False]) < 10, stripes


def test_colorize_works_at_the_working_size_asked_for_or_at_full_resolution(tmp_path, make_video):
    video = make_video("stripes.mp4", frames=12, size=SIZE, content=lambda i, w, h: striped(i, w, h))
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    frames = list(read_frames(video))
    for i in (0, 10):
        rgb = frames[i].rgb.astype(int)
        rgb[..., 0] += 40
        cv2.imwrite(str(keys_dir / f"{i:05d}.png"), cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.uint8),
                                                                 cv2.COLOR_RGB2BGR))
    weights = tmp_path / "tiny.safetensors"
    save_weights(tiny_model(), weights)
    outputs = {}
    for name, extra in [("default", []), ("side 36", ["--working-side", "36"]), ("full", ["--full-resolution"])]:
        result = run("colorize", video, "--keys", keys_dir, "--interval", 10, "--no-shots", "-o",
                     str(tmp_path / name) + "/", "--weights", weights, "-q", *extra)
        assert result.exit_code == 0, result.output
        outputs[name] = [read_rgb(tmp_path / name / f"{i:05d}.png") for i in range(12)]
    model, _ = load_model("color", str(weights))
    keys = {i: rgb_to_lab(read_rgb(keys_dir / f"{i:05d}.png")) for i in (0, 10)}
    # The default is the working-size path; --full-resolution is the frame loop at the video's own size. Both
    # mend broken chains and look the key's colours up where they stay broken, as colour runs do.
    settings = Settings(repair=True, lookup=True)
    expected = {
        "default": propagate_color(model, settings, iter(frames), keys, working_size(*SIZE, SHORT_SIDE)),
        "side 36": propagate_color(model, settings, iter(frames), keys, working_size(*SIZE, 36)),
        "full": Propagator(model, ColorTask(), settings)(iter(frames), keys),
    }
    for name, results in expected.items():
        for (frame, want), got in zip(results, outputs[name]):
            assert np.array_equal(got, want), (name, frame.index)
    assert any(not np.array_equal(a, b) for a, b in zip(outputs["default"], outputs["full"]))


@pytest.mark.parametrize("preset", sorted(FLOW_PRESETS))
def test_flow_presets_find_a_known_shift(preset):
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 255, (120, 160)).astype(np.uint8), (0, 0), 1.5)
    moved = np.roll(texture, (2, 3), axis=(0, 1))           # content moves 3 px right, 2 px down
    flow = FlowEstimator(preset)(texture, moved)
    inner = flow[20:-20, 20:-20]
    assert np.allclose(np.median(inner.reshape(-1, 2), axis=0), (3, 2), atol=0.25)
    with pytest.raises(ValueError, match="flow preset"):
        FlowEstimator("slowest")


def test_refined_coords_mend_an_alignment_a_pixel_or_two_off():
    """An enlarged working-size alignment that misses by 1.5 and 1 px (a real frame of the example, its own key) is
    brought to within a fifth of a pixel; a miss of 10 px is moved by at most MAX_RESIDUAL."""
    gray = cv2.cvtColor(next(read_frames("examples/rhino.mp4")).rgb, cv2.COLOR_RGB2GRAY)
    true = pixel_grid(*gray.shape)
    inner = (slice(40, -40), slice(40, -40))
    off = true + np.float32([1.5, -1.0])
    refined = refined_coords(off, gray, gray, residual_flow())
    before = np.abs(off - true)[inner].mean()
    after = np.abs(refined - true)[inner].mean()
    assert before > 1.2 and after < 0.2, (before, after)
    far = true + np.float32([10.0, 0.0])
    moved = np.abs(refined_coords(far, gray, gray, residual_flow()) - far)
    assert moved.max() <= MAX_RESIDUAL + 1e-4 and moved[inner][..., 0].mean() > 1.0


def test_the_working_size_flow_is_a_setting():
    """``Settings.working_flow`` is the flow the working-size loop estimates (not the full-size ``flow``): another
    preset changes the frames between the keys, never the keys, and an unknown one is refused."""
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 255, (120, 160, 3)).astype(np.uint8), (0, 0), 2.0)
    frames = [VideoFrame(i, np.roll(texture, 3 * i, axis=1), i, None) for i in range(12)]
    colour = lambda i: rgb_to_lab(np.roll(np.roll(texture, 40, axis=2), 3 * i, axis=1))  # noqa: E731
    keys = {0: colour(0), 10: colour(10)}
    size = working_size(160, 120, 60)
    out = {preset: [rgb for _, rgb in propagate_at(size, tiny_model(60), ColorTask(), Settings(working_flow=preset),
                                                   iter(frames), keys, shrink)]
           for preset in ("fast-full", "medium-full")}
    assert Settings().working_flow == "fast-full"
    assert all(np.array_equal(out["fast-full"][k], out["medium-full"][k]) for k in keys)
    assert any(not np.array_equal(a, b) for a, b in zip(out["fast-full"], out["medium-full"]))
    with pytest.raises(ValueError, match="flow preset"):
        list(propagate_at(size, tiny_model(60), ColorTask(), Settings(working_flow="slowest"), iter(frames), keys,
                          shrink))
