"""The synthetic HDR clip's LDR video goes through vprop.io.video's writer: the camera's frames, as written."""
import cv2
import numpy as np

from vprop.io.images import read_exr
from vprop.io.video import probe, read_frames
from vprop.training.synthetic_hdr import CameraPath, clip_frames, write_clip


def test_the_ldr_video_is_the_cameras_frames_and_the_exrs_the_truth(tmp_path):
    rng = np.random.default_rng(0)
    shade = cv2.resize(rng.random((16, 32)).astype(np.float32), (256, 128), interpolation=cv2.INTER_CUBIC)
    pano = np.clip(shade, 0.01, None)[..., None] * np.array([2.0, 1.6, 1.2], np.float32)   # smooth, warm
    path = CameraPath(frames=5, size=(33, 25), pan=(2.0, 0.0), zoom=0.0, rotate=0.0)   # odd sizes
    video, hdr_dir = write_clip(pano, tmp_path / "clip", path, exposure=0.5)
    info = probe(video)
    assert (info.width, info.height, info.fps) == (34, 26, 25)    # yuv420p: one edge row and column added
    assert (info.colorspace, info.color_range) == (1, 1)           # tagged BT.709 limited, as it was encoded
    pairs = list(clip_frames(pano, path, exposure=0.5))
    decoded = [f.rgb[:25, :33] for f in read_frames(video)]
    assert len(decoded) == 5
    for (hdr, ldr), got in zip(pairs, decoded):
        assert np.abs(got.astype(np.int16) - ldr).mean() < 3       # near lossless (CRF 10)
    half = pairs[4][0].astype(np.float16).astype(np.float32)          # EXRs hold half floats
    np.testing.assert_array_equal(read_exr(hdr_dir / "00004.exr"), half)
