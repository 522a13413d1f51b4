import pytest
import torch

from vprop.models.side_blend import SideBlend
from vprop.models.tpn import SwitchableTPN, TPNConfig


@pytest.mark.parametrize("scale", [1, 2])
def test_untrained_it_is_the_hand_set_rule_at_any_size(scale):
    torch.manual_seed(0)
    blend = SideBlend(2, width=8, scale=scale)
    forward, backward = torch.rand(2, 2, 37, 51), torch.rand(2, 2, 37, 51)
    forward_conf, backward_conf = torch.rand(2, 1, 37, 51) + 0.01, torch.rand(2, 1, 37, 51) + 0.01
    share = torch.tensor([0.25, 0.7]).view(2, 1, 1, 1)
    weight = blend(forward, backward, forward_conf, backward_conf, share, torch.rand(2, 1, 37, 51))
    hand = forward_conf * share / (forward_conf * share + backward_conf * (1 - share))
    assert weight.shape == (2, 1, 37, 51) and torch.allclose(weight, hand, atol=1e-5)


def test_a_model_carries_it_in_its_config_and_weights():
    cfg = TPNConfig("color", 5, 2, hidden_channels=4, hidden_stride=2, base_width=4, max_width=8, depth=3,
                    decoder="residual", side_blend={"width": 8, "scale": 2})
    model = SwitchableTPN(TPNConfig.from_json(cfg.to_json()))
    assert isinstance(model.side_blend, SideBlend) and model.side_blend.scale == 2
    assert any(name.startswith("side_blend.") for name in model.state_dict())
    assert not hasattr(SwitchableTPN(TPNConfig("color", 5, 2, depth=3)), "side_blend")
