"""Test-time adaptation of the seg model on the first mask (``--adapt``): its pairs, its copy, its effect."""
from pathlib import Path

import cv2
import numpy as np
import torch

from support.seg_media import SIZE, square_frame, square_labels
from vprop.models.hub import load_model, load_weights_file
from vprop.tasks import seg
from vprop.training.adapt import AdaptConfig, adapt_pairs, adapt_seg, jitter
from vprop.training.loop import Pair, switchable_loss
from vprop.training.seg_data import seg_bce
from vprop.engine.flow import FlowEstimator
from vprop.io.images import read_mask
from vprop.io.video import read_frames

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RHINO, RHINO_MASK = EXAMPLES / "rhino.mp4", EXAMPLES / "rhino_masks" / "00000.png"


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_jittered_copy_moves_the_frame_and_its_mask_together():
    rgb, labels = square_frame(0, *SIZE), square_labels(0)
    rng = np.random.default_rng(3)
    for _ in range(5):
        image, mask = jitter(rgb, labels, rng, AdaptConfig())
        assert image.shape == rgb.shape and mask.shape == labels.shape
        assert set(np.unique(mask)) <= {0, 1} and mask.sum() > 0
        # The square is the only pixels this yellow: where the mask is, the jittered frame is the square's colour.
        yellow = (image[..., 0] > 200) & (image[..., 2] < 80)
        inside = mask == 1
        assert yellow[inside].mean() > 0.8 and inside[yellow].mean() > 0.8     # edges: interpolated
        assert not np.array_equal(mask, labels)


def test_pairs_carry_what_the_shipped_model_takes():
    model, _ = load_model("seg")
    rgb = square_frame(0, *SIZE).astype(np.float32) / 255.0
    labels = square_labels(0) + 2 * (square_labels(5) & (square_labels(0) == 0))    # two objects
    guidance, prop, truth = adapt_pairs(rgb, labels.astype(np.uint8), model, np.random.default_rng(0),
                                        AdaptConfig(batch_size=3), FlowEstimator())
    h, w = SIZE[1], SIZE[0]
    assert guidance.shape == (3, model.cfg.guidance_channels, h, w)
    assert prop.shape == (3, model.cfg.property_groups, h, w)     # warped mask, the key's own, colour likelihood
    assert truth.shape == (3, 1, h, w)
    assert set(torch.unique(truth).tolist()) == {0.0, 1.0}
    with torch.no_grad():
        assert model(guidance, prop).shape == truth.shape


def test_adaptation_tunes_a_copy_and_leaves_the_model_alone(tiny_seg_weights):
    model, _ = load_weights_file(tiny_seg_weights)
    before = _state(model)
    rgb, labels = square_frame(0, *SIZE), square_labels(0)
    untouched = adapt_seg(model, rgb, labels, AdaptConfig(steps=0))
    assert untouched.steps == 0 and untouched.model is not model
    adapted = adapt_seg(model, rgb, labels, AdaptConfig(steps=3))
    assert adapted.steps == 3 and adapted.seconds > 0 and not adapted.model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert any(not torch.equal(before[k], v) for k, v in adapted.model.state_dict().items())
    again = adapt_seg(model, rgb, labels, AdaptConfig(steps=3))     # seeded: a resumed run adapts the same
    assert all(torch.equal(v, again.model.state_dict()[k]) for k, v in adapted.model.state_dict().items())


def test_adaptation_lowers_the_shipped_models_loss_on_pairs_it_did_not_train_on():
    """On a real frame (the rhino example, small), 10 steps of the shipped model at the default rate."""
    model, _ = load_model("seg")
    rgb = cv2.resize(next(read_frames(RHINO)).rgb, (128, 72), interpolation=cv2.INTER_AREA)
    labels = cv2.resize(read_mask(RHINO_MASK), (128, 72), interpolation=cv2.INTER_NEAREST)
    held = adapt_pairs(rgb.astype(np.float32) / 255.0, labels, model, np.random.default_rng(99),
                       AdaptConfig(batch_size=8), FlowEstimator())

    def loss(net):
        with torch.no_grad():
            return switchable_loss(Pair(net), *held, seg_bce).item()

    adapted = adapt_seg(model, rgb, labels, AdaptConfig(steps=6)).model
    assert loss(adapted) < 0.6 * loss(model)


def test_an_empty_mask_has_nothing_to_adapt_to(tiny_seg_weights):
    model, _ = load_weights_file(tiny_seg_weights)
    result = adapt_seg(model, square_frame(0, *SIZE), np.zeros(SIZE[::-1], np.uint8), AdaptConfig(steps=5))
    assert result.steps == 0
    assert seg.object_ids(np.zeros(3, np.uint8)) == ()


def test_the_copy_is_adapted_at_the_size_the_run_propagates_at(tiny_seg_weights, monkeypatch):
    """The tiny model was trained at short side 240: a 640x480 key is shrunk to 320x240 for it, to 400x300 for
    ``--working-side 300``, and kept whole for ``--full-resolution``."""
    import vprop.training.adapt as adapt

    model, _ = load_weights_file(tiny_seg_weights)
    rgb = cv2.resize(square_frame(0, *SIZE), (640, 480), interpolation=cv2.INTER_NEAREST)
    labels = cv2.resize(square_labels(0), (640, 480), interpolation=cv2.INTER_NEAREST)
    seen = []
    pairs = adapt.adapt_pairs
    monkeypatch.setattr(adapt, "adapt_pairs", lambda rgb, labels, *rest: seen.append(labels.shape)
                        or pairs(rgb, labels, *rest))
    adapt_seg(model, rgb, labels, AdaptConfig(steps=1))
    adapt_seg(model, rgb, labels, AdaptConfig(steps=1), working_side=300)
    adapt_seg(model, rgb, labels, AdaptConfig(steps=1), full_resolution=True)
    assert seen == [(240, 320), (300, 400), (480, 640)]
