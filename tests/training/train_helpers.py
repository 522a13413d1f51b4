"""Tiny synthetic training data (imported by the test modules; not a conftest, whose module name the
segment tests import): a moving-square video with its masks, and a small HDR panorama as EXR."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from media import write_video
from seg_media import square_frame  # noqa: F401 (same moving square as the segment tests)

SIZE = (64, 48)
FRAMES = 8


def square_mask(index, width=SIZE[0], height=SIZE[1]):
    m = np.zeros((height, width), np.uint8)
    x0, y0 = 6 + 2 * index, 16
    m[y0:y0 + 14, x0:x0 + 14] = 255          # DAVIS 2016: binary 0/255
    return m


def make_davis(root: Path, names=("square",), frames=FRAMES) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        write_video(root / f"{name}.mp4", frames=frames, size=SIZE, content=square_frame)
        masks = root / "masks" / name
        masks.mkdir(parents=True)
        for i in range(frames):
            Image.fromarray(square_mask(i)).save(masks / f"{i:05d}.png")
    return root


def synthetic_panorama(height=96, width=192, seed=0):
    import cv2

    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.random((height, width, 3)).astype(np.float32), (0, 0), 2.0)
    ys = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    pano = (0.05 + 0.4 * (1 - ys)) * (0.5 + texture)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    sun = np.exp(-(((xx - width * 0.4) / 5) ** 2 + ((yy - height * 0.4) / 5) ** 2))
    pano += (sun * 200.0)[..., None] * np.array([1.0, 0.9, 0.7], np.float32)
    return pano.astype(np.float32)


def make_panoramas(root: Path, names=("alpha", "beta")) -> Path:
    from vprop.io.images import write_exr

    root.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        write_exr(root / f"{name}.exr", synthetic_panorama(seed=k))
    return root


TINY = dict(hidden_channels=4, hidden_stride=2, base_width=4, max_width=16, depth=3, batch_size=2,
            crop=(32, 48), short_side=48, max_distance=4, workers=0, log_every=1, lr=3e-3)


@pytest.fixture
def davis(tmp_path):
    return make_davis(tmp_path / "davis")


@pytest.fixture
def panoramas(tmp_path):
    return make_panoramas(tmp_path / "panos")


@pytest.fixture
def tiny_cfg(tmp_path):
    from vprop.training.loop import TrainConfig

    def make(task, data, **over):
        fields = {**TINY, "out": str(tmp_path / f"run-{task}"), "cache_dir": str(tmp_path / "cache"), **over}
        return TrainConfig(task=task, data=[str(data)], **fields)
    return make


@pytest.fixture(autouse=True)
def one_thread():
    """The propagation scans are many small ops: on a busy machine extra threads only oversubscribe it."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
