"""Sources deeper than 8 bits (10-bit ProRes, 16-bit PNG scans): `gray` and `colorize` keep their depth, `hdr`
blends at it."""
from fractions import Fraction

import av
import cv2
import numpy as np

from support.cli import run
from vprop.io.images import read_linear_rgb, write_exr
from vprop.io.sequence import image_sequence
from vprop.io.video import VideoWriter, probe, read_frames
from vprop.tasks.color import at_source_depth, rgb_to_lab
from vprop.tasks.hdr import log_rmse, synthesize_ldr

SIZE = (96, 64)


def gradient_frames(frames: int) -> list[np.ndarray]:
    """16-bit RGB: a slow diagonal gray ramp (a few 8-bit steps wide, so 8 bits band it) and a red square moving
    over it."""
    width, height = SIZE
    ys, xs = np.mgrid[0:height, 0:width]
    ramp = 0.4 + 0.05 * (xs + ys) / (width + height)
    out = []
    for i in range(frames):
        rgb = np.dstack([ramp, ramp, ramp])
        rgb[20:40, 10 + 3 * i:30 + 3 * i] = [0.8, 0.25, 0.2]
        out.append((rgb * 65535).astype(np.uint16))
    return out


def write_prores(path, frames: list[np.ndarray]) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("prores_ks", rate=24)
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv422p10le"
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb48le")))
        container.mux(stream.encode(None))


def levels(rgb: np.ndarray) -> int:
    return len(np.unique(rgb[..., 0]))


def test_a_10_bit_source_is_read_at_its_depth(tmp_path):
    video = tmp_path / "ten.mov"
    write_prores(video, gradient_frames(3))
    assert probe(video).bits == 10
    deep, shallow = next(read_frames(video, deep=True)), next(read_frames(video))
    assert deep.rgb.dtype == np.uint16 and shallow.rgb.dtype == np.uint8
    assert levels(deep.rgb) > 3 * levels(shallow.rgb)       # the ramp's steps between 8-bit codes
    assert np.abs(deep.rgb / 257.0 - shallow.rgb).max() < 1.5


def test_deep_writers_round_trip(tmp_path):
    frames = gradient_frames(2)
    info = probe_like(tmp_path, frames)
    for name, pix_fmt in (("lossless.mkv", "gbrp16le"), ("coded.mp4", "yuv420p10le")):
        out = tmp_path / name
        with VideoWriter(out, info, lossless=name.endswith(".mkv"), deep=True) as writer:
            for frame in read_frames(info.path, deep=True):
                writer.write(frame, frame.rgb)
        with av.open(str(out)) as container:
            assert container.streams.video[0].codec_context.pix_fmt == pix_fmt
        back = [f.rgb for f in read_frames(out, deep=True)]
        source = [f.rgb for f in read_frames(info.path, deep=True)]
        if pix_fmt == "gbrp16le":
            assert all(np.array_equal(a, b) for a, b in zip(back, source))     # FFV1 is lossless at 16 bits too
        else:
            assert levels(back[0]) > 2 * levels(next(read_frames(info.path)).rgb)


def probe_like(tmp_path, frames):
    """A 16-bit PNG sequence of ``frames``, probed."""
    folder = tmp_path / "scan"
    folder.mkdir()
    for i, rgb in enumerate(frames):
        cv2.imwrite(str(folder / f"scan_{i + 100:04d}.png"), rgb[..., ::-1])
    info = probe(image_sequence(str(folder), Fraction(24), None))
    assert info.bits == 16
    return info


