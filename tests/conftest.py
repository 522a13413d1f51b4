"""The fixtures of every test folder (the helpers they build on live in tests/support/).

Ray in the batch tests listens on 127.0.0.1 only, asks for a token (Ray's default for a cluster; a driver joining
an explicit address must be told), here one made up for the session rather than ~/.ray/auth_token, and never
reports usage. Ray reads these when it is first imported, and this file is imported before any test module; Ray
itself is started only by the batch tests' own fixtures.
"""
import os
import secrets
import shutil

import pytest

from support.media import write_video
from support.panorama import synthetic_panorama
from support.seg_media import SIZE, square_frame
from support.train_data import TINY, make_davis, make_panoramas

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def save_tiny_model(tmp_path_factory, name, cfg, seed):
    """A small untrained model saved as weights: exercises every code path in a fraction of a second."""
    import torch

    from vprop.models.hub import save_weights
    from vprop.models.tpn import SwitchableTPN

    torch.manual_seed(seed)
    path = tmp_path_factory.mktemp("weights") / f"{name}.safetensors"
    save_weights(SwitchableTPN(cfg), path, {"note": "untrained, for tests"})
    return path


# --- videos ------------------------------------------------------------------------------------------------

@pytest.fixture
def make_video(tmp_path):
    """make_video(name, **options) -> path of a fresh synthetic video in tmp_path."""
    def make(name="in.mp4", **options):
        return write_video(tmp_path / name, **options)
    return make


@pytest.fixture
def square_video(tmp_path):
    """The segmentation tests' moving square, 10 frames."""
    return write_video(tmp_path / "square.mp4", frames=10, size=SIZE, content=square_frame)


# --- tiny untrained models -------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def tiny_color_weights(tmp_path_factory):
    """A flow-aligned colour model."""
    from vprop.models.tpn import TPNConfig

    cfg = TPNConfig(task="color", guidance_channels=5, property_channels=2, hidden_channels=4, hidden_stride=4,
                    base_width=4, max_width=16, depth=3, decoder="residual", extra={"aligned": True})
    return save_tiny_model(tmp_path_factory, "tiny-color", cfg, seed=0)


@pytest.fixture(scope="session")
def tiny_seg_weights(tmp_path_factory):
    """A flow-aligned seg model (residual decoder: starts near the flow-warped mask)."""
    from vprop.models.seg import seg_config

    cfg = seg_config(aligned=True, hidden_channels=4, hidden_stride=4, base_width=4, max_width=16, depth=3,
                     decoder="residual")
    return save_tiny_model(tmp_path_factory, "tiny-seg", cfg, seed=0)


@pytest.fixture(scope="session")
def tiny_refine_weights(tmp_path_factory):
    """A SEG(t+s) refiner (residual decoder: starts near the coarse mask)."""
    from vprop.models.seg import refine_config

    cfg = refine_config(hidden_channels=4, hidden_stride=2, base_width=4, max_width=16, depth=3)
    return save_tiny_model(tmp_path_factory, "tiny-refine", cfg, seed=1)


@pytest.fixture(scope="session")
def tiny_hdr_weights(tmp_path_factory):
    """A flow-aligned HDR model."""
    from vprop.models.tpn import TPNConfig

    cfg = TPNConfig(task="hdr", guidance_channels=9, property_channels=3, hidden_channels=4, hidden_stride=4,
                    base_width=4, max_width=16, depth=3, decoder="residual",
                    extra={"aligned": True, "log_mean": -1.0})
    return save_tiny_model(tmp_path_factory, "tiny-hdr", cfg, seed=0)


# --- HDR clips -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def panorama():
    return synthetic_panorama()


@pytest.fixture(scope="session")
def hdr_clip(tmp_path_factory, panorama):
    """(ldr.mp4, hdr/ frames) of 12 frames 64x48, and a keys folder with the HDR of frames 0 and 6."""
    from vprop.training.synthetic_hdr import CameraPath, write_clip

    root = tmp_path_factory.mktemp("clip")
    path = CameraPath(frames=12, size=(64, 48), pan=(1.5, 0.2), zoom=0.004, rotate=0.2, scale=1.0)
    video, hdr_dir = write_clip(panorama, root, path)
    keys = root / "keys"
    keys.mkdir()
    for i in (0, 6):
        shutil.copy(hdr_dir / f"{i:05d}.exr", keys / f"{i:05d}.exr")
    return video, hdr_dir, keys


# --- training --------------------------------------------------------------------------------------------------

@pytest.fixture
def davis(tmp_path):
    return make_davis(tmp_path / "davis")


@pytest.fixture
def panoramas(tmp_path):
    return make_panoramas(tmp_path / "panos")


@pytest.fixture
def tiny_cfg(tmp_path):
    """tiny_cfg(task, data, **overrides) -> a TrainConfig of a few-second run writing into tmp_path."""
    from vprop.training.loop import TrainConfig

    def make(task, data, **over):
        fields = {**TINY, "out": str(tmp_path / f"run-{task}"), "cache_dir": str(tmp_path / "cache"), **over}
        return TrainConfig(task=task, data=[str(data)], **fields)
    return make


@pytest.fixture
def one_thread():
    """The propagation scans are many small ops: on a busy machine extra threads only oversubscribe it."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
