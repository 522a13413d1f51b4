"""`vprop hdr`, `vprop hdr-merge` and `vprop eval hdr` end to end through click."""
import shutil
import struct

import av
import cv2
import numpy as np
import OpenEXR
import pytest
from av.sidedata.sidedata import Type as SideDataType

from support.cli import bad, run
from support.media import need_encoder, packets
from vprop.io.images import read_exr, write_exr
from vprop.io.video import probe, read_frames
from vprop.tasks.hdr import auto_exposure, log_rmse


def test_hdr_end_to_end(tmp_path, hdr_clip, tiny_hdr_weights):
    video, hdr_dir, keys = hdr_clip
    out = tmp_path / "out"
    result = run("hdr", video, "--hdr-keys", keys, "--interval", 6, "-o", out, "--weights", tiny_hdr_weights, "-q")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"{i:05d}.exr" for i in range(12)]
    channels = OpenEXR.File(str(out / "00003.exr"), separate_channels=True).channels()
    assert {k: v.pixels.dtype for k, v in channels.items()} == {c: np.float16 for c in "RGB"}
    frames = [read_exr(out / n) for n in names]
    truth = [read_exr(hdr_dir / n) for n in names]
    # key frames come back as the keys (half-float precision); the others are real HDR, near the truth
    assert log_rmse(frames[6], truth[6]) < 0.01
    assert max(f.max() for f in frames) > 50
    assert np.mean([log_rmse(f, t) for f, t in zip(frames, truth)]) < 0.5
    assert not list(tmp_path.glob(".*partial*"))


def test_the_measured_rule_changes_only_the_dark_pixels(tmp_path, panorama, tiny_hdr_weights):
    from vprop.training.synthetic_hdr import CameraPath, hdr_frames, write_clip

    path = CameraPath(frames=8, size=(64, 48), pan=(1.5, 0.2), zoom=0.004, rotate=0.2, scale=1.0)
    dim = auto_exposure(list(hdr_frames(panorama, path))) / 30      # an underexposed clip: much of it dark
    video, hdr_dir = write_clip(panorama, tmp_path / "clip", path, exposure=dim)
    keys = tmp_path / "keys"
    keys.mkdir()
    for i in (0, 6):
        shutil.copy(hdr_dir / f"{i:05d}.exr", keys / f"{i:05d}.exr")
    outs = {}
    for rule in ("clipped", "measured"):
        outs[rule] = tmp_path / rule
        result = run("hdr", video, "--hdr-keys", keys, "--interval", 6, "-o", outs[rule], "--weights",
                     tiny_hdr_weights, "--blend-rule", rule, "-q")
        assert result.exit_code == 0, result.output
    changed = 0
    for frame in read_frames(video):
        a, b = (read_exr(outs[rule] / f"{frame.index:05d}.exr") for rule in outs)
        dark = frame.rgb <= 8
        assert np.array_equal(a[~dark], b[~dark])
        changed += int((a[dark] != b[dark]).sum())
    assert changed > 0