def test_at_source_depth_keeps_the_source_s_lightness():
    source = np.stack(gradient_frames(1)[0][None], 0)[0]
    shallow = (source / 257.0 + 0.5).astype(np.uint8)
    # nothing changed but the depth: the 16-bit frame comes back (the ramp and the red square), to within a
    # quarter of an 8-bit step (the 8-bit result's chroma is read by OpenCV's tabulated curve)
    assert np.abs(at_source_depth(shallow, source).astype(int) - source).max() < 64
    # a colour result: its chroma, on the source's own lightness
    red = shallow.copy()
    red[..., 0] = np.minimum(255, red[..., 0].astype(int) + 40)
    deep = at_source_depth(red, source)
    assert np.abs(rgb_to_lab(deep)[..., 0] - rgb_to_lab(source)[..., 0]).max() < 0.01
    assert np.abs(rgb_to_lab(deep)[..., 1:] - rgb_to_lab(red)[..., 1:]).max() < 1.0


def test_deep_lightness_is_exact():
    # OpenCV's float sRGB curve is tabulated (L off by up to 0.15); deep frames take the curve's formula
    value = np.linspace(0.2, 0.8, 13)
    linear = ((value + 0.055) / 1.055) ** 2.4
    exact = 116 * np.cbrt(linear) - 16
    gray = np.repeat((value * 65535 + 0.5).astype(np.uint16)[None, :, None], 3, 2)
    assert np.abs(rgb_to_lab(gray)[0, :, 0] - exact).max() < 0.002


