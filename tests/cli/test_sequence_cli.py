"""Image sequences (a folder of numbered frames, or a pattern) where the commands take VIDEO: film scans as users
have them, read whole, timed by --fps, and refused with one line where they are not whole."""
import json
import os
from fractions import Fraction

import cv2
import numpy as np
import pytest

from support.cli import bad, misused, run
from support.media import packets, pattern, write_sound
from support.seg_media import SIZE, iou, save_palette, square_frame, square_labels
from vprop.io.images import read_mask
from vprop.io.sequence import image_sequence
from vprop.io.video import VideoWriter, probe, read_frames
from vprop.pipelines.resume import video_sha256


def scans(folder, frames=12, first=86400, content=pattern, size=(64, 48)):
    folder.mkdir()
    for i in range(frames):
        assert cv2.imwrite(str(folder / f"scan_{first + i:07d}.png"), content(i, *size)[..., ::-1])
    return folder


def frame_times(path):
    return [f.pts * f.time_base for f in read_frames(path)]


def test_gray_of_a_folder_and_of_a_pattern_at_their_frame_rate(tmp_path):
    folder = scans(tmp_path / "scans")
    result = run("gray", folder, "-o", tmp_path / "g.mp4")
    assert result.exit_code == 0, result.output
    assert frame_times(tmp_path / "g.mp4") == [Fraction(i, 24) for i in range(12)]        # 24 unless told
    assert run("gray", folder / "scan_%07d.png", "--fps", "25", "-o", tmp_path / "g25.mp4", "-q").exit_code == 0
    assert frame_times(tmp_path / "g25.mp4") == [Fraction(i, 25) for i in range(12)]
    assert run("gray", folder, "-o", f"{tmp_path}/frames/", "-q").exit_code == 0
    assert sorted(os.listdir(tmp_path / "frames")) == [f"{i:05d}.png" for i in range(12)]  # numbered as keys are
    # vprop's own frames, named by number alone, are a sequence too
    assert run("gray", tmp_path / "frames", "-o", tmp_path / "again.mkv", "--lossless", "-q").exit_code == 0
    assert [f.rgb.tolist() for f in read_frames(tmp_path / "again.mkv")] == [
        f.rgb.tolist() for f in read_frames(image_sequence(str(tmp_path / "frames")))]


def test_keys_then_colorize_a_sequence_in_two_processes(tmp_path, tiny_color_weights):
    folder = scans(tmp_path / "scans", frames=16)
    result = run("keys", folder, "--interval", "5", "--fps", "24000/1001", "-o", tmp_path / "keys")
    assert result.exit_code == 0, result.output
    assert f"vprop colorize {folder}/scan_%07d.png --fps 24000/1001 --keys" in result.output   # what to run next
    listed = run("keys", folder, "--interval", "5", "--fps", "25", "--list")
    assert [line.split() for line in listed.output.splitlines()] == [
        ["frame", "time", "code", "shot", "file"], ["0", "00:00:00.000", "1", "scan_0086400.png"],
        ["5", "00:00:00.200", "1", "scan_0086405.png"], ["10", "00:00:00.400", "1", "scan_0086410.png"],
        ["15", "00:00:00.600", "1", "scan_0086415.png"]]                # the scans to paint, by name
    assert sorted(os.listdir(tmp_path / "keys")) == ["00000.png", "00005.png", "00010.png", "00015.png"]
    out = tmp_path / "c.mp4"
    result = run("colorize", folder, "--keys", tmp_path / "keys", "--interval", "5", "--workers", "2",
                 "--weights", tiny_color_weights, "-o", out, "-q")
    assert result.exit_code == 0, result.output
    assert result.output == ""          # no warning: the pieces joined with the sequence's timing
    assert frame_times(out) == [Fraction(i, 24) for i in range(16)]
    colour = [f.rgb for f in read_frames(out)]
    assert np.abs(colour[5].astype(int) - pattern(5, 64, 48)).mean() < 6     # a key's frame keeps its colour


def test_segment_a_sequence(tmp_path, tiny_seg_weights):
    folder = scans(tmp_path / "scans", frames=6, content=square_frame, size=SIZE)
    mask = save_palette(tmp_path / "first.png", square_labels(0))
    result = run("segment", folder, "--mask", mask, "--weights", tiny_seg_weights, "-o", tmp_path / "masks", "-q")
    assert result.exit_code == 0, result.output
    assert len(os.listdir(tmp_path / "masks")) == 6
    last = read_mask(tmp_path / "masks" / "00005.png")
    assert iou(last > 0, square_labels(5) > 0) > 0.5      # the square is followed (an untrained model)


