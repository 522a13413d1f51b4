import os

import cv2
import numpy as np
import OpenEXR
import pytest
from PIL import Image

from vprop.errors import InputError
from vprop.io.images import (DAVIS_PALETTE, find_indexed_files, fit_to_size, is_grayscale,
                             read_exr, read_hdr, read_linear_rgb, read_mask, read_rgb,
                             write_exr, write_indexed_png)



def write_channels(path, channels):
    # A fresh header each time: OpenEXR.File writes dataWindow into the dict it is given.
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, channels).write(str(path))


def touch(folder, *names):
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")
    return folder


def test_key_files_are_found_by_their_last_number(tmp_path):
    folder = touch(tmp_path / "keys", "30.png", "00031.png", "frame_00032.png", "key-33.jpg",
                   "take2_shot7_0034.PNG", "notes.txt", ".hidden5.png")
    found = find_indexed_files(folder, (".png", ".jpg"))
    assert {i: p.name for i, p in found.items()} == {
        30: "30.png", 31: "00031.png", 32: "frame_00032.png", 33: "key-33.jpg",
        34: "take2_shot7_0034.PNG"}
    assert list(found) == sorted(found)


@pytest.mark.parametrize("names, problem", [
    (["30.png", "0030.jpg"], "frame 30 is also given by"),
    (["key.png"], "no frame number"),
    ([], "no .jpg/.png files"),
    (["1.txt"], "no .jpg/.png files"),
])
def test_bad_key_folders(tmp_path, names, problem):
    folder = touch(tmp_path / "keys", *names)
    with pytest.raises(InputError, match=problem):
        find_indexed_files(folder, (".png", ".jpg"))


def test_missing_key_folder(tmp_path):
    with pytest.raises(InputError, match="no such directory"):
        find_indexed_files(tmp_path / "nope", (".png",))


def test_read_rgb_returns_rgb_order(tmp_path):
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 0] = 255  # blue in OpenCV's order
    cv2.imwrite(str(tmp_path / "blue.png"), bgr)
    rgb = read_rgb(tmp_path / "blue.png")
    assert rgb.shape == (4, 5, 3) and rgb[0, 0].tolist() == [0, 0, 255]


@pytest.mark.parametrize("content, problem", [(b"", "empty file"), (b"not an image", "not an image")])
def test_read_rgb_rejects_non_images(tmp_path, content, problem):
    (tmp_path / "key.png").write_bytes(content)
    with pytest.raises(InputError, match=problem):
        read_rgb(tmp_path / "key.png")
    with pytest.raises(InputError, match="no such file"):
        read_rgb(tmp_path / "missing.png")


def test_is_grayscale():
    gray = np.repeat(np.arange(60, dtype=np.uint8).reshape(6, 10, 1), 3, axis=2)
    assert is_grayscale(gray)
    gray[0, 0, 1] += 1  # JPEG-like wobble is still gray
    assert is_grayscale(gray)
    gray[0, 0, 2] += 5
    assert not is_grayscale(gray)


def test_fit_to_size(tmp_path):
    image = np.zeros((480, 854, 3), np.uint8)
    assert fit_to_size(image, 854, 480, "key.png") is image
    with pytest.warns(UserWarning, match="key.png: resized from 427x240 to 854x480"):
        assert fit_to_size(image[::2, ::2], 854, 480, "key.png").shape == (480, 854, 3)
    labels = np.zeros((240, 427), np.uint8)
    labels[:, 200:] = 3
    with pytest.warns(UserWarning):
        resized = fit_to_size(labels, 854, 480, "mask.png")
    assert set(np.unique(resized)) == {0, 3}  # no blended labels
    with pytest.raises(InputError) as error:
        fit_to_size(np.zeros((480, 640, 3), np.uint8), 854, 480, "key.png")
    assert str(error.value) == "key.png: size 640x480 does not match the video (854x480)"