def test_colorize_and_gray_keep_a_deep_source_s_fine_steps(tmp_path):
    video = tmp_path / "ten.mov"
    frames = gradient_frames(12)
    write_prores(video, frames)
    keys = tmp_path / "keys"
    keys.mkdir()
    cv2.imwrite(str(keys / "00000.png"), (frames[0][..., ::-1] // 257).astype(np.uint8))

    gray = tmp_path / "gray.mkv"
    assert run("gray", video, "-o", gray, "--lossless", "-q").exit_code == 0
    gray_frames = [f.rgb for f in read_frames(gray, deep=True)]
    assert gray_frames[0].dtype == np.uint16 and levels(gray_frames[0]) > 3 * levels(
        next(read_frames(video)).rgb)

    coloured = tmp_path / "colour.mkv"
    result = run("colorize", gray, "--keys", keys, "-o", coloured, "--lossless", "-q")
    assert result.exit_code == 0, result.output
    with av.open(str(coloured)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "gbrp16le"
    out = [f.rgb for f in read_frames(coloured, deep=True)]
    assert len(out) == 12
    for rgb, source in zip(out, gray_frames):
        # the gray source's lightness, to the 16-bit step: its finer steps are all there
        assert np.abs(rgb_to_lab(rgb)[..., 0] - rgb_to_lab(source)[..., 0]).max() < 0.01
    square = out[0][25:35, 15:25].astype(float).mean(axis=(0, 1))
    assert square[0] > square[1] + 10000       # and it is coloured: the key's red square

    eight = tmp_path / "eight.mkv"
    assert run("colorize", gray, "--keys", keys, "-o", eight, "--lossless", "--8-bit", "-q").exit_code == 0
    with av.open(str(eight)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "bgr0"
    for rgb, plain in zip(out, read_frames(eight)):     # the same colours, a finer lightness
        assert np.abs(rgb_to_lab(rgb)[..., 1:] - rgb_to_lab(plain.rgb)[..., 1:]).mean() < 0.5
        assert levels(rgb) > 3 * levels(plain.rgb)


def test_segment_alpha_keeps_a_deep_plate(tmp_path):
    video = tmp_path / "ten.mov"
    frames = gradient_frames(6)
    write_prores(video, frames)
    mask = tmp_path / "square.png"
    cv2.imwrite(str(mask), np.where(frames[0][..., 1] < frames[0][..., 0] - 10000, 1, 0).astype(np.uint8))
    mattes, movie = tmp_path / "mattes", tmp_path / "matte.mov"
    result = run("segment", video, "--mask", mask, "-o", tmp_path / "masks", "--alpha", f"{mattes}/", "-q")
    assert result.exit_code == 0, result.output
    assert run("segment", video, "--mask", mask, "-o", tmp_path / "m2", "--alpha", movie, "-q").exit_code == 0
    plates = [f.rgb for f in read_frames(video, deep=True)]
    pngs = sorted(mattes.glob("*.png"))
    assert len(pngs) == 6
    for png, plate in zip(pngs, plates):
        rgba = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
        assert rgba.dtype == np.uint16 and np.array_equal(rgba[..., 2::-1], plate)    # the plate, to the bit
        assert set(np.unique(rgba[..., 3])) <= {0, 65535}
    first = cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED)
    assert first[25:35, 15:25, 3].min() == 65535 and first[50:, :, 3].max() == 0     # the key's square
    with av.open(str(movie)) as container:
        coded = next(container.decode(video=0)).to_ndarray(format="rgba64le")
    assert levels(coded) > 3 * levels(next(read_frames(video)).rgb)


def test_frames_written_as_dpx_or_tiff_are_the_pngs(tmp_path, make_video):
    # Film scans' pipelines conform DPX (or TIFF): a pattern's suffix says which, at the output's 8 or 16 bits
    deep = tmp_path / "ten.mov"
    write_prores(deep, gradient_frames(4))
    for video in (deep, make_video("eight.mp4", frames=4)):
        written = {}
        for suffix in (".png", ".tif", ".dpx"):
            pattern = tmp_path / video.stem / suffix[1:] / f"f_%04d{suffix}"
            assert run("gray", video, "-o", pattern, "-q").exit_code == 0
            files = sorted(pattern.parent.iterdir())
            assert [f.name for f in files] == [f"f_{i:04d}{suffix}" for i in range(4)]
            written[suffix] = [f.rgb for f in read_frames(image_sequence(str(pattern)), deep=True)]
        dpx = probe(image_sequence(str(tmp_path / video.stem / "dpx" / "f_%04d.dpx")))
        assert dpx.bits == (16 if video == deep else 8)
        for suffix in (".tif", ".dpx"):
            assert all(np.array_equal(a, b) for a, b in zip(written[suffix], written[".png"]))


def test_hdr_blends_a_deep_source_at_its_depth(tmp_path, tiny_hdr_weights):
    # A 10-bit camera over a smooth radiance ramp that brightens from frame to frame: where the LDR is well exposed
    # the blend keeps the radiance within what the frame's code value allows, and a 10-bit code allows a quarter of
    # an 8-bit one's range. The same frames read at 8 bits (the 8-bit PNGs: what vprop read before) are coarser.
    width, height = SIZE
    ys, xs = np.mgrid[0:height, 0:width]
    base = 0.15 + 0.25 * (xs + ys) / (width + height)
    truth = [np.dstack([base, 0.8 * base, 0.6 * base]).astype(np.float32) * (1 + 0.02 * i) for i in range(8)]
    folders = {depth: tmp_path / f"scan{depth}" for depth in (8, 16)}
    for folder in folders.values():
        folder.mkdir()
    for i, radiance in enumerate(truth):
        deep = synthesize_ldr(radiance, 1.0, bits=10)
        assert cv2.imwrite(str(folders[16] / f"f_{i:03d}.png"), deep[..., ::-1])
        assert cv2.imwrite(str(folders[8] / f"f_{i:03d}.png"), ((deep + 128) // 257).astype(np.uint8)[..., ::-1])
    keys = tmp_path / "keys"
    keys.mkdir()
    for i in (0, 7):
        write_exr(keys / f"{i:05d}.exr", truth[i], half=False)
    assert probe(image_sequence(str(folders[16]))).deep and not probe(image_sequence(str(folders[8]))).deep

    error = {}
    for depth, folder in folders.items():
        out = tmp_path / f"hdr{depth}"
        result = run("hdr", folder, "--hdr-keys", keys, "-o", out, "--weights", tiny_hdr_weights, "-q")
        assert result.exit_code == 0, result.output
        error[depth] = np.mean([log_rmse(read_linear_rgb(out / f"{i:05d}.exr"), truth[i]) for i in range(1, 7)])
    assert error[16] < 0.7 * error[8], error       # 0.0020 against 0.0043 when written