def test_no_blend_preview_and_hdr10(tmp_path, hdr_clip, tiny_hdr_weights):
    video, _, keys = hdr_clip
    out, preview, hdr10 = tmp_path / "o", tmp_path / "preview.mp4", tmp_path / "hdr10.mp4"
    result = run("hdr", video, "--keys", keys, "-o", out, "--no-blend", "--mode", "online", "--preview", preview,
                 "--hdr10", hdr10, "--weights", tiny_hdr_weights, "-q")
    assert result.exit_code == 0, result.output
    with av.open(str(preview)) as c:
        assert len([f for f in c.decode(video=0)]) == 12
    with av.open(str(hdr10)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "hevc"
        assert s.codec_tag == "hvc1"
        frames = list(c.decode(s))
        assert len(frames) == 12
        assert frames[0].format.name.startswith("yuv420p10")
        assert int(frames[0].color_trc) == 16 and int(frames[0].color_primaries) == 9
        # by type: PyAV 18.1.1 iterates a frame's side data by its types, 18.1.0 by its entries
        level = frames[0].side_data.get(SideDataType.CONTENT_LIGHT_LEVEL)
    # MaxCLL/MaxFALL (content light level SEI) are those of the EXR frames written
    from vprop.io.hdr_video import hdr10_nits, light_levels
    assert level is not None
    expected = light_levels(hdr10_nits(read_exr(p)) for p in sorted(out.iterdir()))
    assert struct.unpack("<II", bytes(level)) == expected
    assert 0 < expected[1] <= expected[0] <= 10000


def test_light_levels():
    from vprop.io.hdr_video import hdr10_nits, light_levels, pq_encode

    frame = np.zeros((4, 4, 3), np.float32)
    frame[0, 0] = 10.0
    cll, fall = light_levels([hdr10_nits(frame, 100.0)])
    assert 990 <= cll <= 1001 and fall == pytest.approx(1000 / 16, abs=2)
    assert pq_encode(np.float32(10000)) == pytest.approx(1.0, abs=1e-5)
    assert pq_encode(np.float32(100)) == pytest.approx(0.508, abs=0.002)


def test_hlg_holds_the_exr_frames(tmp_path, hdr_clip, tiny_hdr_weights):
    from vprop.io.hdr_video import _BT709_TO_BT2020, hlg_decode, hlg_encode, hlg_light

    video, _, keys = hdr_clip
    out, hlg = tmp_path / "o", tmp_path / "hlg.mp4"
    result = run("hdr", video, "--keys", keys, "-o", out, "--hlg", hlg, "--weights", tiny_hdr_weights, "-q")
    assert result.exit_code == 0, result.output
    with av.open(str(hlg)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "hevc" and s.codec_tag == "hvc1"
        frames = list(c.decode(s))
    assert len(frames) == 12 and frames[0].format.name.startswith("yuv420p10")
    assert int(frames[0].color_trc) == 18 and int(frames[0].color_primaries) == 9     # ARIB STD-B67, BT.2020
    for frame, exr in zip(frames, sorted(out.iterdir())):
        # decoded (by the frame's own BT.2020 tags), the signal's scene light is the EXR frame's, within what 10 bits,
        # 4:2:0 and the codec leave (1.8% of the mean here; a PQ signal read as HLG is off by about 30%)
        light = hlg_decode(frame.to_ndarray(format="rgb48le") / 65535.0)
        expected = hlg_light(read_exr(exr))
        assert np.abs(light - expected).mean() < 0.03 * expected.mean() + 1e-3
    # the OETF's fixed points (BT.2100): 1/12 of the peak at half signal, the peak at full signal
    assert hlg_encode(np.float32(1 / 12)) == pytest.approx(0.5, abs=1e-6)
    assert hlg_encode(np.float32(1.0)) == pytest.approx(1.0, abs=1e-6)
    x = np.linspace(0, 1, 101, dtype=np.float32)
    np.testing.assert_allclose(hlg_decode(hlg_encode(x)), x, atol=1e-6)
    # scene-linear 1.0 is the HLG reference white, 75% signal
    assert hlg_encode(hlg_light(np.ones((1, 1, 3), np.float32))) == pytest.approx(0.75, abs=1e-5)
    assert np.allclose(_BT709_TO_BT2020.sum(1), 1, atol=1e-3)


def test_an_hdr_video_its_container_cannot_hold_is_refused_before_any_work(tmp_path, hdr_clip, tiny_hdr_weights):
    video, _, keys = hdr_clip
    for option in ("--hlg", "--hdr10"):
        out = tmp_path / f"o{option}"
        result = run("hdr", video, "--keys", keys, "-o", out, option, tmp_path / "x.avi", "--weights",
                     tiny_hdr_weights, "-q")
        bad(result, "x.avi", "must be .mp4, .mov or .mkv")
        assert not out.exists()


def test_one_file_for_two_outputs_is_refused(tmp_path, hdr_clip, tiny_hdr_weights):
    video, _, keys = hdr_clip
    result = run("hdr", video, "--keys", keys, "-o", tmp_path / "o", "--preview", tmp_path / "v.mp4", "--hlg",
                 tmp_path / "v.mp4", "--weights", tiny_hdr_weights, "-q")
    bad(result, "v.mp4", "--preview and --hlg")
    assert not (tmp_path / "o").exists() and not (tmp_path / "v.mp4").exists()


def test_aces_keys_give_aces_frames_with_the_same_light(tmp_path, hdr_clip, tiny_hdr_weights):
    from vprop.io.chromaticities import to_bt709
    from vprop.io.images import exr_chromaticities

    video, _, keys = hdr_clip
    aces = (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767)
    aces_keys = tmp_path / "aces_keys"
    aces_keys.mkdir()
    for key in keys.iterdir():
        write_exr(aces_keys / key.name, read_exr(key), half=False, chromaticities=aces)
    outs = {}
    for name, folder in (("rec709", keys), ("aces", aces_keys)):
        outs[name] = tmp_path / name
        result = run("hdr", video, "--keys", folder, "-o", outs[name], "--weights", tiny_hdr_weights, "-q")
        assert result.exit_code == 0, result.output
    for frame in sorted(outs["aces"].iterdir()):
        assert exr_chromaticities(frame) == pytest.approx(aces, abs=1e-6)      # answered in the keys' primaries
        assert to_bt709(exr_chromaticities(outs["rec709"] / frame.name)) is None
        # read back (converted to BT.709), the same light as the run from the BT.709 keys
        rec709 = read_exr(outs["rec709"] / frame.name)
        assert np.abs(read_exr(frame) - rec709).max() <= 0.003 * rec709.max()


@pytest.fixture
def keys(tmp_path, hdr_clip):
    video, _, src = hdr_clip
    keys = tmp_path / "keys"
    shutil.copytree(src, keys)
    return video, keys


def test_truncated_exr(tmp_path, keys, tiny_hdr_weights):
    video, k = keys
    data = (k / "00006.exr").read_bytes()
    (k / "00006.exr").write_bytes(data[: len(data) // 2])
    bad(run("hdr", video, "--keys", k, "-o", tmp_path / "o", "--weights", tiny_hdr_weights), "00006.exr", "EXR")
    assert not (tmp_path / "o").exists()


def test_exr_without_rgb(tmp_path, keys, tiny_hdr_weights):
    video, k = keys
    z = np.ones((48, 64), np.float32)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {"Z": z}).write(str(k / "00006.exr"))
    bad(run("hdr", video, "--keys", k, "-o", tmp_path / "o", "--weights", tiny_hdr_weights), "00006.exr", "no RGB")


def test_nan_and_inf_pixels_are_sanitised_with_a_warning(tmp_path, keys, tiny_hdr_weights):
    video, k = keys
    rgb = read_exr(k / "00006.exr")
    rgb[0, 0, 0], rgb[1, 1] = np.nan, np.inf
    write_exr(k / "00006.exr", rgb, half=False)
    result = run("hdr", video, "--keys", k, "-o", tmp_path / "o", "--weights", tiny_hdr_weights)
    assert result.exit_code == 0, result.output
    assert "2 pixel(s) with NaN or Inf" in result.output
    assert all(np.isfinite(read_exr(p)).all() for p in (tmp_path / "o").iterdir())


def test_key_of_another_aspect(tmp_path, keys, tiny_hdr_weights):
    video, k = keys
    write_exr(k / "00006.exr", np.ones((10, 50, 3), np.float32))
    bad(run("hdr", video, "--keys", k, "-o", tmp_path / "o", "--weights", tiny_hdr_weights),
        "00006.exr", "does not match")


def test_key_of_another_size_same_aspect_is_resized(tmp_path, keys, tiny_hdr_weights):
    video, k = keys
    write_exr(k / "00006.exr", cv2.resize(read_exr(k / "00006.exr"), (128, 96)))
    result = run("hdr", video, "--keys", k, "-o", tmp_path / "o", "--weights", tiny_hdr_weights)
    assert result.exit_code == 0, result.output
    assert "resized" in result.output


def test_all_black_key(tmp_path, keys, tiny_hdr_weights):
    video, k = keys
    write_exr(k / "00006.exr", np.zeros((48, 64, 3), np.float32))
    bad(run("hdr", video, "--keys", k, "-o", tmp_path / "o", "--weights", tiny_hdr_weights), "00006.exr", "black")


def test_key_beyond_the_end_and_missing_interval(tmp_path, keys, tiny_hdr_weights):
    video, k = keys
    bad(run("hdr", video, "--keys", k, "--interval", 4, "-o", tmp_path / "o", "--weights", tiny_hdr_weights),
        "missing key-frames")
    shutil.copy(k / "00006.exr", k / "00050.exr")
    bad(run("hdr", video, "--keys", k, "-o", tmp_path / "o", "--weights", tiny_hdr_weights), "00050.exr", "beyond")


def test_colour_weights_are_refused(tmp_path, keys, tiny_color_weights):
    video, k = keys
    bad(run("hdr", video, "--keys", k, "-o", tmp_path / "o", "--weights", tiny_color_weights), "not 'hdr'")


def test_eval_hdr_prints_its_table(tmp_path, hdr_clip, tiny_hdr_weights):
    _, hdr_dir, _ = hdr_clip
    report, js = tmp_path / "report", tmp_path / "r.json"
    result = run("eval", "hdr", hdr_dir, "--interval", 4, 6, "--weights", tiny_hdr_weights, "--json", js,
                 "--report", report, "-q")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert "copy" in lines[1] and "flow" in lines[1] and "inverted-ldr" in lines[1] and "vprop" in lines[1]
    assert lines[2].split()[0] == "4" and lines[3].split()[0] == "6"
    import json
    data = json.loads(js.read_text())
    row = data["results"]["6"]
    assert row["copy"]["frames"] == 10
    # blending with the LDR helps the copied key; the inverted LDR alone is poor only in the highlights
    assert row["copy"]["rmse_blended"] < row["copy"]["rmse"]
    assert sorted(p.name for p in report.iterdir()) == [
        "hdr_K4_highlights.png", "hdr_K4_mid.png", "hdr_K6_highlights.png", "hdr_K6_mid.png"]


def test_eval_hdr_of_a_deeper_camera_scores_both_depths(tmp_path, hdr_clip, tiny_hdr_weights):
    _, hdr_dir, _ = hdr_clip
    js = tmp_path / "r.json"
    result = run("eval", "hdr", hdr_dir, "--interval", 6, "--bits", 10, "--weights", tiny_hdr_weights, "--json", js,
                 "--report", tmp_path / "report", "-q")
    assert result.exit_code == 0, result.output
    import json
    row = json.loads(js.read_text())["results"]["6"]
    assert {"vprop", "vprop at 8 bits", "inverted-ldr", "inverted-ldr at 8 bits"} <= set(row)
    # blended at 10 bits, vprop keeps the radiance more closely than at its 8-bit reading (0.0077 against 0.0125)
    assert row["vprop"]["rmse_blended"] < 0.8 * row["vprop at 8 bits"]["rmse_blended"]


def test_eval_hdr_bad_folder(tmp_path, tiny_hdr_weights):
    (tmp_path / "empty").mkdir()
    bad(run("eval", "hdr", tmp_path / "empty", "--interval", 4, "--weights", tiny_hdr_weights), "empty")


def _brackets(directory, radiance, times, sidecar=True):
    from vprop.tasks.hdr import CameraCurve, synthesize_ldr

    directory.mkdir()
    curve = CameraCurve(gamma=2.2)
    lines = []
    for i, t in enumerate(times):
        name = f"shot{i}.png"
        cv2.imwrite(str(directory / name), cv2.cvtColor(synthesize_ldr(radiance, t, curve), cv2.COLOR_RGB2BGR))
        lines.append(f"{name} {t}")
    if sidecar:
        (directory / "times.txt").write_text("\n".join(lines) + "\n")
    return directory


def test_hdr_merge_recovers_a_known_radiance(tmp_path):
    rng = np.random.default_rng(0)
    log_r = cv2.GaussianBlur(rng.normal(0, 1, (48, 64)).astype(np.float32), (0, 0), 3)
    log_r = (log_r - log_r.min()) / np.ptp(log_r) * np.log(1000.0)        # 3 decades
    radiance = np.exp(log_r)[..., None] * np.array([1.0, 0.8, 0.6], np.float32)
    brackets = _brackets(tmp_path / "b", radiance, [1 / 1000, 1 / 250, 1 / 60, 1 / 15, 1 / 4, 1.0])
    out = tmp_path / "key.exr"
    result = run("hdr-merge", brackets, "-o", out, "-q")
    assert result.exit_code == 0, result.output
    merged = read_exr(out)
    ratio = np.log(merged[..., 1] + 1e-6) - np.log(radiance[..., 1])
    ratio -= np.median(ratio)          # Debevec recovers radiance up to one global scale
    assert np.sqrt(np.mean(ratio**2)) < 0.2


def test_hdr_merge_bad_inputs(tmp_path):
    radiance = np.ones((8, 8, 3), np.float32)
    b = _brackets(tmp_path / "b", radiance, [0.1, 0.5], sidecar=False)
    bad(run("hdr-merge", b, "-o", tmp_path / "k.exr"), "exposure time")
    (b / "times.txt").write_text("shot0.png fast\n")
    bad(run("hdr-merge", b, "-o", tmp_path / "k.exr"), "times.txt", "line 1")
    bad(run("hdr-merge", tmp_path / "nope", "-o", tmp_path / "k.exr"), "nope")


def test_audio_rotation_and_timing_are_kept_in_preview_and_hdr10(tmp_path, make_video, tiny_hdr_weights):
    need_encoder("libmp3lame")
    # A phone clip: stored 64x48, shown upright 48x64, MP3 sound.
    video = make_video("talk.mp4", frames=10, size=(64, 48), audio="libmp3lame", rotation=90)
    keys = tmp_path / "keys"
    keys.mkdir()
    ramp = np.linspace(0.01, 20, 48, dtype=np.float32)[None, :, None] * np.ones((64, 1, 3), np.float32)
    write_exr(keys / "00000.exr", ramp)
    preview, hdr10 = tmp_path / "p.mp4", tmp_path / "h.mp4"
    result = run("hdr", video, "--keys", keys, "-o", tmp_path / "o", "--preview", preview, "--hdr10", hdr10,
                 "--weights", tiny_hdr_weights)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    source = probe(video)
    for path in (preview, hdr10):
        assert packets(path) == packets(video)
        info = probe(path)
        assert (info.rotation, info.display_matrix, info.width, info.height) == (90, source.display_matrix, 48, 64)
        assert [f.pts * f.time_base for f in read_frames(path)] == [f.pts * f.time_base for f in read_frames(video)]
        # The key's bright right edge is on the right of the upright picture.
        upright = next(read_frames(path)).rgb.astype(int)
        assert upright[:, -8:].mean() > upright[:, :8].mean() + 20


def test_radiance_hdr_keys(tmp_path, keys, tiny_hdr_weights):
    video, k = keys
    for exr in k.glob("*.exr"):
        cv2.imwrite(str(exr.with_suffix(".hdr")), cv2.cvtColor(read_exr(exr), cv2.COLOR_RGB2BGR))
        exr.unlink()
    result = run("hdr", video, "--keys", k, "--interval", 6, "-o", tmp_path / "o", "--weights", tiny_hdr_weights,
                 "--gamma", 2.2, "-q")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "o").glob("*.exr"))) == 12