def test_sequences_that_cannot_be_used(tmp_path, make_video):
    folder = scans(tmp_path / "scans")
    (folder / "scan_0086405.png").unlink()
    bad(run("gray", folder, "-o", tmp_path / "g.mp4"), "scan_0086405.png", "missing from the sequence")
    bad(run("gray", tmp_path / "scans" / "shot_%04d.png", "-o", tmp_path / "g.mp4"), "no file matches")
    bad(run("gray", scans(tmp_path / "whole"), "-o", tmp_path / "whole"), "would overwrite the input sequence")
    odd = scans(tmp_path / "odd")
    assert cv2.imwrite(str(odd / "scan_0086407.png"), np.zeros((50, 70, 3), np.uint8))   # a re-scan at another size
    bad(run("gray", odd, "-o", tmp_path / "g.mp4"), "scan_0086407.png", "is 70×50, where the first frame is 64×48")
    misused(run("gray", make_video("in.mp4"), "--fps", "25", "-o", tmp_path / "g.mp4"), "--fps",
            "only for image sequences")
    misused(run("gray", tmp_path / "whole", "--fps", "fast", "-o", tmp_path / "g.mp4"), "--fps", "not a frame rate")


def test_a_resumed_run_sees_a_sequence_change(tmp_path):
    folder = scans(tmp_path / "scans", frames=4)
    before = video_sha256(image_sequence(str(folder)))
    assert video_sha256(image_sequence(str(folder))) == before
    assert video_sha256(image_sequence(str(folder), Fraction(25))) != before          # its timing
    assert cv2.imwrite(str(folder / "scan_0086402.png"), np.zeros((48, 64, 3), np.uint8))  # a frame re-scanned
    assert video_sha256(image_sequence(str(folder))) != before
    assert probe(image_sequence(str(folder))).frame_count == 4


def test_keys_may_keep_the_names_of_the_scans_they_were_painted_on(tmp_path, tiny_color_weights):
    folder = scans(tmp_path / "scans", frames=11)
    by_index, by_scan = tmp_path / "by_index", tmp_path / "by_scan"
    by_index.mkdir(), by_scan.mkdir()
    for i in (0, 5, 10):
        painted = pattern(i, 64, 48)
        painted[..., 2] = 200                                       # a colour the frames do not have
        cv2.imwrite(str(by_index / f"{i:05d}.png"), painted[..., ::-1])
        cv2.imwrite(str(by_scan / f"scan_{86400 + i:07d}.png"), painted[..., ::-1])
    outputs = []
    for keys in (by_index, by_scan):
        outputs.append(tmp_path / f"{keys.name}.mkv")
        result = run("colorize", folder, "--keys", keys, "--interval", "5", "--weights", tiny_color_weights,
                     "-o", outputs[-1], "--lossless", "-q")
        assert result.exit_code == 0, result.output
    assert [f.rgb.tolist() for f in read_frames(outputs[0])] == [f.rgb.tolist() for f in read_frames(outputs[1])]
    cv2.imwrite(str(by_scan / "scan_0086399.png"), pattern(0, 64, 48))
    bad(run("colorize", folder, "--keys", by_scan, "--weights", tiny_color_weights, "-o", tmp_path / "x.mp4"),
        "scan_0086399.png", "numbered before the sequence's first file, scan_0086400.png")


def test_eval_seg_on_the_davis_layout_of_jpeg_frames(tmp_path, tiny_seg_weights):
    # DAVIS ships JPEGImages/480p/<video>/00000.jpg ... and Annotations/480p/<video>/00000.png ...
    frames = tmp_path / "JPEGImages" / "square"
    truth = tmp_path / "Annotations" / "square"
    frames.mkdir(parents=True), truth.mkdir(parents=True)
    for i in range(8):
        assert cv2.imwrite(str(frames / f"{i:05d}.jpg"), square_frame(i, *SIZE)[..., ::-1])
        save_palette(truth / f"{i:05d}.png", square_labels(i))
    lossless = tmp_path / "square.mkv"       # the same decoded frames as a video, to score against
    with VideoWriter(lossless, probe(image_sequence(str(frames))), lossless=True) as writer:
        for frame in read_frames(image_sequence(str(frames))):
            writer.write(frame, frame.rgb)
    scores = []
    for video in (frames, lossless):
        result = run("eval", "seg", video, "--masks", truth, "--weights", tiny_seg_weights, "--no-grabcut",
                     "--json", tmp_path / "r.json", "-q")
        assert result.exit_code == 0, result.output
        scores.append(json.loads((tmp_path / "r.json").read_text())["results"])
    assert scores[0] == scores[1] and scores[0]["flow"]["frames"] == 7


@pytest.mark.parametrize("command", [["gray"], ["colorize", "--interval", "5", "--workers", "2"]])
def test_the_sound_of_a_sequence_goes_into_its_video(tmp_path, tiny_color_weights, command):
    folder, wav = scans(tmp_path / "scans"), write_sound(tmp_path / "track.wav")
    if command[0] == "colorize":
        assert run("keys", folder, "--interval", "5", "-o", tmp_path / "keys", "-q").exit_code == 0
        command += ["--keys", tmp_path / "keys", "--weights", tiny_color_weights]
    out = tmp_path / "out.mkv"
    result = run(*command, folder, "--audio", wav, "-o", out, "-q")
    assert result.exit_code == 0, result.output
    assert [digest for digest, _ in packets(out)[1]] == [digest for digest, _ in packets(wav)[1]]  # bit for bit
    assert packets(out)[1][0][1] == 0                                        # from the first frame on
    assert len(list(read_frames(out))) == 12


