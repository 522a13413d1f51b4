"""Fixtures for the segmentation tests; the helpers live in tests/seg_media.py."""
import pytest
from media import write_video
from seg_media import SIZE, square_frame


@pytest.fixture
def square_video(tmp_path):
    return write_video(tmp_path / "square.mp4", frames=10, size=SIZE, content=square_frame)


@pytest.fixture(scope="session")
def tiny_seg_weights(tmp_path_factory):
    """A small untrained flow-aligned seg model (residual decoder: starts near the flow-warped mask)."""
    import torch

    from vprop.models.hub import save_weights
    from vprop.models.seg import seg_config
    from vprop.models.tpn import SwitchableTPN

    torch.manual_seed(0)
    cfg = seg_config(aligned=True, hidden_channels=4, hidden_stride=4, base_width=4, max_width=16, depth=3,
                     decoder="residual")
    path = tmp_path_factory.mktemp("weights") / "tiny-seg.safetensors"
    save_weights(SwitchableTPN(cfg), path, {"note": "untrained, for tests"})
    return path


@pytest.fixture(scope="session")
def tiny_refine_weights(tmp_path_factory):
    """A small untrained SEG(t+s) refiner (residual decoder: starts near the coarse mask)."""
    import torch

    from vprop.models.hub import save_weights
    from vprop.models.seg import refine_config
    from vprop.models.tpn import SwitchableTPN

    torch.manual_seed(1)
    cfg = refine_config(hidden_channels=4, hidden_stride=2, base_width=4, max_width=16, depth=3)
    path = tmp_path_factory.mktemp("weights") / "tiny-refine.safetensors"
    save_weights(SwitchableTPN(cfg), path, {"note": "untrained, for tests"})
    return path
