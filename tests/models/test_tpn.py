import pytest
import torch

from vprop.models.hub import load_weights_file, save_weights
from vprop.models.tpn import SwitchableTPN, TPNConfig, normalize_gates, propagation_unit, switch_gates
from vprop.ops import propagate


def tiny(decoder="residual", stride=4, **kw) -> SwitchableTPN:
    torch.manual_seed(0)
    cfg = TPNConfig(task="color", guidance_channels=5, property_channels=2, hidden_channels=4,
                    hidden_stride=stride, base_width=4, max_width=16, depth=3, decoder=decoder, **kw)
    return SwitchableTPN(cfg)


@pytest.mark.parametrize("decoder", ["residual", "paper"])
@pytest.mark.parametrize("size", [(17, 23), (8, 8), (31, 12), (3, 5), (30, 107)])
def test_odd_sizes_keep_shape(decoder, size):
    model = tiny(decoder)
    out = model(torch.randn(2, 5, *size), torch.randn(2, 2, *size))
    assert out.shape == (2, 2, *size)
    assert torch.isfinite(out).all()


def test_inputs_are_padded_to_the_hidden_stride_not_to_the_deepest_pooling():
    model = tiny(stride=4)      # depth 3: the U-Net's deepest level needs 8 pixels a side
    x = torch.randn(1, 5, 30, 107)
    padded = model._pad(x)
    assert padded.shape[-2:] == (32, 108)        # 2**depth would have made it (32, 112)
    torch.testing.assert_close(padded[..., :30, :107], x)
    torch.testing.assert_close(padded[..., -1, :107], x[..., -1, :])    # replicated edge
    assert model._pad(torch.randn(1, 5, 3, 5)).shape[-2:] == (8, 8)


def test_switch_swaps_opposite_directions():
    gates = torch.arange(24 * 2 * 3, dtype=torch.float32).view(1, 24, 2, 3)
    switched = switch_gates(gates)
    for unit in range(2):
        base = 12 * unit
        for a, b in [(0, 1), (1, 0), (2, 3), (3, 2)]:
            assert torch.equal(switched[:, base + 3 * a : base + 3 * a + 3], gates[:, base + 3 * b : base + 3 * b + 3])
    assert torch.equal(switch_gates(switched), gates)


def test_switched_unit_scans_each_direction_with_its_opposite_gates():
    """After the switch, l2r runs with the gates the guidance made for r2l (and so on): the transposed G."""
    torch.manual_seed(1)
    x = torch.randn(1, 2, 5, 6)
    g = normalize_gates(torch.rand(1, 12, 5, 6))
    by_dir = dict(zip(["l2r", "r2l", "t2b", "b2t"], g.split(3, dim=1)))
    opposite = {"l2r": "r2l", "r2l": "l2r", "t2b": "b2t", "b2t": "t2b"}
    expected = torch.stack([propagate(x, by_dir[opposite[d]], d, impl="naive") for d in by_dir]).amax(0)
    assert torch.allclose(propagation_unit(x, switch_gates(g)), expected, atol=1e-6)
    assert not torch.allclose(propagation_unit(x, g), expected, atol=1e-3)


def test_normalize_gates_bounds_each_direction():
    g = normalize_gates(torch.randn(2, 24, 7, 7) * 5)
    sums = g.view(2, 8, 3, 7, 7).abs().sum(2)
    assert sums.max() <= 1 + 1e-5
    small = torch.full((1, 12, 2, 2), 0.1)
    assert torch.equal(normalize_gates(small), small)


def test_normalize_gates_keeps_the_layout_and_the_values():
    g = torch.randn(2, 24, 7, 9) * 5
    last = normalize_gates(g.contiguous(memory_format=torch.channels_last))
    assert last.is_contiguous(memory_format=torch.channels_last)
    assert normalize_gates(g).is_contiguous()
    assert torch.equal(last, normalize_gates(g))


def test_untrained_residual_model_keeps_the_aligned_base():
    """The blend gate starts nearly closed, so an untrained model returns close to its input property."""
    model = tiny("residual")
    prop = torch.randn(1, 2, 16, 16) * 0.3
    out = model(torch.randn(1, 5, 16, 16), prop)
    assert (out - prop).abs().mean() < 0.05 * prop.abs().mean() + 0.02


def test_weights_round_trip_exactly(tmp_path):
    model = tiny("paper", stride=2, extra={"aligned": False})
    path = tmp_path / "m.safetensors"
    save_weights(model, path, {"steps": 3}, half=False)
    loaded, meta = load_weights_file(path)
    assert meta == {"steps": 3}
    assert loaded.cfg == model.cfg
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    g, p = torch.randn(1, 5, 12, 12), torch.randn(1, 2, 12, 12)
    model.eval()
    assert torch.equal(loaded(g, p), model(g, p))


def test_training_step_lowers_the_loss():
    from vprop.training.loop import log_mse
    model = tiny("paper", stride=2)
    torch.manual_seed(2)
    g, p = torch.randn(2, 5, 16, 16), torch.randn(2, 2, 16, 16)
    target = p.roll(1, dims=-1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        fwd, rev = model.forward_pair(g, p, target)
        loss = log_mse(fwd, target) + 0.1 * log_mse(rev, p)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1
