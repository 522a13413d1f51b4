import os
import warnings
from fractions import Fraction

import av
import numpy as np
import pytest
from av.video.reformatter import Colorspace

from vprop.errors import InputError
from vprop.io.video import VideoWriter, probe, read_frames

VFR_PTS = [0, 40, 120, 130, 200, 260, 300, 400, 410, 420, 500, 600,
           650, 700, 720, 800, 900, 950, 960, 1000, 1100, 1150, 1200, 1300]


def copy_video(source, output, **options):
    info = probe(source)
    with VideoWriter(output, info, **options) as writer:
        for frame in read_frames(source):
            writer.write(frame, frame.rgb)
    return output


def times(path):
    return [frame.pts * frame.time_base for frame in read_frames(path)]


def audio(path):
    """(codec name, duration in seconds) of the first audio stream."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return stream.codec_context.name, stream.duration * stream.time_base


def test_probe_reports_the_video(make_video):
    info = probe(make_video(frames=10, size=(64, 48), rate=24))
    assert (info.width, info.height, info.fps, info.frame_count) == (64, 48, 24, 10)
    assert (info.rotation, info.has_audio, info.codec) == (0, False, "h264")


def test_frames_come_one_at_a_time_in_order(make_video):
    frames = read_frames(make_video(frames=5))
    first = next(frames)
    assert first.index == 0 and first.rgb.shape == (48, 64, 3) and first.rgb.dtype == np.uint8
    assert [f.index for f in frames] == [1, 2, 3, 4]


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_round_trip_keeps_frame_count_and_timestamps(make_video, tmp_path, suffix):
    source = make_video(frames=30)
    output = copy_video(source, tmp_path / f"out{suffix}")
    # Matroska stores milliseconds; MP4/MOV keep the source time base exactly.
    tolerance = Fraction(1, 1000) if suffix == ".mkv" else 0
    assert len(times(output)) == 30
    assert all(abs(a - b) <= tolerance for a, b in zip(times(output), times(source)))
    assert probe(output).fps == 24


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_variable_frame_rate_timestamps_survive(make_video, tmp_path, suffix):
    source = make_video(pts=VFR_PTS, time_base=Fraction(1, 1000))
    assert times(source) == [Fraction(p, 1000) for p in VFR_PTS]
    output = copy_video(source, tmp_path / f"out{suffix}")
    assert times(output) == [Fraction(p, 1000) for p in VFR_PTS]


def test_mkv_frame_count_is_counted_from_its_packets(make_video, tmp_path):
    output = copy_video(make_video(frames=6), tmp_path / "out.mkv")
    with av.open(str(output)) as container:
        assert container.streams.video[0].frames == 0      # Matroska does not say
    assert probe(output).frame_count == 6
    assert sum(1 for _ in read_frames(output)) == 6


def test_an_avi_whose_header_counts_dropped_frames_is_counted_by_its_frames(make_video):
    # AVI is constant-rate: a gap in the timestamps is muxed as empty chunks, which its header counts as frames.
    video = make_video("gaps.avi", frames=12, pts=[0, 2, 3, 5, 8, 9, 11, 14, 15, 17, 20, 22],
                       time_base=Fraction(1, 24))
    with av.open(str(video)) as container:
        assert container.streams.video[0].frames > 12
    assert probe(video).frame_count == sum(1 for _ in read_frames(video)) == 12


def test_audio_is_copied_unchanged(make_video, tmp_path):
    source = make_video(frames=24, audio="aac")
    output = copy_video(source, tmp_path / "out.mp4")
    (codec, seconds), (_, source_seconds) = audio(output), audio(source)
    assert codec == "aac" and abs(seconds - source_seconds) <= Fraction(1, 24)
    with av.open(str(source)) as a, av.open(str(output)) as b:
        payload = [bytes(p) for p in a.demux(audio=0) if p.size]
        assert [bytes(p) for p in b.demux(audio=0) if p.size] == payload  # remuxed, not re-encoded


@pytest.mark.parametrize("existing", [False, True])
def test_png_directory_output(make_video, tmp_path, existing):
    source = make_video(frames=12)
    folder = tmp_path / "frames"
    if existing:
        folder.mkdir()
        (folder / "notes.txt").write_text("mine")
    copy_video(source, str(folder) + ("" if existing else "/"))
    names = sorted(os.listdir(folder))
    assert [n for n in names if n.endswith(".png")] == [f"{i:05d}.png" for i in range(12)]
    if existing:
        assert (folder / "notes.txt").read_text() == "mine"
    assert not [n for n in os.listdir(tmp_path) if "partial" in n]
    import cv2
    first = next(read_frames(source)).rgb
    assert np.array_equal(cv2.imread(str(folder / "00000.png"))[..., ::-1], first)


def test_lossless_mkv_is_exact(make_video, tmp_path):
    rng = np.random.default_rng(0)
    source = make_video(frames=4)
    noise = rng.integers(0, 256, (4, 48, 64, 3), dtype=np.uint8)
    with VideoWriter(tmp_path / "out.mkv", probe(source), lossless=True) as writer:
        for frame in read_frames(source):
            writer.write(frame, noise[frame.index])
    back = list(read_frames(tmp_path / "out.mkv"))
    assert len(back) == 4
    assert all(np.array_equal(f.rgb, noise[f.index]) for f in back)


@pytest.mark.parametrize("output", ["out.mp4", "frames/"])
def test_failed_write_leaves_nothing(make_video, tmp_path, output):
    source = make_video(frames=5)
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(f"{tmp_path}/{output}", probe(source)) as writer:
            for frame in read_frames(source):
                writer.write(frame, frame.rgb)
                if frame.index == 3:
                    raise RuntimeError("boom")
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]


def test_output_must_not_be_the_input(make_video, tmp_path):
    source = make_video()
    info = probe(source)
    for same in (source, tmp_path / "." / "in.mp4"):
        with pytest.raises(InputError, match="overwrite the input"):
            VideoWriter(same, info)
    os.link(source, tmp_path / "alias.mp4")
    with pytest.raises(InputError, match="overwrite the input"):
        VideoWriter(tmp_path / "alias.mp4", info)
    assert probe(source).frame_count == 24


def test_bad_output_paths_are_input_errors(make_video, tmp_path):
    info = probe(make_video(frames=2))
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="cannot create output directory"):
        VideoWriter(tmp_path / "file" / "out.mp4", info)
    with pytest.raises(InputError, match="unsupported output type '.avi'"):
        VideoWriter(tmp_path / "out.avi", info)
    with pytest.raises(InputError, match="lossless output needs .mkv"):
        VideoWriter(tmp_path / "out.mp4", info, lossless=True)


def test_truncated_video_gives_the_decodable_frames_and_warns(make_video, tmp_path):
    noise = np.random.default_rng(1).integers(0, 256, (48, 128, 3), dtype=np.uint8)
    source = make_video(frames=48, size=(128, 48), options={"movflags": "faststart"},
                        content=lambda i, w, h: np.roll(noise, 7 * i, axis=1))
    cut = tmp_path / "cut.mp4"
    data = source.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    with pytest.warns(UserWarning, match="cut.mp4: damaged or truncated"):
        count = sum(1 for _ in read_frames(cut))
    assert 0 < count < 48


def test_video_without_any_decodable_frame_is_an_input_error(make_video, tmp_path):
    data = make_video(frames=48, options={"movflags": "faststart"}).read_bytes()
    cut = tmp_path / "stub.mp4"
    cut.write_bytes(data[:600])
    with pytest.raises(InputError, match="stub.mp4"):
        list(read_frames(cut))


def test_text_file_named_mp4_is_not_a_video(tmp_path):
    fake = tmp_path / "in.mp4"
    fake.write_text("hello, I am not a video\n" * 20)
    for call in (probe, lambda p: list(read_frames(p))):
        with pytest.raises(InputError) as error:
            call(fake)
        assert str(error.value).startswith(f"{fake}: not a video file")
        assert "\n" not in str(error.value)
    with pytest.raises(InputError, match="no such file"):
        probe(tmp_path / "missing.mp4")


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = tmp_path / "sound.m4a"
    with av.open(str(path), "w") as out:
        sound = out.add_stream("aac", rate=48000, layout="mono")
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                           layout="mono")
        chunk.sample_rate, chunk.pts = 48000, 0
        out.mux(sound.encode(chunk))
        out.mux(sound.encode(None))
    with pytest.raises(InputError, match=r"not a video file \(no video stream\)"):
        probe(path)


FLAT = [(200, 30, 90), (20, 180, 60), (128, 128, 128), (250, 240, 10)]


@pytest.mark.parametrize("colour", [
    None,  # untagged
    {"colorspace": 1, "color_range": 1, "sws": Colorspace.ITU709},
    {"colorspace": 6, "color_range": 1, "sws": Colorspace.ITU601},
    {"colorspace": 1, "color_range": 2, "sws": Colorspace.ITU709},
], ids=["untagged", "bt709", "bt601", "bt709-full"])
def test_colours_do_not_shift(make_video, tmp_path, colour):
    def flat(i, w, h):
        return np.full((h, w, 3), FLAT[i % len(FLAT)], np.uint8)
    source = make_video(frames=8, content=flat, colour=colour)
    for frame in read_frames(source):  # decoding honours the tags
        assert np.abs(frame.rgb.astype(int) - FLAT[frame.index % 4]).mean() < 3
    output = copy_video(source, tmp_path / "out.mp4")
    for frame in read_frames(output):  # and so does encoding
        assert np.abs(frame.rgb.astype(int) - FLAT[frame.index % 4]).mean() < 3
    if colour:
        info = probe(output)
        assert (info.colorspace, info.color_range) == (colour["colorspace"], colour["color_range"])


def test_rotation_is_applied_on_decode(make_video, tmp_path):
    plain = make_video("plain.mp4", frames=3)
    turned = make_video("turned.mp4", frames=3, rotation=90)
    info = probe(turned)
    assert (info.rotation, info.width, info.height) == (90, 48, 64)
    for a, b in zip(read_frames(plain), read_frames(turned)):
        assert np.array_equal(np.rot90(a.rgb), b.rgb)  # same bitstream, so exactly equal
    output = copy_video(turned, tmp_path / "out.mp4")
    info = probe(output)   # stored sideways like the source, with its display matrix
    assert (info.rotation, info.width, info.height) == (90, 48, 64)
    upright = np.rot90(next(read_frames(plain)).rgb).astype(int)
    assert np.abs(next(read_frames(output)).rgb - upright).mean() < 3


def test_write_checks_frame_shape(make_video, tmp_path):
    source = make_video(frames=1)
    with VideoWriter(tmp_path / "out.mp4", probe(source)) as writer:
        frame = next(read_frames(source))
        with pytest.raises(ValueError, match="expected uint8"):
            writer.write(frame, frame.rgb.astype(np.float32))
        writer.write(frame, frame.rgb)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list(read_frames(tmp_path / "out.mp4"))) == 1


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif", ".webp", ".gif"])
def test_a_still_image_is_not_a_video(tmp_path, suffix):
    """FFmpeg opens an image as a one-frame video; taken as one, a key-frame given where the video goes
    failed later with "key index 30 is beyond the video's end"."""
    import cv2
    from PIL import Image

    image = tmp_path / f"00030{suffix}"
    rgb = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    if suffix == ".gif":
        Image.fromarray(rgb).save(image)
    else:
        cv2.imwrite(str(image), rgb)
    for opened in (probe, lambda p: next(read_frames(p))):
        with pytest.raises(InputError, match=r"00030\.\w+: is a still image \(\w+\), not a video file"):
            opened(image)


def test_an_animated_gif_is_a_video(tmp_path):
    from PIL import Image

    frames = [Image.fromarray(np.full((48, 64, 3), 40 * i, np.uint8)) for i in range(4)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    assert len(list(read_frames(tmp_path / "anim.gif"))) == 4
