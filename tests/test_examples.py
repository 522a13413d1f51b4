"""Each script in examples/ runs as a user runs it, on a short, small cut of the bundled rhino clip."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from support.small_clip import FRAMES, cut, decoded
from vprop.io.images import read_exr, read_linear_rgb, read_mask

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def run_example(name: str, *args, cwd: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, str(EXAMPLES / name), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_colorize_example_colours_the_gray_clip(tmp_path):
    video = cut(EXAMPLES / "rhino_gray.mp4", tmp_path / "gray.mp4")
    keys = tmp_path / "keys"
    keys.mkdir()
    shutil.copy(EXAMPLES / "rhino_keys" / "00000.jpg", keys)
    run_example("colorize.py", video, keys, tmp_path / "colour.mp4", cwd=tmp_path)
    gray, colour = decoded(video), decoded(tmp_path / "colour.mp4")
    assert len(colour) == FRAMES
    chroma = lambda rgb: float(np.abs(rgb.astype(np.int16) - rgb.mean(-1, keepdims=True)).mean())  # noqa: E731
    assert chroma(gray[-1]) < 1.0 < chroma(colour[-1])           # colour came from the key
    assert (tmp_path / "colour.report").is_dir()


def test_segment_example_follows_the_mask(tmp_path):
    video = cut(EXAMPLES / "rhino.mp4", tmp_path / "rhino.mp4")
    run_example("segment.py", video, EXAMPLES / "rhino_masks" / "00000.png", tmp_path / "masks", cwd=tmp_path)
    written = sorted((tmp_path / "masks").glob("*.png"))
    assert [p.name for p in written] == [f"{i:05d}.png" for i in range(FRAMES)]
    key_area = (read_mask(written[0]) > 0).mean()
    truth = (read_mask(EXAMPLES / "rhino_masks" / "00005.png") > 0).mean()   # the same share at full size
    assert key_area > 0.05
    assert abs((read_mask(written[-1]) > 0).mean() - truth) < 0.25 * truth
    assert len(decoded(tmp_path / "masks_overlay.mp4")) == FRAMES


def test_hdr_example_writes_radiance_from_its_key(tmp_path):
    video = cut(EXAMPLES / "rhino.mp4", tmp_path / "rhino.mp4")
    run_example("hdr.py", video, tmp_path / "work", cwd=tmp_path)
    exrs = sorted((tmp_path / "work" / "exr").glob("*.exr"))
    assert len(exrs) == FRAMES
    key = read_linear_rgb(tmp_path / "work" / "keys" / "00000.hdr")
    assert np.allclose(read_exr(exrs[0]), key, rtol=0.01, atol=1e-3)      # a key frame is its own radiance
    last = read_exr(exrs[-1])
    assert np.isfinite(last).all() and last.min() >= 0
    assert np.median(last) == pytest.approx(np.median(key), rel=0.5)        # same scene, same exposure
    assert len(decoded(tmp_path / "work" / "preview.mp4")) == FRAMES
