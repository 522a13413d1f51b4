"""`vprop segment` and `vprop eval seg` end to end through click, on good and made-up bad input."""
import json

import av

import cv2
import numpy as np
import pytest
from PIL import Image

from support.cli import bad, misused, run
from support.media import need_encoder, packets, write_video
from support.seg_media import SIZE, iou, save_palette, square_frame, square_labels
from vprop.io.images import read_mask


@pytest.fixture
def setup(tmp_path, square_video, tiny_seg_weights):
    labels = square_labels(0, label=2)
    labels[2:8, 50:60] = 9
    return tmp_path, square_video, save_palette(tmp_path / "frame0.png", labels), tiny_seg_weights


def segment(tmp, video, weights, *args):
    return run("segment", video, "-o", tmp / "out", "--weights", weights, "-q", *args)


def test_segment_writes_every_frame_with_the_palette_indices(setup):
    tmp, video, mask, weights = setup
    fixed = square_labels(5, label=2)
    fixed[2:8, 50:60] = 9
    fix = save_palette(tmp / "fix.png", fixed)        # two masks: both blended (offline) for frames 1-4
    # --no-grabcut: the still object (9) is a patch of the background, which a cut on colours would rightly drop
    result = segment(tmp, video, weights, "--mask", mask, "--mask", f"5:{fix}", "--overlay", tmp / "ov.mp4",
                     "--no-grabcut")
    assert result.exit_code == 0, result.output
    files = sorted((tmp / "out").iterdir())
    still = np.zeros_like(square_labels(0))
    still[2:8, 50:60] = 9
    assert [p.name for p in files] == [f"{i:05d}.png" for i in range(10)]
    with Image.open(files[3]) as image:
        assert image.mode == "P"
    assert set(np.unique(read_mask(files[0]))) == {0, 2, 9}
    third = read_mask(files[3])
    assert set(np.unique(third)) == {0, 2, 9}
    # the square moved 6 px from its key (a copied key scores 0.4) and the still object stayed put
    assert iou(third == 2, square_labels(3) > 0) > 0.75 and iou(third == 9, still > 0) > 0.9
    assert np.array_equal(read_mask(files[5]), fixed)
    with av.open(str(tmp / "ov.mp4")) as container:
        stream = container.streams.video[0]
        assert sum(1 for _ in container.decode(stream)) == 10 and (stream.width, stream.height) == SIZE
    assert not list(tmp.glob(".*partial*"))


@pytest.mark.parametrize("extra", [["--mode", "offline"], ["--chain"], ["--resume"]])
def test_segment_modes(setup, extra):
    tmp, video, mask, weights = setup
    result = segment(tmp, video, weights, "--mask", mask, *extra)
    assert result.exit_code == 0, result.output
    assert len(list((tmp / "out").iterdir())) == 10
    assert not list(tmp.glob("*.vprop-resume"))     # a completed run leaves no resume state


def test_empty_mask_warns(setup):
    tmp, video, mask, weights = setup
    empty = save_palette(tmp / "empty.png", np.zeros((48, 64), np.uint8))
    result = run("segment", video, "-o", tmp / "out", "--weights", weights, "--mask", empty)
    assert result.exit_code == 0, result.output
    assert "warning: empty.png: mask has no object" in result.output


def test_wrong_aspect_mask(setup):
    tmp, video, mask, weights = setup
    save_palette(tmp / "wide.png", np.zeros((10, 64), np.uint8))
    bad(segment(tmp, video, weights, "--mask", tmp / "wide.png"), "wide.png", "does not match")


def test_index_above_254(setup):
    tmp, video, mask, weights = setup
    labels = square_labels(0, label=3)
    labels[0, 0] = 255
    Image.fromarray(labels, "L").save(tmp / "big.png")
    bad(segment(tmp, video, weights, "--mask", tmp / "big.png"), "big.png", "above 254")


def test_not_an_image(setup):
    tmp, video, mask, weights = setup
    (tmp / "text.png").write_text("hello")
    bad(segment(tmp, video, weights, "--mask", tmp / "text.png"), "text.png", "not an image")


def test_missing_mask(setup):
    tmp, video, mask, weights = setup
    bad(segment(tmp, video, weights, "--mask", tmp / "nope.png"), "nope.png", "no such file")


