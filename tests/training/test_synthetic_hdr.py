"""Virtual-camera clips over a synthetic panorama (no data files needed)."""
import av
import numpy as np

from vprop.io.images import read_exr
from vprop.training.synthetic_hdr import CameraPath, clip_frames, hdr_frames, window_matrix


def test_window_moves_a_few_pixels_per_frame(panorama):
    path = CameraPath(frames=5, size=(64, 48), pan=(2.0, 0.5), zoom=0.01, rotate=0.5)
    m0, m1 = window_matrix(path, (100.0, 60.0), 0), window_matrix(path, (100.0, 60.0), 1)
    centre = np.array([31.5, 23.5, 1.0], np.float32)
    np.testing.assert_allclose(m0 @ centre, [100, 60], atol=1e-3)
    np.testing.assert_allclose(m1 @ centre, [102, 60.5], atol=1e-3)
    corner = np.array([0, 0, 1.0], np.float32)
    assert 0.1 < np.linalg.norm(m1 @ corner - m0 @ corner - [2.0, 0.5]) < 2.0   # zoom + rotation


def test_clip_frames_are_linear_and_ldr_is_the_camera(panorama):
    path = CameraPath(frames=6, size=(64, 48), pan=(1.5, 0.2))
    pairs = list(clip_frames(panorama, path, saturated=0.1))
    assert len(pairs) == 6
    for hdr, ldr in pairs:
        assert hdr.shape == (48, 64, 3) and hdr.dtype == np.float32 and ldr.dtype == np.uint8
        assert hdr.max() > 50 * np.median(hdr)      # the sun is in view: real dynamic range
    saturated = np.mean([(ldr.max(-1) >= 255).mean() for _, ldr in pairs])
    assert 0.03 < saturated < 0.2
    # consecutive frames differ (the camera moves) but only a little
    a, b = pairs[0][0], pairs[1][0]
    assert 0 < np.abs(np.log1p(a) - np.log1p(b)).mean() < 0.5


def test_fixed_exposure_is_used():
    pano = np.full((64, 128, 3), 0.5, np.float32)
    (_, ldr), = clip_frames(pano, CameraPath(frames=1, size=(32, 24)), exposure=2.0)
    assert (ldr == 255).all()
    frames = list(hdr_frames(pano, CameraPath(frames=2, size=(32, 24))))
    np.testing.assert_allclose(frames[1], 0.5, rtol=1e-6)


def test_write_clip(hdr_clip):
    video, hdr_dir, _ = hdr_clip
    with av.open(str(video)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 12 and frames[0].shape == (48, 64, 3)
    exrs = sorted(hdr_dir.glob("*.exr"))
    assert [p.name for p in exrs] == [f"{i:05d}.exr" for i in range(12)]
    assert read_exr(exrs[0]).shape == (48, 64, 3)
