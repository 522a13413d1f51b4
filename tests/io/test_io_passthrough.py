"""Audio, subtitles, tags and display matrix go from the source into every written video untouched.

Each test copies a tiny generated clip through VideoWriter (the layer every command writes with) and
compares packets: the bytes' hash and the presentation time of each, for bit-exact copies.
"""
import warnings
from fractions import Fraction

import av
import numpy as np
import pytest

from support.media import need_encoder, packets
from vprop.io.passthrough import holds
from vprop.io.video import VideoWriter, probe, read_frames

ENCODER = {"mp3": "libmp3lame", "aac": "aac", "opus": "libopus", "pcm_s16le": "pcm_s16le", "ac3": "ac3"}
# What this FFmpeg's muxers store as is. MP4 keeps PCM as ISO/IEC 23003-5 'ipcm';
# QuickTime has no Opus sample entry, so Opus going into .mov is re-encoded.
HELD = {".mp4": {"mp3", "aac", "opus", "pcm_s16le", "ac3"},
        ".mov": {"mp3", "aac", "pcm_s16le", "ac3"},
        ".mkv": set(ENCODER)}
# Sources: Matroska (holds every codec) and the output's own container where it holds the codec.
MATRIX = [(codec, source, output) for codec in ENCODER for output in HELD
          for source in dict.fromkeys([".mkv", output]) if codec in HELD[source]]


def copy_video(source, output):
    """Copy `source` through VideoWriter; returns the warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with VideoWriter(output, probe(source)) as writer:
            for frame in read_frames(source):
                writer.write(frame, frame.rgb)
    return [str(w.message) for w in caught]


def frame_times(path):
    return [frame.pts * frame.time_base for frame in read_frames(path)]


@pytest.mark.parametrize("codec, source_suffix, output_suffix", MATRIX)
def test_audio_is_copied_bit_exact_where_the_container_holds_it(make_video, tmp_path, codec, source_suffix,
                                                                 output_suffix):
    need_encoder(ENCODER[codec])
    source = make_video(f"in{source_suffix}", frames=24, audio=ENCODER[codec])
    output = tmp_path / f"out{output_suffix}"
    caught = copy_video(source, output)
    assert frame_times(output) == frame_times(source)
    if codec in HELD[output_suffix]:
        assert caught == []
        (name, got), (want_name, want) = packets(output), packets(source)
        assert name == want_name and [h for h, _ in got] == [h for h, _ in want]
        # Matroska stores milliseconds; MP4 and QuickTime count PCM in samples, so
        # from .mkv they give back the exact times the milliseconds were rounded from.
        tolerance = Fraction(1, 1000) if source_suffix != output_suffix and codec == "pcm_s16le" else 0
        assert all(abs(g - w) <= tolerance for (_, g), (_, w) in zip(got, want))
    else:
        assert len(caught) == 1
        assert f"in{source_suffix}: audio stream #1 ({codec}) cannot go into {output_suffix}" in caught[0]
        assert caught[0].endswith("re-encoded to AAC")
        name, got = packets(output)
        want = packets(source)[1]
        assert name == "aac"
        assert abs(got[-1][1] - want[-1][1]) < Fraction(1, 10)   # the sound lasts as long


def test_audio_the_container_refuses_is_reencoded_with_a_warning(make_video, tmp_path):
    need_encoder("libopus")
    source = make_video("in.mkv", frames=24, audio="libopus")
    with av.open(str(source)) as container:
        opus = container.streams.audio[0]
        assert (holds("mov", opus), holds("mp4", opus), holds("matroska", opus)) == (False, True, True)
    caught = copy_video(source, tmp_path / "out.mov")
    assert caught == ["in.mkv: audio stream #1 (opus) cannot go into .mov (the mov muxer does not take opus); "
                      "re-encoded to AAC"]
    assert packets(tmp_path / "out.mov")[0] == "aac"


@pytest.mark.parametrize("output_suffix", [".mp4", ".mkv"])
def test_mp3_in_mp4_stays_mp3(make_video, tmp_path, output_suffix):
    """The README's own case: MP4 holds MP3, so not one packet is re-encoded."""
    need_encoder("libmp3lame")
    source = make_video("in.mp4", frames=24, audio="libmp3lame")
    output = tmp_path / f"out{output_suffix}"
    assert copy_video(source, output) == []
    (codec, got), (_, want) = packets(output), packets(source)
    assert codec == "mp3" and [h for h, _ in got] == [h for h, _ in want]
    if output_suffix == ".mp4":
        assert got == want
    else:
        # Matroska cannot store the negative start of MP4's encoder delay: the muxer moves every
        # stream by the same amount, so sound and picture stay together (to Matroska's 1 ms).
        shift = got[0][1] - want[0][1]
        assert all(abs(g - w - shift) <= Fraction(1, 1000) for (_, g), (_, w) in zip(got, want))
        video_shift = frame_times(output)[0] - frame_times(source)[0]
        assert abs(video_shift - shift) <= Fraction(1, 1000)


