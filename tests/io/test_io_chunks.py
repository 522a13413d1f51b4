"""A video written in pieces and joined is one valid stream with the direct writer's frames, timing and streams."""
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from support.media import packets, pattern
from vprop.io.chunks import SUFFIX, chunk_writer, join_chunks
from vprop.io.sequence import image_sequence
from vprop.io.video import VideoWriter, probe, read_frames


def _timing(path):
    with av.open(str(path)) as c:
        video = c.streams.video[0]
        times = [frame.time for frame in c.decode(video)]
        return times, sorted(s.type for s in c.streams), len(c.streams.video)


def _write_both(source, tmp_path, suffix, bounds, **options):
    info, frames = probe(source), list(read_frames(source))
    direct = tmp_path / f"direct{suffix}"
    with VideoWriter(direct, info, **options) as w:
        for f in frames:
            w.write(f, f.rgb)
    joined, pieces = tmp_path / f"joined{suffix}", []
    for a, b in zip(bounds, bounds[1:]):
        pieces.append(tmp_path / f"piece{a}{SUFFIX}")
        with chunk_writer(joined, info, pieces[-1], **options) as w:
            for f in frames[a:b]:
                w.write(f, f.rgb)
    return direct, join_chunks(pieces, joined, info), frames


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_h264_pieces_join_into_one_stream_with_the_sources_timing_and_sound(make_video, tmp_path, suffix):
    # variable frame rate, starting late, with sound: what a video editor relies on
    pts = [0, 1, 2, 4, 5, 6, 9, 10, 11, 12, 14, 15, 16, 17, 20, 21, 22, 23, 24, 26]
    source = make_video("vfr.mp4", frames=20, pts=[p + 3 for p in pts], time_base=Fraction(1, 25), audio="aac")
    direct, joined, frames = _write_both(source, tmp_path, suffix, [0, 3, 4, 11, 20])
    assert _timing(joined) == _timing(direct)
    times, streams, videos = _timing(joined)
    assert len(times) == 20 and videos == 1 and streams == ["audio", "video"]
    assert packets(joined) == packets(direct)       # the sound, bit for bit, at the times the direct writer gives
    decoded = list(read_frames(joined))
    assert len(decoded) == 20
    # every frame is the right one (lossy, so close, not equal)
    assert all(np.abs(d.rgb.astype(int) - f.rgb).mean() < 4 for d, f in zip(decoded, frames))


def test_lossless_pieces_give_the_same_frames(make_video, tmp_path):
    source = make_video("in.mp4", frames=15)
    direct, joined, _ = _write_both(source, tmp_path, ".mkv", [0, 5, 6, 15], lossless=True)
    a, b = list(read_frames(direct)), list(read_frames(joined))
    assert [f.pts for f in a] == [f.pts for f in b]
    assert all(np.array_equal(x.rgb, y.rgb) for x, y in zip(a, b))
    assert _timing(joined) == _timing(direct)



def test_pieces_of_a_video_that_counts_time_in_frames_join_in_order(tmp_path):
    # An image sequence (or an AVI) has a time base of one frame: each piece's encoder starts its decode clock a
    # frame or two before its first frame, and the join needs finer ticks to keep the decode times in order.
    for i in range(40):
        assert cv2.imwrite(str(tmp_path / f"f_{i:03d}.png"), pattern(i, 64, 48))
    source = image_sequence(str(tmp_path))
    assert probe(source).time_base == Fraction(1, 24)
    direct, joined, frames = _write_both(source, tmp_path, ".mp4", [0, 13, 27, 40])
    assert _timing(joined) == _timing(direct)
    with av.open(str(joined)) as a, av.open(str(direct)) as b:
        assert abs(a.duration - b.duration) <= av.time_base / 24     # was 1.6 s too long: "truncated" when read
        dts = [p.dts for p in a.demux(a.streams.video[0]) if p.size]
        assert dts == sorted(set(dts))
    assert probe(joined).fps == probe(direct).fps == 24            # each packet's duration counted in the new ticks


def test_pieces_of_a_video_with_repeated_timestamps_follow_each_other(make_video, tmp_path):
    # A damaged file: every frame stamped 0. Each piece's writer makes them increasing from the same start; the join
    # retimes a piece after the one before, as the direct writer numbers them (it failed: "Invalid argument").
    source = make_video("zero.mp4", frames=12, pts=[0] * 12)
    assert {f.pts for f in read_frames(source)} == {0}
    direct, joined, _ = _write_both(source, tmp_path, ".mp4", [0, 5, 12])
    assert _timing(joined) == _timing(direct)
    # at the rate it was made at (24), not a tick apart: 12 frames played in 0.9 ms
    assert probe(source).fps == 24 and probe(source).timed_by_index
    assert _timing(direct)[0] == pytest.approx([i / 24 for i in range(12)], abs=1e-3)
    assert len(list(read_frames(joined))) == 12


def test_one_repeated_timestamp_keeps_the_files_own_clock(make_video, tmp_path):
    # A file that starts late with one frame stamped as the one before: that frame takes the next tick, so the
    # frames after it keep their times and the sound stays in sync; joined pieces give the same.
    made = make_video("late0.mp4", frames=12, pts=[30 + i for i in range(12)], time_base=Fraction(1, 25))
    source = tmp_path / "late.mp4"
    with av.open(str(made)) as original, av.open(str(source), "w") as out:   # the encoder refuses such a stamp
        video = out.add_stream_from_template(original.streams.video[0])
        stamps = []
        for packet in (p for p in original.demux(original.streams.video[0]) if p.size):
            stamps.append(packet.pts)
            packet.pts = stamps[5] if len(stamps) == 7 else packet.pts
            packet.stream = video
            out.mux(packet)
    assert [f.pts for f in read_frames(source)][5:7] == [stamps[5]] * 2
    direct, joined, _ = _write_both(source, tmp_path, ".mp4", [0, 6, 12])
    assert _timing(joined) == _timing(direct)
    times, base = _timing(direct)[0], probe(source).time_base
    assert times[:6] + times[7:] == pytest.approx([float(p * base) for p in stamps[:6] + stamps[7:]])
    assert stamps[5] * base < times[6] < stamps[7] * base
