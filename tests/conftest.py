"""Fixtures shared by every test folder."""
import pytest

from media import write_video


@pytest.fixture
def make_video(tmp_path):
    """make_video(name, **options) -> path of a fresh synthetic video in tmp_path."""
    def make(name="in.mp4", **options):
        return write_video(tmp_path / name, **options)
    return make


@pytest.fixture(scope="session")
def tiny_color_weights(tmp_path_factory):
    """A small untrained flow-aligned colour model: exercises every code path in a fraction of a second."""
    import torch

    from vprop.models.hub import save_weights
    from vprop.models.tpn import SwitchableTPN, TPNConfig

    torch.manual_seed(0)
    cfg = TPNConfig(task="color", guidance_channels=5, property_channels=2, hidden_channels=4, hidden_stride=4,
                    base_width=4, max_width=16, depth=3, decoder="residual", extra={"aligned": True})
    path = tmp_path_factory.mktemp("weights") / "tiny-color.safetensors"
    save_weights(SwitchableTPN(cfg), path, {"note": "untrained, for tests"})
    return path
