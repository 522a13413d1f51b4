"""SEG(t) with the key's unaligned mask beside the warped one: shapes, objects, the fine-tuning start."""
import numpy as np
import torch

from vprop.engine.flow import ChainedWarp
from vprop.models import seg as seg_models
from vprop.models.tpn import SwitchableTPN
from vprop.tasks import seg

ARCH = dict(hidden_channels=4, base_width=4, max_width=8, depth=3, decoder="residual")


def _model(unaligned_key: bool, seed: int = 0) -> SwitchableTPN:
    torch.manual_seed(seed)
    return SwitchableTPN(seg_models.seg_config(unaligned_key=unaligned_key, **ARCH)).eval()


def test_model_inputs_put_the_key_masks_after_the_warped_ones():
    rng = np.random.default_rng(0)
    key = seg.SegKey(rng.random((16, 20, 3), dtype=np.float32), (rng.random((2, 16, 20)) > 0.5).astype(np.float32))
    chain = ChainedWarp.identity(16, 20)
    chain.coords[..., 0] += 3.0                     # a shifted chain: warped and unaligned differ
    _, plain = seg.model_inputs(key.rgb, key, chain)
    _, both = seg.model_inputs(key.rgb, key, chain, unaligned_key=True)
    assert plain.shape == (2, 16, 20) and both.shape == (4, 16, 20)
    assert np.array_equal(both[:2], plain) and np.array_equal(both[2:], key.masks)
    assert not np.array_equal(plain, key.masks)


def test_the_base_is_the_trusted_mix_of_the_warped_and_the_unaligned_mask():
    model = _model(True)
    g, p = torch.rand(1, 9, 32, 40), torch.rand(1, 2, 32, 40)
    torch.nn.init.constant_(model.blend[-1].bias, -1e4)    # gate shut: the residual decoder returns its base
    with torch.no_grad():
        for trust, expected in ((1e4, p[:, :1]), (-1e4, p[:, 1:]), (0.0, p.mean(1, keepdim=True))):
            torch.nn.init.constant_(model.select.bias, trust)
            out = model(g, p)
            assert out.shape == (1, 1, 32, 40)
            assert torch.allclose(out, expected, atol=1e-6)


def test_per_object_splits_warped_and_unaligned_channels_by_object():
    model = _model(True)
    net = seg_models.PerObject(model).eval()
    g, warped, own = torch.rand(2, 9, 32, 40), torch.rand(2, 3, 32, 40), torch.rand(2, 3, 32, 40)
    with torch.no_grad():
        out = net(g, torch.cat([warped, own], 1))
        second = model(g[:1], torch.cat([warped[:1, 1:2], own[:1, 1:2]], 1))
    assert out.shape == (2, 3, 32, 40)
    assert torch.allclose(out[:1, 1:2], second, atol=1e-5)
    assert net(g, torch.rand(2, 0, 32, 40)).shape == (2, 0, 32, 40)


def test_switchable_pair_runs_the_reverse_pass_from_the_target_alone():
    model = _model(True)
    g, p, t = torch.rand(2, 9, 32, 40), torch.rand(2, 2, 32, 40), torch.rand(2, 1, 32, 40)
    forward, reverse = model.forward_pair(g, p, t)
    assert forward.shape == reverse.shape == (2, 1, 32, 40)


def test_widened_start_reproduces_the_model_it_starts_from(tmp_path):
    """Fine-tuning a warped-mask-only model into one that also takes the key: the new input channel starts at
    zero, so where the key agrees with the warp (a trusted chain) the new model starts as the old one."""
    from vprop.models.hub import save_weights
    from vprop.training.loop import Trainer, TrainConfig

    old = _model(False, seed=3)
    path = tmp_path / "old.safetensors"
    save_weights(old, path, {})
    cfg = TrainConfig(task="seg", out=str(tmp_path / "run"), workers=0, **{k: v for k, v in ARCH.items()
                                                                          if k != "max_width"}, max_width=8)
    trainer = Trainer(cfg, seg_models.seg_config(unaligned_key=True, **ARCH), batches=[])
    assert trainer.init_from(path) == len(old.state_dict())
    new = trainer.model.eval()
    g, warped = torch.rand(1, 9, 32, 40), torch.rand(1, 1, 32, 40)
    with torch.no_grad():
        expected = old(g, warped)
        diff = (new(g, torch.cat([warped, warped], 1)) - expected).abs().max().item()
        assert diff < 1e-5, diff
        assert not torch.allclose(new(g, torch.cat([warped, 1 - warped], 1)), expected)   # the key is used