def test_davis_palette():
    assert DAVIS_PALETTE.shape == (256, 3) and DAVIS_PALETTE.dtype == np.uint8
    assert DAVIS_PALETTE[:5].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0],
                                          [0, 0, 128]]
    assert DAVIS_PALETTE[255].tolist() == [224, 224, 192]
    assert len({tuple(c) for c in DAVIS_PALETTE.tolist()}) == 256


def labels():
    out = np.zeros((12, 16), np.uint8)
    out[2:6, 3:9], out[7:, :5], out[0, 15] = 1, 2, 7
    return out


def test_palette_mask_indices_survive(tmp_path):
    write_indexed_png(tmp_path / "00000.png", labels())
    with Image.open(tmp_path / "00000.png") as image:
        assert image.mode == "P"
        assert image.getpalette()[3:6] == [128, 0, 0]
    assert np.array_equal(read_mask(tmp_path / "00000.png"), labels())
    assert [p.name for p in tmp_path.iterdir()] == ["00000.png"]  # no temporary left
    # A palette PNG from elsewhere, colours unrelated to its indices:
    other = Image.fromarray(labels())
    other.putpalette([255 - v for v in range(256)] * 3)
    other.save(tmp_path / "other.png")
    assert np.array_equal(read_mask(tmp_path / "other.png"), labels())


@pytest.mark.parametrize("scale", [255, 1])
def test_binary_masks_become_zero_one(tmp_path, scale):
    Image.fromarray((labels() > 0).astype(np.uint8) * scale).save(tmp_path / "m.png")
    assert np.array_equal(read_mask(tmp_path / "m.png"), (labels() > 0).astype(np.uint8))


def test_gray_and_davis_coloured_masks_give_indices(tmp_path):
    Image.fromarray(labels()).save(tmp_path / "gray.png")
    Image.fromarray(DAVIS_PALETTE[labels()]).save(tmp_path / "rgb.png")
    assert np.array_equal(read_mask(tmp_path / "gray.png"), labels())
    assert np.array_equal(read_mask(tmp_path / "rgb.png"), labels())


def test_unusable_masks(tmp_path):
    values = labels()
    values[0, 0] = 255
    Image.fromarray(values).save(tmp_path / "void.png")
    with pytest.raises(InputError, match="index above 254"):
        read_mask(tmp_path / "void.png")
    noise = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "photo.png")
    with pytest.raises(InputError, match="outside the DAVIS palette"):
        read_mask(tmp_path / "photo.png")
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(InputError, match="text.png: not an image"):
        read_mask(tmp_path / "text.png")


def radiance():
    rng = np.random.default_rng(0)
    return (10.0 ** rng.uniform(-3, 4, (16, 24, 3))).astype(np.float32)


def test_exr_round_trip(tmp_path):
    write_exr(tmp_path / "half.exr", radiance())
    back = read_exr(tmp_path / "half.exr")
    assert back.dtype == np.float32 and back.shape == (16, 24, 3)
    assert np.allclose(back, radiance(), rtol=1e-3, atol=1e-7)  # half: 11-bit mantissa
    write_exr(tmp_path / "full.exr", radiance(), half=False)
    assert np.array_equal(read_exr(tmp_path / "full.exr"), radiance())
    assert sorted(os.listdir(tmp_path)) == ["full.exr", "half.exr"]


def test_exr_half_clamps_instead_of_overflowing(tmp_path):
    write_exr(tmp_path / "bright.exr", np.full((2, 2, 3), 1e6, np.float32))
    assert np.isfinite(read_exr(tmp_path / "bright.exr")).all()


def test_exr_channel_layouts(tmp_path):
    rgb = radiance()
    write_channels(tmp_path / "y.exr", {"Y": rgb[..., 0].copy()})
    assert np.array_equal(read_exr(tmp_path / "y.exr"), np.repeat(rgb[..., :1], 3, axis=2))
    layered = {f"beauty.{c}": rgb[..., i].copy() for i, c in enumerate("RGB")}
    write_channels(tmp_path / "layer.exr", {**layered, "A": rgb[..., 0].copy()})
    assert np.array_equal(read_exr(tmp_path / "layer.exr"), rgb)


