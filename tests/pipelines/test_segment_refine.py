"""SEG(t+s): the coarse SEG(t) masks refined by a spatial propagation network guided by the target frame."""
import numpy as np
import pytest
import torch

from support.cli import run
from support.seg_media import SIZE, iou, save_palette, square_frame, square_labels
from vprop.engine.masks import propagate_masks
from vprop.engine.propagator import Settings
from vprop.eval.baselines import Passthrough
from vprop.io.images import read_mask
from vprop.io.video import VideoFrame
from vprop.models import seg as seg_models
from vprop.models.hub import load_model, load_weights_file


def frames(n=10):
    for i in range(n):
        yield VideoFrame(i, square_frame(i, *SIZE), i, None)


class Erase(torch.nn.Module):
    """A 'refiner' that removes every object: shows exactly which frames pass through the refiner."""

    def forward(self, guidance, prop):
        assert guidance.shape[1] == seg_models.REFINE_GUIDANCE_CHANNELS and prop.shape[1] == 1
        return torch.zeros_like(prop)


def test_refiner_sees_every_propagated_frame_but_never_a_key():
    keys = {0: square_labels(0, label=4), 6: square_labels(6, label=4)}
    outs = {f.index: out for f, out in
            propagate_masks(Passthrough(), frames(), keys, Settings(mode="online"), refiner=Erase())}
    assert sorted(outs) == list(range(10))
    assert np.array_equal(outs[0], keys[0]) and np.array_equal(outs[6], keys[6])
    assert all(not outs[i].any() for i in outs if i not in keys)


def test_refined_passes_the_target_rgb_and_the_clamped_coarse_mask():
    seen = {}

    class Record(torch.nn.Module):
        def forward(self, guidance, prop):
            seen["g"], seen["p"] = guidance, prop
            return prop

    g, p = torch.rand(2, 9, 8, 12), torch.rand(2, 3, 8, 12) * 3 - 1
    out = seg_models.Refined(seg_models.PerObject(Passthrough()), Record())(g, p)
    assert out.shape == p.shape
    assert torch.equal(seen["g"][:, :3], g[:, :3].repeat_interleave(3, 0))       # aligned: target RGB first
    assert torch.equal(seen["g"][:, 3:], p.clamp(0, 1).reshape(6, 1, 8, 12))
    assert torch.equal(out, p.clamp(0, 1))


def test_a_refiner_with_appearance_starts_from_the_mask_snapped_to_the_frames_colours():
    seen = {}

    class Record(torch.nn.Module):
        cfg = seg_models.refine_config(appearance=True)

        def forward(self, guidance, prop):
            seen["g"], seen["p"] = guidance, prop
            return prop[:, :1]

    rgb = torch.zeros(1, 3, 240, 300)
    rgb[:, 0, 60:180, 50:150] = 0.9                   # a red box on black
    mask = torch.zeros(1, 1, 240, 300)
    mask[..., 60:180, 50:148] = 1.0                   # a coarse mask that misses its last two columns
    mask[..., 100:120, 150:152] = 1.0                 # and leaks two columns into the background
    g = torch.cat([rgb, torch.rand(1, 6, 240, 300)], 1)
    out = seg_models.Refined(seg_models.PerObject(Passthrough()), Record())(g, mask)
    assert out.shape == mask.shape and seen["p"].shape == (1, 2, 240, 300)
    assert torch.equal(seen["g"][:, 3:], mask)                         # the guidance keeps the coarse mask
    snapped, like = seen["p"][0, 0], seen["p"][0, 1]
    assert like[70:170, 60:140].min() > 0.9 and like[:, 200:].max() < 0.1
    assert snapped[70:170, 148:150].min() > 0.5 and snapped[100:120, 151].max() < 0.5   # both edges fixed
    assert torch.equal(snapped[70:170, 60:140], mask[0, 0, 70:170, 60:140])          # far from the edge: kept


def test_colour_snap_only_touches_the_band_along_the_edge():
    mask = np.zeros((240, 320), np.float32)
    mask[80:160, 100:200] = 1
    likelihood = np.zeros_like(mask)                  # colours that say "nothing here" everywhere
    snapped = seg_models.colour_snap(mask, likelihood)
    changed = snapped != mask
    assert changed.any() and not changed[90:150, 110:190].any()       # 3 px band at short side 240
    assert changed[80:83, 100:200].all() and not changed[83:157, 103:197].any()


