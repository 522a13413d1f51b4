"""SEG(t)'s colour cue: the target's likelihood under the key object's colours, as a third key input."""
import numpy as np
import torch

from vprop.engine.flow import ChainedWarp
from vprop.models import seg as seg_models
from vprop.models.tpn import SwitchableTPN
from vprop.tasks import seg

ARCH = dict(hidden_channels=4, base_width=4, max_width=8, depth=3, decoder="residual")
RED, BLUE, GREEN = (0.9, 0.1, 0.1), (0.1, 0.2, 0.9), (0.1, 0.8, 0.2)


def _scene(object_colour, background, x0: int) -> tuple[np.ndarray, np.ndarray]:
    rgb = np.empty((24, 32, 3), np.float32)
    rgb[:] = background
    mask = np.zeros((24, 32), np.float32)
    rgb[6:18, x0 : x0 + 10] = object_colour
    mask[6:18, x0 : x0 + 10] = 1
    return rgb, mask


def test_colour_likelihood_finds_the_object_where_it_moved():
    key_rgb, key_mask = _scene(RED, BLUE, 2)
    target_rgb, target_mask = _scene(RED, BLUE, 18)     # the object moved 16 px: the key mask misses it
    key = seg.SegKey(key_rgb, np.stack([key_mask, 1 - key_mask]))
    like = seg.colour_likelihood(key, target_rgb)
    assert like.shape == (2, 24, 32) and like.dtype == np.float32
    assert like[0][target_mask > 0].mean() > 0.9 and like[0][target_mask == 0].mean() < 0.15
    assert np.allclose(like[0] + like[1], 1.0, atol=0.05)           # the other "object" is the rest
    unseen = seg.colour_likelihood(key, np.full_like(target_rgb, GREEN))
    assert np.allclose(unseen[0], 0.5, atol=0.05)                   # a colour neither had: no evidence


def test_model_inputs_append_the_colour_likelihood_last():
    key_rgb, key_mask = _scene(RED, BLUE, 2)
    target_rgb, _ = _scene(RED, BLUE, 8)
    key = seg.SegKey(key_rgb, key_mask[None])
    chain = ChainedWarp.identity(24, 32)
    _, both = seg.model_inputs(target_rgb, key, chain, unaligned_key=True)
    _, three = seg.model_inputs(target_rgb, key, chain, unaligned_key=True, appearance=True)
    assert three.shape == (3, 24, 32)
    assert np.array_equal(three[:2], both)
    assert np.allclose(three[2], seg.colour_likelihood(key, target_rgb))
    _, plain = seg.model_inputs(target_rgb, key, None, appearance=True)      # no chain: the paper's inputs
    assert plain.shape == (1, 24, 32)


def test_per_object_takes_three_groups_and_the_colour_cue_changes_the_answer():
    torch.manual_seed(0)
    model = SwitchableTPN(seg_models.seg_config(unaligned_key=True, appearance=True, **ARCH)).eval()
    assert seg_models.key_inputs(model) == (True, True)
    for conv in (model.select, model.blend[0]):
        torch.nn.init.normal_(conv.weight, std=0.5)        # a trained model reads the cue; the init does not
    net = seg_models.PerObject(model).eval()
    g, warped, own, like = (torch.rand(1, c, 32, 40) for c in (9, 2, 2, 2))
    with torch.no_grad():
        out = net(g, torch.cat([warped, own, like], 1))
        second = model(g, torch.cat([warped[:, 1:], own[:, 1:], like[:, 1:]], 1))
        other = model(g, torch.cat([warped[:, 1:], own[:, 1:], 1 - like[:, 1:]], 1))
    assert out.shape == (1, 2, 32, 40)
    assert torch.allclose(out[:, 1:], second, atol=1e-5)
    assert not torch.allclose(second, other)
    forward, reverse = model.forward_pair(g, torch.cat([warped, own, like], 1)[:, ::2], warped[:, :1])
    assert forward.shape == reverse.shape == (1, 1, 32, 40)


def test_fine_tuning_start_with_the_colour_cue_is_the_model_it_starts_from(tmp_path):
    from vprop.models.hub import save_weights
    from vprop.training.loop import Trainer, TrainConfig

    torch.manual_seed(3)
    old = SwitchableTPN(seg_models.seg_config(unaligned_key=True, **ARCH)).eval()
    torch.nn.init.normal_(old.select.weight, std=0.5)
    path = tmp_path / "old.safetensors"
    save_weights(old, path, {})
    cfg = TrainConfig(task="seg", out=str(tmp_path / "run"), workers=0, hidden_channels=4, base_width=4,
                      max_width=8, depth=3)
    trainer = Trainer(cfg, seg_models.seg_config(unaligned_key=True, appearance=True, **ARCH), batches=[])
    assert trainer.init_from(path) == len(old.state_dict())
    new = trainer.model.eval()
    g, p, like = torch.rand(1, 9, 32, 40), torch.rand(1, 2, 32, 40), torch.rand(1, 1, 32, 40)
    with torch.no_grad():
        assert (new(g, torch.cat([p, like], 1)) - old(g, p)).abs().max().item() < 1e-4
