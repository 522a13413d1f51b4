"""HDR at the working size: the network sees shrunk frames, the keys stay exact, the keys' fine radiance detail is
carried to the frames between them, the LDR blending is done on the full-size frames, and --full-resolution
keeps the frame loop at the video's own size."""
import cv2
import numpy as np
import pytest
import torch

from support.cli import run
from support.seen_sizes import SeenSizes
from vprop.engine.propagator import Propagator, Settings
from vprop.engine.working import working_size
from vprop.io.images import read_exr
from vprop.io.video import VideoFrame, read_frames
from vprop.models.hub import load_model, save_weights
from vprop.models.tpn import SwitchableTPN, TPNConfig
from vprop.pipelines.hdr import propagate_hdr
from vprop.tasks.hdr import NEAR_CLIP, Blender, HDRTask, inverted_ldr, to_log

SHORT_SIDE = 24        # the tiny model's training size: the 64x48 clips are propagated at 32 x 24


def tiny_hdr_model():
    torch.manual_seed(0)
    cfg = TPNConfig(task="hdr", guidance_channels=9, property_channels=3, hidden_channels=4, hidden_stride=4,
                    base_width=4, max_width=16, depth=3, decoder="residual",
                    extra={"aligned": True, "log_mean": -1.0, "short_side": SHORT_SIDE})
    return SwitchableTPN(cfg).eval()


@pytest.mark.parametrize("mode", ["offline", "online"])
@pytest.mark.parametrize("rule", ["measured", "calibrated"])
def test_keys_exact_and_the_ldr_blended_at_full_size(hdr_clip, mode, rule):
    video, hdr_dir, _ = hdr_clip
    frames = list(read_frames(video))
    # Keys 9 frames apart: within 5 frames of a key HDR leaves the network out (HDRTask.near_key), frame 6 runs it.
    keys = {i: read_exr(hdr_dir / f"{i:05d}.exr") for i in (0, 9)}
    model = SeenSizes(tiny_hdr_model())
    blender = Blender(mode=mode, rule=rule)
    size = working_size(64, 48, SHORT_SIDE)
    out = dict((f.index, h) for f, h in propagate_hdr(model, Settings(mode=mode), iter(frames), keys, size, blender,
                                                       log_mean=-1.0))
    assert sorted(out) == list(range(12)) and model.sizes == {(24, 32)}
    assert sorted(blender.keys) == [0, 9]                     # the blender was handed the full-size keys
    for i, key in keys.items():
        assert out[i].shape == (48, 64, 3)
        assert np.allclose(out[i], key, rtol=1e-5, atol=1e-6)
    frame = frames[3].rgb
    below = frame.max(-1) / 255.0 < NEAR_CLIP
    assert below.mean() > 0.5
    if rule == "measured":
        # Where the frame's LDR did not clip, the output is that full-size LDR inverted, pixel for pixel.
        expected = inverted_ldr(frame, blender.params(3).scale)
        assert np.allclose(out[3][below], expected[below], rtol=1e-5)
    else:
        # Where it did not clip, each full-size pixel is within the radiances the keys showed for its code values.
        low, high = (bound[frame, np.arange(3)] for bound in blender.params(3).response)
        assert np.all(out[3][below] >= low[below] * (1 - 1e-6)) and np.all(out[3][below] <= high[below] * (1 + 1e-6))
        assert np.mean(high[below] > low[below]) > 0.5


def test_the_keys_fine_radiance_reaches_the_frames_between_them():
    """Radiance stripes one pixel wide average away at the working size; carried along the alignment from the
    full-size key, they come back on the estimate of the frames between the keys."""
    rng = np.random.default_rng(0)
    still = np.clip(rng.normal(128, 40, (48, 64, 3)), 0, 255).astype(np.uint8)     # texture for the flow
    frames = [VideoFrame(i, still, i, None) for i in range(12)]
    key = np.full((48, 64, 3), 2.0, np.float32)
    key[:, 0::2] *= 4.0               # even columns 8, odd ones 2: log ratio 1.39
    stripes = {}
    for detail in (True, False):
        out = propagate_hdr(tiny_hdr_model(), Settings(), iter(frames), {0: key, 10: key},
                            working_size(64, 48, SHORT_SIDE), detail=detail, log_mean=-1.0)
        u = to_log(dict((f.index, h) for f, h in out)[5])
        stripes[detail] = float(np.mean(u[:, 0:-1:2] - u[:, 1::2]))
    assert stripes[True] > 1.0 and abs(stripes[False]) < 0.3, stripes


