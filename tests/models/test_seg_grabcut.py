"""The GrabCut snap: a propagated mask a few pixels off is re-cut on its own frame's colours and edges."""
import cv2
import numpy as np
import torch

from support.seg_media import iou
from vprop.engine.masks import propagate_masks
from vprop.engine.propagator import Settings
from vprop.eval.baselines import Passthrough
from vprop.io.video import VideoFrame
from vprop.models import seg as seg_models
from vprop.tasks.seg import to_labels

H, W = 240, 320


def disc_scene(centres, seed=0):
    """A noisy two-tone background with a disc (radius 40) at each centre, red then yellow; their true masks."""
    rng = np.random.default_rng(seed)
    rgb = np.zeros((H, W, 3), np.float32)
    rgb[:, : W // 2] = (40, 90, 160)
    rgb[:, W // 2:] = (70, 140, 60)
    yy, xx = np.mgrid[:H, :W]
    masks = []
    for (cx, cy), colour in zip(centres, [(220, 40, 30), (230, 210, 40)]):
        inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= 40 ** 2
        rgb[inside] = colour
        masks.append(inside)
    rgb += rng.normal(0, 6, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8), masks


def shifted(mask, dx, dy):
    return np.roll(np.roll(mask, dy, 0), dx, 1)


def test_a_mask_a_few_pixels_off_is_snapped_onto_the_object():
    rgb, (truth,) = disc_scene([(160, 120)])
    coarse = shifted(truth, 3, 1).astype(np.float32)       # within the band (3 px at this size) all round
    snapped = seg_models.grabcut_snap(rgb, coarse)
    assert set(np.unique(snapped)) <= {0.0, 1.0}
    assert iou(coarse > 0.5, truth) < 0.92
    assert iou(snapped > 0.5, truth) > 0.97


def test_pixels_the_network_is_unsure_of_are_left_to_the_cut_however_deep():
    rgb, (truth,) = disc_scene([(160, 120)])
    ring = cv2.dilate(truth.astype(np.uint8), np.ones((31, 31), np.uint8)) > 0      # 15 px too wide all round
    coarse = np.where(truth, 1.0, np.where(ring, 0.6, 0.0)).astype(np.float32)    # sure of the disc, not the ring
    assert iou(coarse > 0.5, truth) < 0.7
    assert iou(seg_models.grabcut_snap(rgb, coarse) > 0.5, truth) > 0.97
    sure = np.where(ring, 1.0, 0.0).astype(np.float32)       # the same mask, sure of it all: only the band is cut
    assert iou(seg_models.grabcut_snap(rgb, sure) > 0.5, truth) < 0.8


def test_the_cut_is_the_same_on_every_call():
    rgb, (truth,) = disc_scene([(150, 110)], seed=3)
    coarse = shifted(truth, -3, 2).astype(np.float32)
    np.random.default_rng(1).random(5)      # the cut must not depend on what ran before it
    first = seg_models.grabcut_snap(rgb, coarse)
    assert np.array_equal(first, seg_models.grabcut_snap(rgb, coarse))


def test_a_mask_too_small_or_too_large_to_learn_colours_from_is_only_thresholded():
    rgb, _ = disc_scene([(160, 120)])
    tiny = np.zeros((H, W), np.float32)
    tiny[10:13, 10:14] = 0.8        # 12 pixels
    assert np.array_equal(seg_models.grabcut_snap(rgb, tiny), (tiny > 0.5).astype(np.float32))
    whole = np.full((H, W), 0.9, np.float32)
    assert np.array_equal(seg_models.grabcut_snap(rgb, whole), np.ones((H, W), np.float32))


def test_the_wrapper_cuts_each_object_and_leaves_overlaps_to_the_network():
    rgb, (left, right) = disc_scene([(70, 120), (250, 120)])
    coarse = np.stack([shifted(left, 4, 0), shifted(right, -4, 2)]).astype(np.float32) * 0.9
    guidance = torch.from_numpy(rgb.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    guidance = torch.cat([guidance, torch.zeros(1, 6, H, W)], 1)        # aligned layout: target RGB first
    out = seg_models.GrabCut(seg_models.PerObject(Passthrough()))(guidance, torch.from_numpy(coarse)[None])[0]
    assert out.shape == coarse.shape
    for k, truth in enumerate((left, right)):
        assert iou(out[k].numpy() > 0.5, truth) > 0.97
        net = torch.from_numpy(coarse[k])
        assert torch.allclose(out[k], torch.where(out[k] > 0.5, 0.5 + 0.5 * net.clamp_min(1e-3), 0.5 * net))
    overlap = coarse.copy()
    overlap[1] = overlap[0] * 0.6      # the second object claims the first's disc, less surely than the first
    out = seg_models.GrabCut(seg_models.PerObject(Passthrough()))(guidance, torch.from_numpy(overlap)[None])[0]
    labels = to_labels(out.numpy(), (1, 2))
    assert iou(labels == 1, left) > 0.97 and not (labels == 2).any()


class Copy(Passthrough):
    """The key's mask copied, by a 'model' of the paper's unaligned layout (key RGB, then target RGB)."""
    cfg = seg_models.seg_config(aligned=False)


def test_key_frames_keep_their_exact_masks_and_propagated_frames_are_cut():
    scenes = [disc_scene([(120 + i, 120)], seed=i) for i in range(6)]     # 1 pixel a frame: the copy lags
    frames = [VideoFrame(i, rgb, i, None) for i, (rgb, _) in enumerate(scenes)]
    key = scenes[0][1][0].astype(np.uint8) * 2
    key[20:24, 30:34] = 2       # a stray speck the cut would drop: a key's mask is kept as given
    out = {f.index: labels for f, labels in propagate_masks(Copy(), iter(frames), {0: key},
                                                            Settings(mode="online", align=False), grabcut=True)}
    assert np.array_equal(out[0], key)
    copied = {f.index: labels for f, labels in propagate_masks(Passthrough(), iter(frames), {0: key},
                                                               Settings(mode="online", align=False))}
    for i in range(1, 6):      # the copied key lags the moving disc; the cut brings it back onto the disc
        assert iou(out[i] == 2, scenes[i][1][0]) > 0.95
    assert iou(copied[5] == 2, scenes[5][1][0]) < 0.9


def scene_with_a_patch():
    """A red disc with a purple square beside it (background) and a soft mask that claims both, the square unsurely."""
    rgb, (disc,) = disc_scene([(110, 120)])
    patch = np.zeros((H, W), bool)
    patch[100:140, 155:195] = True
    rgb[patch] = (150, 60, 200)
    coarse = np.where(disc, 0.97, np.where(patch, 0.7, 0.0)).astype(np.float32)
    return rgb, disc, coarse


def test_the_keys_colour_models_drop_what_the_key_shows_as_background():
    rgb, disc, coarse = scene_with_a_patch()
    # learned from this frame, where the network's mask holds the square, its colour is the object's
    assert iou(seg_models.grabcut_snap(rgb, coarse) > 0.5, disc) < 0.8
    key_models = seg_models.key_colour_models(rgb, disc.astype(np.float32))
    assert iou(seg_models.grabcut_snap(rgb, coarse, key_models) > 0.5, disc) > 0.97
    valid = np.zeros((H, W), np.float32)
    valid[:, :60] = 1.0     # the key's own pixels hold no part of the object: nothing to learn from
    assert seg_models.key_colour_models(rgb, disc.astype(np.float32), valid) is None


class Answers(torch.nn.Module):
    """A 'network' that answers a fixed soft mask, whatever its inputs."""
    cfg = None

    def __init__(self, prob):
        super().__init__()
        self.prob = torch.from_numpy(prob)[None, None]

    def forward(self, guidance, prop):
        return self.prob


def test_the_wrapper_reads_the_keys_colours_where_the_chain_holds_the_keys_pixels():
    rgb, disc, coarse = scene_with_a_patch()
    frame = torch.from_numpy(rgb.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    key_mask = torch.from_numpy(disc.astype(np.float32))[None, None]     # the key's mask, aligned to the frame
    cut = seg_models.GrabCut(Answers(coarse))
    for valid, expected in ((1.0, True), (0.0, False)):     # aligned layout: target RGB, warped key RGB, diff, valid
        guidance = torch.cat([frame, frame, torch.zeros(1, 1, H, W), torch.full((1, 1, H, W), valid),
                              torch.zeros(1, 1, H, W)], 1)
        out = cut(guidance, key_mask)[0, 0].numpy() > 0.5
        assert (iou(out, disc) > 0.97) == expected


def test_after_the_refiner_the_cut_is_one_vote_and_the_refiners_sure_pixels_stay():
    rgb, disc, coarse = scene_with_a_patch()       # the square at 0.7: the refiner unsure of it
    sure = np.zeros((H, W), bool)
    sure[30:60, 180:220] = True
    rgb[sure] = (150, 60, 200)
    coarse[sure] = 0.9     # the same background colour, and the refiner sure of it
    frame = torch.from_numpy(rgb.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    guidance = torch.cat([frame, frame, torch.zeros(1, 1, H, W), torch.ones(1, 1, H, W), torch.zeros(1, 1, H, W)], 1)
    key_mask = torch.from_numpy(disc.astype(np.float32))[None, None]
    alone = seg_models.GrabCut(Answers(coarse))(guidance, key_mask)[0, 0].numpy() > 0.5
    vote = seg_models.GrabCut(Answers(coarse), seg_models.GRABCUT_WEIGHT_AFTER_REFINER)(guidance, key_mask)
    vote = vote[0, 0].numpy() > 0.5
    assert iou(alone, disc) > 0.97     # the cut alone drops both squares, in the key's background colour
    assert vote[sure].all() and not vote[100:140, 155:195].any() and iou(vote & ~sure, disc) > 0.97
    assert seg_models.wrap_model(Answers(coarse), torch.nn.Identity(), grabcut=True).weight == \
        seg_models.GRABCUT_WEIGHT_AFTER_REFINER
    assert seg_models.wrap_model(Answers(coarse), grabcut=True).weight == 1.0


def test_colour_models_learn_from_an_even_sample_of_every_part_of_a_large_object():
    """An object twenty times the sample size, red in its first half and purple in its second: the strided sample
    holds both, so a purple patch the network is unsure of stays the object (a sample of the first pixels only
    would have learned red alone, and purple is nearer the blue background)."""
    rng = np.random.default_rng(0)
    n = 20 * seg_models.GRABCUT_MODEL_PIXELS
    background = [(40, 90, 160)] * (n // 2) + [(70, 140, 60)] * (n // 2)       # the scene's two tones
    colours = np.array([(220, 40, 30)] * (n // 2) + [(150, 60, 200)] * (n // 2) + background, np.float32)
    pixels = np.clip(colours + rng.normal(0, 6, colours.shape), 0, 255).astype(np.uint8)
    is_object = np.arange(2 * n) < n
    models = seg_models.colour_models(pixels, is_object)
    rgb, (disc,) = disc_scene([(160, 120)])
    patch = np.zeros((H, W), bool)
    patch[100:140, 30:70] = True            # on the blue half of the background
    rgb[patch] = (150, 60, 200)
    coarse = np.where(disc, 1.0, np.where(patch, 0.6, 0.0)).astype(np.float32)
    cut = seg_models.grabcut_snap(rgb, coarse, models) > 0.5
    assert cut[patch].mean() > 0.95 and iou(cut & ~patch, disc) > 0.97
    red_only = np.r_[np.arange(n // 2), np.arange(n, 2 * n)]     # what a sample of the first pixels would see
    cut = seg_models.grabcut_snap(rgb, coarse, seg_models.colour_models(pixels[red_only], is_object[red_only])) > 0.5
    assert cut[patch].mean() < 0.05
