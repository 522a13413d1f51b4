"""Tiny synthetic training data: a moving-square video with its DAVIS-style masks, and small HDR panoramas as EXR."""
from pathlib import Path

from PIL import Image

from support.media import write_video
from support.panorama import synthetic_panorama
from support.seg_media import square_frame, square_labels  # the same moving square as the segment tests

SIZE = (64, 48)
FRAMES = 8


def make_davis(root: Path, names=("square",), frames=FRAMES) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        write_video(root / f"{name}.mp4", frames=frames, size=SIZE, content=square_frame)
        masks = root / "masks" / name
        masks.mkdir(parents=True)
        for i in range(frames):
            Image.fromarray(square_labels(i, label=255)).save(masks / f"{i:05d}.png")   # DAVIS 2016: binary 0/255
    return root


def make_panoramas(root: Path, names=("alpha", "beta")) -> Path:
    from vprop.io.images import write_exr

    root.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        write_exr(root / f"{name}.exr", synthetic_panorama(96, 192, seed=k, sun_radius=5.0))
    return root


TINY = dict(hidden_channels=4, hidden_stride=2, base_width=4, max_width=16, depth=3, batch_size=2,
            crop=(32, 48), short_side=48, max_distance=4, workers=0, log_every=1, lr=3e-3)