def test_hdr_merge_warns_where_every_exposure_clipped(tmp_path):
    radiance = np.full((48, 64, 3), 0.05, np.float32)
    radiance[10:30, 10:40] = 500.0           # a lamp: 20x30 of 48x64 pixels, clipped even at 1/60 s
    brackets = _brackets(tmp_path / "b", radiance, [1 / 60, 1 / 15, 1 / 4])
    result = run("hdr-merge", brackets, "-o", tmp_path / "key.exr")
    assert result.exit_code == 0, result.output
    warning = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert warning == ["warning: b: 19.5% of the pixels are clipped in every exposure, even the shortest "
                       "(1/60 s): their radiance is unknown and merged too dark; add a shorter exposure"]
    brackets = _brackets(tmp_path / "b2", radiance, [1 / 60000, 1 / 15, 1 / 4])
    result = run("hdr-merge", brackets, "-o", tmp_path / "key2.exr")
    assert result.exit_code == 0 and "warning" not in result.output, result.output


def test_a_full_disk_while_writing_exr_frames_leaves_nothing(tmp_path, hdr_clip, tiny_hdr_weights):
    import os
    import resource
    import subprocess
    import sys
    from pathlib import Path

    video, _, keys = hdr_clip
    out = tmp_path / "out"

    def limit():     # Python ignores SIGXFSZ: a write past the limit fails as one to a full disk does
        resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))

    proc = subprocess.run(
        [sys.executable, "-c", "from vprop.cli import main; main()", "hdr", str(video), "--hdr-keys", str(keys),
         "-o", str(out), "--weights", str(tiny_hdr_weights), "-q"], preexec_fn=limit, capture_output=True,
        text=True, timeout=180, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: {out}: cannot write the EXR (File too large); no output written"], proc.stderr
    assert list(tmp_path.iterdir()) == []
