"""Numbered image files read as one video: found in a folder or by a pattern, whole, timed by --fps, seekable."""
from fractions import Fraction

import cv2
import numpy as np
import pytest

from support.media import pattern
from vprop.errors import InputError
from vprop.io.sequence import image_sequence, parse_fps
from vprop.io.video import index_frames, probe, read_frames


def write_sequence(folder, numbers, name="scan_{:07d}.png", size=(40, 30)):
    folder.mkdir(parents=True, exist_ok=True)
    for i, number in enumerate(numbers):
        assert cv2.imwrite(str(folder / name.format(number)), pattern(i, *size)[..., ::-1])   # by its suffix
    return folder


def test_a_folder_is_read_as_a_video_at_its_frame_rate(tmp_path):
    folder = write_sequence(tmp_path / "scans", range(86400, 86412))
    (folder / "notes.txt").write_text("not a frame")         # other files beside the frames are not frames
    sequence = image_sequence(str(folder), Fraction(24000, 1001))
    assert (sequence.prefix, sequence.width, sequence.first, sequence.count) == ("scan_", 7, 86400, 12)
    info = probe(sequence)
    assert (info.width, info.height, info.frame_count, info.fps) == (40, 30, 12, Fraction(24000, 1001))
    frames = list(read_frames(sequence))
    assert [f.index for f in frames] == list(range(12))
    assert all(np.array_equal(f.rgb, pattern(i, 40, 30)) for i, f in enumerate(frames))   # PNG: lossless
    assert [f.pts * f.time_base for f in frames] == [Fraction(1001 * i, 24000) for i in range(12)]


def test_a_pattern_names_one_of_two_sequences_and_an_unpadded_one(tmp_path):
    folder = write_sequence(tmp_path / "renders", range(1, 13), name="beauty.{}.tif")
    write_sequence(folder, range(1, 4), name="matte.{}.tif")
    with pytest.raises(InputError, match=r"more than one numbered sequence \(beauty\.#\.tif, matte\.#\.tif\); "
                                         r"name one with a pattern, e\.g\. .*/renders/beauty\.%d\.tif"):
        image_sequence(str(folder))
    sequence = image_sequence(str(folder / "beauty.%d.tif"))
    assert (sequence.width, sequence.first, sequence.count, sequence.fps) == (0, 1, 12, 24)   # 1 ... 12, unpadded
    assert len(list(read_frames(sequence))) == 12
    assert image_sequence(str(folder / "beauty.1.tif")) is None        # a file: not a sequence
    hashes = image_sequence(str(write_sequence(tmp_path / "comp", range(1001, 1004), name="comp.{}.png") /
                                "comp.####.png"))                        # as Nuke and Resolve name sequences
    assert (hashes.prefix, hashes.width, hashes.first, hashes.count) == ("comp.", 4, 1001, 3)
    with pytest.raises(InputError, match="no file matches this pattern"):
        image_sequence(str(folder / "beauty.%04d.tif"))


def test_a_range_is_read_by_seeking_without_reading_every_file(tmp_path):
    sequence = image_sequence(str(write_sequence(tmp_path / "s", range(100, 130))))
    index = index_frames(sequence)
    assert index.pts == index.keyframes == tuple(range(30))
    whole = list(read_frames(sequence))
    part = list(read_frames(sequence, 17, 23, index))
    assert [f.index for f in part] == list(range(17, 23))
    assert all(np.array_equal(a.rgb, b.rgb) and a.pts == b.pts for a, b in zip(part, whole[17:23]))


@pytest.mark.parametrize("numbers, name, problem", [
    ([1, 2, 4, 5], "f_{:04d}.png", r"f_0003\.png: missing from the sequence f_0001\.png … f_0005\.png"),
    ([8, 9, 10, 11], "f_{:02d}.png", None),                                   # 08 09 10 11: one width
    ([], "f_{:04d}.png", "holds no numbered image files"),
])
def test_a_sequence_must_be_whole(tmp_path, numbers, name, problem):
    folder = write_sequence(tmp_path / "s", numbers, name=name)
    if problem is None:
        assert image_sequence(str(folder)).count == len(numbers)
    else:
        with pytest.raises(InputError, match=problem):
            image_sequence(str(folder))


def test_mixed_padding_is_refused(tmp_path):
    folder = write_sequence(tmp_path / "s", [1, 2], name="f_{:04d}.png")
    write_sequence(folder, [3], name="f_{:d}.png")
    with pytest.raises(InputError, match="mix padded and unpadded"):
        image_sequence(str(folder))


@pytest.mark.parametrize("text, fps", [("24", 24), ("25", 25), ("24000/1001", Fraction(24000, 1001)),
                                       ("23.976", Fraction(24000, 1001)), ("29.97", Fraction(30000, 1001)),
                                       ("12.5", Fraction(25, 2))])
def test_frame_rates_as_users_type_them(text, fps):
    assert parse_fps(text) == fps


@pytest.mark.parametrize("text", ["fast", "0", "-24", "1/0"])
def test_a_frame_rate_that_is_none(text):
    with pytest.raises(ValueError, match="is not a frame rate"):
        parse_fps(text)


def test_exr_frames_are_refused_as_video(tmp_path):
    folder = tmp_path / "plates"
    folder.mkdir()
    for i in range(3):
        (folder / f"plate_{i:04d}.exr").write_bytes(b"")     # the names are enough: their contents are not read
    for given in (folder, folder / "plate_%04d.exr"):
        with pytest.raises(InputError, match="EXR frames are scene-linear"):
            image_sequence(str(given))


def test_a_percent_sign_in_a_folder_or_file_name_is_literal(tmp_path):
    folder = write_sequence(tmp_path / "100% take", range(3), name="50%_{:03d}.png")
    sequence = image_sequence(str(folder))
    assert str(sequence) == f"{folder}/50%_%03d.png"
    assert len(list(read_frames(sequence))) == 3


@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_16_bit_scans_are_read_to_8_bits(tmp_path, suffix):
    # A 16-bit TIFF carries side data PyAV cannot name, which once failed the probe ("31 is not a valid Type").
    deep = [pattern(i, 40, 30).astype(np.uint16) * 257 + 100 for i in range(3)]
    for i, rgb in enumerate(deep):
        assert cv2.imwrite(str(tmp_path / f"scan_{i:04d}{suffix}"), rgb[..., ::-1])
    sequence = image_sequence(str(tmp_path))
    assert probe(sequence).frame_count == 3
    for frame, rgb in zip(read_frames(sequence), deep):
        assert np.abs(frame.rgb.astype(int) - np.round(rgb / 257)).max() <= 1