SUBTITLES = [(0.1, 0.4, "Hello there"), (0.5, 0.9, "<i>Second</i> line")]


@pytest.mark.parametrize("output_suffix", [".mkv", ".mp4", ".mov"])
def test_subtitles_are_copied_or_converted_to_text_the_container_holds(make_video, tmp_path, output_suffix):
    source = make_video("in.mkv", frames=24, audio="aac", subtitles=SUBTITLES)
    output = tmp_path / f"out{output_suffix}"
    caught = copy_video(source, output)
    assert packets(output) == packets(source)      # the audio, whatever happens to the subtitles
    codec, got = packets(output, "subtitles")
    want = packets(source, "subtitles")[1]
    if output_suffix == ".mkv":
        assert caught == [] and codec == "subrip" and got == want
        return
    assert caught == [f"in.mkv: subtitle stream #2 (subrip) cannot go into {output_suffix} (the "
                      f"{output_suffix[1:]} muxer does not take subrip); converted to mov_text"]
    assert codec == "mov_text"
    # mov_text also marks the gaps between lines with empty cues; each line keeps its start.
    with av.open(str(output)) as container:
        cues = [(bytes(p)[2:], p.pts * p.time_base) for p in container.demux(subtitles=0) if p.size > 2]
    assert cues[0] == (b"Hello there", Fraction(1, 10))
    assert cues[1][0].startswith(b"Second line") and cues[1][1] == Fraction(1, 2)


TAGS = {"container": {"title": "Holiday"},
        "video": {"language": "fra", "title": "Main camera"},
        "audio": {"language": "eng", "title": "Commentary"}}


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_language_and_title_tags_are_kept(make_video, tmp_path, suffix):
    source = make_video(f"in{suffix}", frames=6, audio="aac", tags=TAGS)
    output = tmp_path / f"out{suffix}"
    copy_video(source, output)

    def tags(path):
        with av.open(str(path)) as container:
            streams = {s.type: s for s in container.streams}
            return ({k: container.metadata.get(k) for k in TAGS["container"]},
                    {kind: {k: streams[kind].metadata.get(k) for k in TAGS[kind]} for kind in ("video", "audio")})

    assert tags(output) == tags(source)
    assert tags(output)[1]["audio"]["language"] == "eng"


@pytest.mark.parametrize("rotation", [90, 270])
@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_display_rotation_is_kept(make_video, tmp_path, rotation, suffix):
    source = make_video(f"turned{suffix}", frames=4, rotation=rotation, audio="aac")
    output = tmp_path / f"out{suffix}"
    assert copy_video(source, output) == []
    before, after = probe(source), probe(output)
    assert (after.rotation, after.display_matrix, after.width, after.height) == \
           (rotation, before.display_matrix, 48, 64)
    for a, b in zip(read_frames(source), read_frames(output)):
        assert a.rgb.shape == b.rgb.shape and np.abs(a.rgb.astype(int) - b.rgb).mean() < 3
    assert packets(output) == packets(source)


VFR_PTS = [0, 40, 120, 130, 200, 260, 300, 400, 410, 420, 500, 600]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_variable_frame_rate_keeps_every_timestamp_and_the_sound(make_video, tmp_path, suffix):
    source = make_video(f"in{suffix}", pts=VFR_PTS, time_base=Fraction(1, 1000), frames=len(VFR_PTS), audio="aac")
    output = tmp_path / f"out{suffix}"
    assert copy_video(source, output) == []
    assert frame_times(output) == frame_times(source) == [Fraction(p, 1000) for p in VFR_PTS]
    assert packets(output) == packets(source)


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_video_that_starts_after_its_audio_stays_in_sync(make_video, tmp_path, suffix):
    # Picture from 0.5 s, sound from 0 s: the gap must survive, or lips move before the words.
    source = make_video(f"in{suffix}", frames=24, pts=list(range(12, 36)), time_base=Fraction(1, 24), audio="aac")
    assert frame_times(source)[0] == Fraction(1, 2)
    output = tmp_path / f"out{suffix}"
    assert copy_video(source, output) == []
    assert frame_times(output) == frame_times(source)
    assert packets(output) == packets(source)
    assert probe(output).frame_count == probe(source).frame_count