def test_key_beyond_the_end(setup):
    tmp, video, mask, weights = setup
    bad(segment(tmp, video, weights, "--mask", mask, "--mask", f"40:{mask}"), "frame0.png", "beyond")
    assert not (tmp / "out").exists()


def test_missing_video(setup):
    tmp, video, mask, weights = setup
    bad(segment(tmp, tmp / "nope.mp4", weights, "--mask", mask), "nope.mp4")


def test_missing_weights(setup):
    tmp, video, mask, weights = setup
    bad(segment(tmp, video, tmp / "w.safetensors", "--mask", mask), "w.safetensors")


def test_colour_weights_are_refused(setup, tiny_color_weights):
    tmp, video, mask, weights = setup
    bad(segment(tmp, video, tiny_color_weights, "--mask", mask), "not 'seg'")


def test_output_is_a_file(setup):
    tmp, video, mask, weights = setup
    (tmp / "out").write_text("x")
    bad(segment(tmp, video, weights, "--mask", mask), "out", "not a directory")


def test_segment_snaps_masks_to_the_frame_unless_told_not_to(setup):
    tmp, video, _, weights = setup
    sloppy = cv2.dilate(square_labels(0, label=2), np.ones((5, 5), np.uint8))      # 2 px too wide all round
    key = save_palette(tmp / "sloppy.png", sloppy)
    scores = {}
    for flag in ("--grabcut", "--no-grabcut"):
        result = run("segment", video, "-o", tmp / flag, "--weights", weights, "-q", "--mask", key, flag)
        assert result.exit_code == 0, result.output
        assert np.array_equal(read_mask(tmp / flag / "00000.png"), sloppy)      # a key is kept as given
        scores[flag] = np.mean([iou(read_mask(tmp / flag / f"{i:05d}.png") == 2, square_labels(i) > 0)
                                for i in range(1, 10)])
    assert scores["--grabcut"] > scores["--no-grabcut"] + 0.1, scores


def test_segment_propagates_at_the_working_side_asked_for(setup, monkeypatch):
    import vprop.pipelines.segment as pipeline

    tmp, video, mask, weights = setup
    sides, real = [], pipeline.propagate_masks

    def recorded(*args, working_short_side=None, **kwargs):
        sides.append(working_short_side)
        return real(*args, working_short_side=working_short_side, **kwargs)
    monkeypatch.setattr(pipeline, "propagate_masks", recorded)
    outputs = {}
    for name, extra in [("default", []), ("side", ["--working-side", "24"]), ("full", ["--full-resolution"])]:
        result = run("segment", video, "-o", tmp / name, "--weights", weights, "-q", "--mask", mask, *extra)
        assert result.exit_code == 0, result.output
        outputs[name] = np.stack([read_mask(tmp / name / f"{i:05d}.png") for i in range(10)])
    assert sides == [240, 24, None]       # the tiny model's 240 is larger than the 64x48 frames: their own size
    assert np.array_equal(outputs["default"], outputs["full"])
    assert not np.array_equal(outputs["side"], outputs["full"])
    assert outputs["side"].shape == outputs["full"].shape
    misused(segment(tmp, video, weights, "--mask", mask, "--working-side", "24", "--full-resolution"),
            "give --working-side or --full-resolution, not both")


def test_usage_errors_exit_2(setup):
    tmp, video, mask, weights = setup
    misused(run("segment", video, "-o", tmp / "out"), "Missing option '--mask'")
    misused(segment(tmp, video, weights, "--mask", mask, "--mask", f"0:{mask}"), "--mask", "frame 0 is given twice")
    misused(segment(tmp, video, weights, "--mask", mask, "--chain", "--mode", "offline"),
            "--chain works online only (drop --mode offline)")


def test_eval_seg_prints_its_table_and_writes_json_and_report(tmp_path, square_video, tiny_seg_weights):
    masks = tmp_path / "gt"
    masks.mkdir()
    for i in range(10):
        save_palette(masks / f"{i:05d}.png", square_labels(i))
    result = run("eval", "seg", square_video, "--masks", masks, "--weights", tiny_seg_weights,
                 "--json", tmp_path / "r.json", "--report", tmp_path / "rep", "-q")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].split() == ["method", "J", "F", "J&F"]
    assert [l.split()[0] for l in lines[1:]] == ["copy", "flow", "flow+grabcut", "vprop", "vprop+grabcut",
                                                 "vprop+grabcut+memory"]
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["results"]["flow"]["J"] > data["results"]["copy"]["J"]
    assert data["results"]["flow"]["frames"] == 9
    # The 3 worst frames of the last row (the default), each a row of truth and the 6 methods: 320 wide cells of the
    # 64x48 video.
    assert cv2.imread(str(tmp_path / "rep" / "seg_worst_frames.png")).shape == (3 * 240, 7 * 320, 3)
    assert cv2.imread(str(tmp_path / "rep" / "seg_j_per_frame.png")).shape == (400, 640, 3)