def test_exr_without_rgb_is_an_input_error(tmp_path):
    write_channels(tmp_path / "a.exr", {"A": np.ones((4, 4), np.float16)})
    with pytest.raises(InputError, match=r"a.exr: no RGB channels \(has A\)"):
        read_exr(tmp_path / "a.exr")


def test_damaged_exr_is_an_input_error(tmp_path):
    write_exr(tmp_path / "ok.exr", radiance())
    data = (tmp_path / "ok.exr").read_bytes()
    (tmp_path / "cut.exr").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.exr").write_text("not an exr")
    for name in ("cut.exr", "text.exr"):
        with pytest.raises(InputError, match=f"{name}: damaged, truncated or not an OpenEXR"):
            read_exr(tmp_path / name)


def test_radiance_hdr(tmp_path):
    rgb = np.zeros((4, 6, 3), np.float32)
    rgb[..., 0], rgb[..., 2] = 8.0, 0.25
    assert cv2.imwrite(str(tmp_path / "sky.hdr"), rgb[..., ::-1].copy())
    assert np.allclose(read_hdr(tmp_path / "sky.hdr"), rgb, rtol=0.02)
    assert np.allclose(read_linear_rgb(tmp_path / "sky.hdr"), rgb, rtol=0.02)
    (tmp_path / "bad.hdr").write_text("nope")
    with pytest.raises(InputError, match="bad.hdr"):
        read_hdr(tmp_path / "bad.hdr")
    with pytest.raises(InputError, match="unsupported HDR image type"):
        read_linear_rgb(tmp_path / "sky.png")


def test_a_jpeg_mask_is_refused_for_what_it_is(tmp_path):
    """JPEG blurs a mask's edges into values that are no object's index; the error says so, not "index above
    254", which is only a symptom."""
    values = np.zeros((32, 32), np.uint8)
    values[8:24, 8:24] = 255
    for name in ("mask.jpg", "mask.jpeg.png"):     # a JPEG is a JPEG whatever its name
        Image.fromarray(values).save(tmp_path / name, format="JPEG")
        with pytest.raises(InputError, match=f"{name}: JPEG is lossy.*save the mask as PNG"):
            read_mask(tmp_path / name)


def test_an_exr_in_other_primaries_is_read_in_bt709(tmp_path):
    from vprop.io.chromaticities import BT709, to_bt709

    aces = (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767)     # ACES2065-1 (AP0), its D60 white
    to_709 = to_bt709(aces)
    # OpenColorIO's ACES2065-1 -> linear Rec.709 (Bradford), to its printed digits
    np.testing.assert_allclose(to_709, [[2.52168619, -1.13413099, -0.38755520],
                                        [-0.27647992, 1.37271909, -0.09623917],
                                        [-0.01537802, -0.15297525, 1.16835327]], atol=2e-5)
    rgb = np.random.default_rng(3).random((6, 7, 3)).astype(np.float32) * 4
    channels = {c: np.ascontiguousarray((rgb @ np.linalg.inv(to_709).T)[..., i].astype(np.float32))
                for i, c in enumerate("RGB")}
    OpenEXR.File({"type": OpenEXR.scanlineimage, "chromaticities": aces}, channels).write(str(tmp_path / "a.exr"))
    np.testing.assert_allclose(read_exr(tmp_path / "a.exr"), rgb, rtol=1e-4, atol=1e-5)
    # vprop's own EXRs say they are BT.709 and read back unchanged
    write_exr(tmp_path / "b.exr", rgb, half=False)
    with OpenEXR.File(str(tmp_path / "b.exr")) as written:
        assert to_bt709(written.header()["chromaticities"]) is None
    np.testing.assert_array_equal(read_exr(tmp_path / "b.exr"), rgb)
    assert to_bt709(BT709) is None