def test_a_sound_that_cannot_be_used(tmp_path, make_video):
    folder = scans(tmp_path / "scans")
    bad(run("gray", folder, "--audio", tmp_path / "none.wav", "-o", tmp_path / "g.mp4"), "none.wav",
        "no such sound file")
    bad(run("gray", folder, "--audio", folder / "scan_0086400.png", "-o", tmp_path / "g.mp4"), "scan_0086400.png",
        "holds no audio stream")
    misused(run("gray", make_video("in.mp4"), "--audio", write_sound(tmp_path / "t.wav"), "-o", tmp_path / "g.mp4"),
            "--audio", "only for image sequences")


def test_frames_written_by_a_pattern_keep_the_scans_numbers(tmp_path, tiny_color_weights, tiny_seg_weights,
                                                            make_video):
    folder = scans(tmp_path / "scans", frames=6, content=square_frame, size=SIZE)
    assert run("keys", folder, "--interval", "5", "-o", tmp_path / "keys", "-q").exit_code == 0
    graded = tmp_path / "graded"
    graded.mkdir()
    (graded / "notes.txt").write_text("kept")                     # a folder of the user's: only our files go in
    result = run("colorize", folder, "--keys", tmp_path / "keys", "--interval", "5", "--weights",
                 tiny_color_weights, "--workers", "2", "-o", graded / "graded_%07d.png", "-q")
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(graded)) == [f"graded_{86400 + i:07d}.png" for i in range(6)] + ["notes.txt"]
    mask = save_palette(tmp_path / "first.png", square_labels(0))
    result = run("segment", folder, "--mask", mask, "--weights", tiny_seg_weights, "-o", graded / "matte.####.png",
                 "--alpha", graded / "rgba_####.png", "-q")
    assert result.exit_code == 0, result.output
    names = os.listdir(graded)
    assert sorted(n for n in names if n.startswith("matte.")) == [f"matte.{86400 + i}.png" for i in range(6)]
    assert sorted(n for n in names if n.startswith("rgba_")) == [f"rgba_{86400 + i}.png" for i in range(6)]
    # from a video, numbered from 0; the pattern's files must be the kind the command writes
    assert run("gray", make_video("in.mp4", frames=3), "-o", tmp_path / "g" / "g_###.png", "-q").exit_code == 0
    assert sorted(os.listdir(tmp_path / "g")) == ["g_000.png", "g_001.png", "g_002.png"]
    bad(run("gray", folder, "-o", tmp_path / "g" / "g_%03d.jpg"), "g_%03d.jpg",
        "the pattern must end in .png, .tif, .tiff or .dpx")
    bad(run("segment", folder, "--mask", mask, "--weights", tiny_seg_weights, "-o", graded / "matte.####.png"),
        "already holds PNG files")


def test_hdr_frames_by_a_pattern(tmp_path, hdr_clip, tiny_hdr_weights):
    video, _, keys = hdr_clip
    out, hdr10 = tmp_path / "exr" / "plate_%04d.exr", tmp_path / "hdr10.mp4"
    result = run("hdr", video, "--hdr-keys", keys, "--interval", 6, "-o", out, "--hdr10", hdr10,
                 "--weights", tiny_hdr_weights, "-q")
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(tmp_path / "exr")) == [f"plate_{i:04d}.exr" for i in range(12)]
    assert len(list(read_frames(hdr10))) == 12           # the HDR10 video is made from the frames so named


def test_keys_exported_as_the_scans_and_at_their_depth(tmp_path, tiny_color_weights):
    folder = tmp_path / "scans"
    folder.mkdir()
    for i in range(11):      # 16-bit scans: a coloured ramp finer than 8-bit steps
        ramp = (np.linspace(20000, 20600, 64)[None, :, None] + 40 * i) * np.array([0.5, 0.8, 1.2]) + np.zeros((48, 1, 3))
        assert cv2.imwrite(str(folder / f"scan_{86400 + i:07d}.png"), ramp.astype(np.uint16))
    keys = tmp_path / "keys"
    result = run("keys", folder, "--interval", "5", "-o", keys / "scan_%07d.png")
    assert result.exit_code == 0, result.output
    assert f"--keys {keys} " in result.output                   # the folder the keys went to
    assert sorted(os.listdir(keys)) == ["scan_0086400.png", "scan_0086405.png", "scan_0086410.png"]
    key = cv2.imread(str(keys / "scan_0086405.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(key, cv2.imread(str(folder / "scan_0086405.png"), cv2.IMREAD_UNCHANGED))
    # named as the scans, the keys are read back at their frames: every one --interval 5 asks for is there
    result = run("colorize", folder, "--keys", keys, "--interval", "5", "--weights", tiny_color_weights,
                 "-o", tmp_path / "c.mkv", "--lossless", "-q")
    assert result.exit_code == 0, result.output
    assert len(list(read_frames(tmp_path / "c.mkv"))) == 11