def test_untrained_refiner_keeps_the_coarse_mask(tiny_refine_weights):
    refiner, _ = load_weights_file(tiny_refine_weights)
    assert refiner.cfg.task == "seg-refine" and refiner.cfg.guidance_channels == 4
    key = {0: square_labels(0)}
    coarse = {f.index: out for f, out in propagate_masks(Passthrough(), frames(), key, Settings(mode="online"))}
    refined = {f.index: out for f, out in
               propagate_masks(Passthrough(), frames(), key, Settings(mode="online"), refiner=refiner.eval())}
    agree = np.mean([(coarse[i] == refined[i]).mean() for i in range(1, 10)])
    assert agree > 0.99


def test_refine_weights_are_not_seg_weights(tiny_seg_weights):
    from vprop.errors import InputError
    with pytest.raises(InputError, match="not 'seg-refine'"):
        load_model("seg-refine", str(tiny_seg_weights))


def test_segment_and_eval_seg_with_refine(tmp_path, square_video, tiny_seg_weights, tiny_refine_weights):
    mask = save_palette(tmp_path / "m.png", square_labels(0, label=3))
    result = run("segment", square_video, "--mask", mask, "-o", tmp_path / "out", "--weights", tiny_seg_weights,
                 "--refine-weights", tiny_refine_weights, "-q")
    assert result.exit_code == 0, result.output
    assert np.array_equal(read_mask(tmp_path / "out" / "00000.png"), square_labels(0, label=3))
    last = read_mask(tmp_path / "out" / "00009.png")
    assert set(np.unique(last)) == {0, 3}
    assert iou(last == 3, square_labels(9) > 0) > 0.5        # the square moved past its key's place (copy: 0)
    truth = tmp_path / "truth"
    truth.mkdir()
    for i in range(10):
        save_palette(truth / f"{i:05d}.png", square_labels(i))
    result = run("eval", "seg", square_video, "--masks", truth, "--weights", tiny_seg_weights,
                 "--refine-weights", tiny_refine_weights, "-q")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: float(line.split()[1]) for line in result.output.splitlines()[1:] if line.strip()}
    assert set(rows) == {"copy", "flow", "flow+grabcut", "vprop", "vprop+grabcut", "vprop+refine",
                         "vprop+refine+grabcut", "vprop+grabcut+memory"}
    assert rows["vprop+refine"] > rows["copy"] and rows["vprop+refine+grabcut"] > rows["copy"]
    result = run("eval", "seg", square_video, "--masks", truth, "--weights", tiny_seg_weights, "--no-grabcut", "-q")
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.output.splitlines()[1:]] == ["copy", "flow", "vprop"]


def test_the_refiner_snaps_to_the_keys_colour_likelihood_where_the_coarse_model_has_it():
    cfg = seg_models.seg_config(unaligned_key=True, appearance=True)
    h, w = 60, 80
    prop = torch.rand(2, 3 * 2, h, w)       # 2 frames, 2 objects: aligned masks, the key's own, the likelihoods
    like = seg_models.key_likelihood(prop, cfg, 2)
    assert like.shape == (4, 1, h, w)
    assert torch.equal(like[1, 0], prop[0, 5]) and torch.equal(like[2, 0], prop[1, 4])    # frame-major, object order
    assert seg_models.key_likelihood(prop[:, :4], seg_models.seg_config(unaligned_key=True), 2) is None

    h, w = 240, 320                         # the snap's band is 3 px at this size
    rgb = torch.zeros(1, 3, h, w)
    rgb[:, 0, 40:200, 80:240] = 1.0         # a red square on black
    coarse = torch.zeros(1, 1, h, w)
    coarse[:, :, 40:200, 80:244] = 1.0      # four columns too wide, onto the black
    key = torch.zeros(1, 1, h, w)
    key[:, :, 40:200, 80:250] = 1.0         # a key likelihood that claims those columns too
    _, own = seg_models.refine_inputs(rgb, coarse, True)
    _, given = seg_models.refine_inputs(rgb, coarse, True, key)
    assert torch.equal(given[0, 1], key[0, 0])      # the property carries the given likelihood
    assert own[0, 0, 100, 242] < 0.5 < given[0, 0, 100, 242]     # the snap follows it, not the frame's own colours
    assert torch.equal(given[0, 0, 60:180, 100:230], coarse[0, 0, 60:180, 100:230])     # away from the edge: kept