def test_eval_seg_bad_masks_dir(tmp_path, square_video, tiny_seg_weights):
    bad(run("eval", "seg", square_video, "--masks", tmp_path / "none", "--weights", tiny_seg_weights),
        "none", "no such directory")


@pytest.mark.parametrize("target", ["matte.mov", "matte/"])
def test_segment_alpha_matte_for_compositing(setup, target):
    import av

    tmp, video, mask, weights = setup
    result = segment(tmp, video, weights, "--mask", mask, "--alpha", f"{tmp}/{target}")
    assert result.exit_code == 0, result.output
    labels = read_mask(tmp / "out" / "00000.png")
    if target.endswith("/"):
        files = sorted((tmp / "matte").iterdir())
        assert len(files) == 10
        rgba = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED)
        alphas = [rgba[..., 3]]
    else:
        with av.open(str(tmp / target)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "prores" and "yuva" in stream.format.name
            alphas = [f.to_ndarray(format="rgba")[..., 3] for f in container.decode(stream)]
        assert len(alphas) == 10
    assert np.array_equal(alphas[0] > 127, labels > 0)


def test_segment_alpha_needs_mov_or_directory(setup):
    tmp, video, mask, weights = setup
    bad(segment(tmp, video, weights, "--mask", mask, "--alpha", tmp / "matte.mp4"), "matte.mp4", "ProRes 4444")
    assert not (tmp / "out").exists()
    bad(segment(tmp, video, weights, "--mask", mask, "--overlay", tmp / "m.mov", "--alpha", tmp / "m.mov"), "m.mov",
        "--overlay and --alpha")
    assert not (tmp / "out").exists() and not (tmp / "m.mov").exists()


def test_overlay_and_alpha_keep_the_sound_bit_exact(setup):
    need_encoder("libmp3lame")
    tmp, _, mask, weights = setup
    video = write_video(tmp / "talk.mp4", frames=10, size=SIZE, content=square_frame, audio="libmp3lame")
    result = segment(tmp, video, weights, "--mask", mask, "--overlay", tmp / "ov.mp4", "--alpha", tmp / "matte.mov")
    assert result.exit_code == 0, result.output
    for path in (tmp / "ov.mp4", tmp / "matte.mov"):
        assert packets(path) == packets(video) and packets(path)[0] == "mp3"


def test_a_jpeg_mask(setup):
    tmp, video, mask, weights = setup
    Image.open(mask).convert("L").save(tmp / "frame0.jpg", quality=90)
    bad(segment(tmp, video, weights, "--mask", tmp / "frame0.jpg"), "frame0.jpg", "JPEG is lossy")


def test_eval_seg_with_a_key_every_k_frames_runs_offline_beside_both_keys_warped(tmp_path, square_video,
                                                                                  tiny_seg_weights):
    masks = tmp_path / "gt"
    masks.mkdir()
    for i in range(10):
        save_palette(masks / f"{i:05d}.png", square_labels(i))
    result = run("eval", "seg", square_video, "--masks", masks, "--interval", "4", "--weights", tiny_seg_weights,
                 "--json", tmp_path / "r.json", "-q")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["keys"] == [0, 4, 8] and data["mode"] == "offline"
    assert {"flow-2sided", "vprop+grabcut+memory"} <= set(data["results"])
    assert data["results"]["flow"]["frames"] == 7                       # the keys are not scored
    # both keys warped beat the preceding one warped: the square is always between its two keys' places
    assert data["results"]["flow-2sided"]["J"] >= data["results"]["flow"]["J"]
    result = run("eval", "seg", square_video, "--masks", masks, "--interval", "4", "--frames", "6", "--mode", "online",
                 "--weights", tiny_seg_weights, "--json", tmp_path / "o.json", "-q")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "o.json").read_text())
    assert data["keys"] == [0, 4] and data["mode"] == "online" and "flow-2sided" not in data["results"]
