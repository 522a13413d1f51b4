"""The shipped mask model, with its GrabCut snap, on the bundled real clip with two objects in one palette mask."""
from pathlib import Path

import cv2
import numpy as np

from support.cli import run
from support.seg_media import iou, save_palette
from support.small_clip import EXAMPLES, cut, decoded
from vprop.io.images import read_mask


def test_a_second_object_of_a_real_clip_keeps_to_itself_and_leaves_the_first_as_it_was(tmp_path: Path):
    video = cut(EXAMPLES / "rhino.mp4", tmp_path / "rhino.mp4")       # its first frames, small, as H.264
    clip = decoded(video)
    count, (height, width) = len(clip), clip[0].shape[:2]

    def rhino(index):
        mask = read_mask(EXAMPLES / "rhino_masks" / f"{index:05d}.png")
        return cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST) > 0

    trunk = np.zeros((height, width), bool)
    trunk[: int(0.7 * height), int(0.04 * width): int(0.10 * width)] = True    # the tree trunk at the left edge
    two = np.where(trunk, 5, rhino(0)).astype(np.uint8)
    run("segment", video, "--mask", save_palette(tmp_path / "one.png", rhino(0).astype(np.uint8)), "-o",
        tmp_path / "one", "-q")
    run("segment", video, "--mask", save_palette(tmp_path / "two.png", two), "-o", tmp_path / "two", "-q")
    for i in range(1, count):
        alone, out = read_mask(tmp_path / "one" / f"{i:05d}.png"), read_mask(tmp_path / "two" / f"{i:05d}.png")
        assert set(np.unique(out)) == {0, 1, 5}
        assert iou(out == 1, rhino(i)) > 0.5
        # Objects are cut one by one, but the colour cue of each is against the others': with the trunk the rhino's
        # mask may move a little (IoU 0.999-1.0 against the rhino alone on these frames), never much for the worse.
        # Once in four full-suite runs frame 4 came out 0.0101 below the rhino alone (0.8525 against 0.8626); this
        # test alone (11 runs) and the two-object run in one process (18 runs), idle or loaded, never repeated it and
        # gave the same masks to the bit each time: hence 0.02.
        assert iou(out == 1, alone == 1) > 0.95
        assert iou(out == 1, rhino(i)) >= iou(alone == 1, rhino(i)) - 0.02
        assert ((out == 5) & rhino(i)).sum() <= 0.01 * rhino(i).sum()      # the trunk never takes the rhino
        assert (out == 5).sum() > 0.25 * trunk.sum()
