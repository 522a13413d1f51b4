"""Two objects in one palette mask, on real footage: two DAVIS clips side by side, each object its own index.

The clip is made here from ``../shared/data`` (never committed); without that data the test is skipped.
"""
from pathlib import Path

import cv2
import numpy as np
import pytest

from support.media import write_video
from support.seg_media import iou, save_palette
from vprop.io.images import read_mask
from vprop.io.video import read_frames
from vprop.pipelines.segment import segment

REPO = Path(__file__).resolve().parents[2]
# Beside the checkout (CI), or one level up (a worktree).
DAVIS = next((p for p in (REPO.parent / "shared" / "data" / "davis2016-train",
                          REPO.parent.parent / "shared" / "data" / "davis2016-train") if p.is_dir()), None)
LEFT, RIGHT = "bear", "car-turn"      # object 1 on the left, object 2 on the right
FRAMES, HALF = 12, (320, 180)         # each clip's frames shrunk to HALF (width, height)


@pytest.fixture(scope="module")
def two_objects(tmp_path_factory):
    """(video, its first frame's palette mask, the true label map of every frame)."""
    if DAVIS is None:
        pytest.skip("DAVIS data (../shared/data/davis2016-train) is not beside this checkout")
    folder = tmp_path_factory.mktemp("two-objects")
    halves, labels = [], []
    for index, name in enumerate((LEFT, RIGHT), 1):
        halves.append([cv2.resize(f.rgb, HALF, interpolation=cv2.INTER_AREA)
                       for f in read_frames(DAVIS / f"{name}.mp4", 0, FRAMES)])
        labels.append([cv2.resize((read_mask(DAVIS / "masks" / name / f"{i:05d}.png") > 0).astype(np.uint8) * index,
                                  HALF, interpolation=cv2.INTER_NEAREST) for i in range(FRAMES)])
    frames = [np.hstack(pair) for pair in zip(*halves)]
    truth = [np.hstack(pair) for pair in zip(*labels)]
    video = write_video(folder / "two.mp4", frames=FRAMES, size=(2 * HALF[0], HALF[1]),
                        content=lambda i, w, h: frames[i])
    return video, save_palette(folder / "first.png", truth[0]), truth


def test_each_object_keeps_its_index_and_follows_its_own_truth(two_objects, tmp_path):
    video, first, truth = two_objects
    out = segment(video, {0: first}, tmp_path / "masks")        # the shipped model, as `vprop segment` runs
    predicted = [read_mask(p) for p in sorted(out.iterdir())]
    assert len(predicted) == FRAMES
    for labels in predicted:
        assert set(np.unique(labels)) == {0, 1, 2}              # both objects survive every frame
    for index in (1, 2):
        j = np.mean([iou(p == index, t == index) for p, t in zip(predicted[1:], truth[1:])])
        assert j > 0.7, f"object {index}: J {j:.3f}"
        # Neither object leaks into the other's half (the halves are different videos).
        side = slice(HALF[0], None) if index == 1 else slice(0, HALF[0])
        assert all((p[:, side] == index).mean() < 0.01 for p in predicted)