def test_hdr_cli_works_at_the_working_size_asked_for_or_at_full_resolution(tmp_path, hdr_clip):
    video, _, keys = hdr_clip
    weights = tmp_path / "tiny.safetensors"
    save_weights(tiny_hdr_model(), weights)
    model, _ = load_model("hdr", str(weights))
    frames = list(read_frames(video))
    radiance = {i: read_exr(keys / f"{i:05d}.exr") for i in (0, 6)}
    settings = Settings(repair=True)        # HDR runs mend broken chains
    expected = {
        "default": propagate_hdr(model, settings, iter(frames), radiance, working_size(64, 48, SHORT_SIDE),
                                 log_mean=-1.0),
        "side 36": propagate_hdr(model, settings, iter(frames), radiance, working_size(64, 48, 36), log_mean=-1.0),
        "full": Propagator(model, HDRTask(-1.0), settings)(iter(frames), radiance),
    }
    outputs = {}
    for name, extra in [("default", []), ("side 36", ["--working-side", "36"]), ("full", ["--full-resolution"])]:
        result = run("hdr", video, "--hdr-keys", keys, "--no-blend", "--no-shots", "-o", tmp_path / name,
                     "--weights", weights, "-q", *extra)
        assert result.exit_code == 0, result.output
        outputs[name] = [read_exr(tmp_path / name / f"{i:05d}.exr") for i in range(12)]
        for (frame, want), got in zip(expected[name], outputs[name]):
            assert np.allclose(got, want, rtol=2e-3, atol=1e-3), (name, frame.index)     # half-float files
    for other in ("side 36", "full"):
        assert any(not np.allclose(a, b, rtol=1e-2) for a, b in zip(outputs["default"], outputs[other])), other


def test_near_a_key_the_frames_get_the_key_aligned_at_full_size():
    """A camera panning one pixel a frame (half a pixel at the working size): near its key, where the chain holds,
    a frame's radiance is the key shifted at full size, edges and all. The enlarged working-size warp blurs a
    half-pixel shift; colour's way (the key's fine detail faded by the chain's confidence) keeps that blur. (The
    full-size correction of the alignment, ``refined_coords``, is a little off on frames this small: 0.06 here.)"""
    import functools

    import vprop.pipelines.hdr as hdr_pipeline

    rng = np.random.default_rng(1)
    scene = cv2.GaussianBlur(np.clip(rng.normal(128, 60, (48, 96, 3)), 0, 255).astype(np.uint8), (0, 0), 1.0)
    radiance_scene = np.full((48, 96, 3), 0.5, np.float32)
    radiance_scene[:, 40:44] = 8.0               # a highlight 4 px wide
    frames = [VideoFrame(i, np.ascontiguousarray(scene[:, i:i + 64]), i, None) for i in range(12)]
    keys = {0: radiance_scene[:, 0:64].copy(), 11: radiance_scene[:, 11:75].copy()}
    errors = {}
    for detail in ("aligned", "fine"):
        task = functools.partial(HDRTask, detail=detail)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(hdr_pipeline, "HDRTask", task)
            out = dict((f.index, h) for f, h in propagate_hdr(tiny_hdr_model(), Settings(), iter(frames), keys,
                                                               working_size(64, 48, SHORT_SIDE), log_mean=-1.0))
        truth = to_log(radiance_scene[:, 3:67])
        errors[detail] = float(np.abs(to_log(out[3]) - truth)[4:-4, 8:-8].max())
    assert errors["aligned"] < 0.1 and errors["aligned"] * 5 < errors["fine"], errors
