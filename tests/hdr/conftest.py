"""HDR fixtures: a tiny untrained HDR model and small virtual-camera clips over a synthetic panorama."""
import shutil

import numpy as np
import pytest

from vprop.training.synthetic_hdr import CameraPath, write_clip


def synthetic_panorama(height=128, width=256, seed=0):
    """Scene-linear equirectangular image: textured sky and ground, and a sun a few hundred times brighter."""
    import cv2

    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.random((height, width, 3)).astype(np.float32), (0, 0), 2.0)
    ys = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    pano = (0.05 + 0.4 * (1 - ys)) * (0.5 + texture)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    sun = np.exp(-(((xx - width * 0.4) / 6) ** 2 + ((yy - height * 0.4) / 6) ** 2))
    pano += (sun * 200.0)[..., None] * np.array([1.0, 0.9, 0.7], np.float32)
    return pano.astype(np.float32)


@pytest.fixture(scope="session")
def panorama():
    return synthetic_panorama()


@pytest.fixture(scope="session")
def tiny_hdr_weights(tmp_path_factory):
    import torch

    from vprop.models.hub import save_weights
    from vprop.models.tpn import SwitchableTPN, TPNConfig

    torch.manual_seed(0)
    cfg = TPNConfig(task="hdr", guidance_channels=9, property_channels=3, hidden_channels=4, hidden_stride=4,
                    base_width=4, max_width=16, depth=3, decoder="residual",
                    extra={"aligned": True, "log_mean": -1.0})
    path = tmp_path_factory.mktemp("weights") / "tiny-hdr.safetensors"
    save_weights(SwitchableTPN(cfg), path, {"note": "untrained, for tests"})
    return path


@pytest.fixture(scope="session")
def hdr_clip(tmp_path_factory, panorama):
    """(ldr.mp4, hdr/ frames) of 12 frames 64x48, and a keys folder with the HDR of frames 0 and 6."""
    root = tmp_path_factory.mktemp("clip")
    path = CameraPath(frames=12, size=(64, 48), pan=(1.5, 0.2), zoom=0.004, rotate=0.2, scale=1.0)
    video, hdr_dir = write_clip(panorama, root, path)
    keys = root / "keys"
    keys.mkdir()
    for i in (0, 6):
        shutil.copy(hdr_dir / f"{i:05d}.exr", keys / f"{i:05d}.exr")
    return video, hdr_dir, keys
