"""segment and hdr run span by span too: --workers 2 gives --workers 1's outputs, and a resumed run the
uninterrupted run's (every output: frame folders, the videos beside them, HDR10)."""
import av
import pytest

from support.cli import run
from support.seg_media import save_palette, square_labels
from vprop.io.images import read_exr
from vprop.pipelines.hdr import hdr
from vprop.pipelines.resume import MANIFEST, state_folder


def files(folder):
    return [(p.name, p.read_bytes()) for p in sorted(folder.iterdir())]


def times(video):
    with av.open(str(video)) as c:
        return [frame.time for frame in c.decode(video=0)]


def test_segment_with_two_workers_writes_what_one_writes(tmp_path, square_video, tiny_seg_weights):
    masks = [save_palette(tmp_path / "m0.png", square_labels(0, label=2)),
             "4:" + str(save_palette(tmp_path / "m4.png", square_labels(4, label=2)))]
    for n in (1, 2):
        result = run("segment", square_video, *(a for m in masks for a in ("--mask", m)), "-o", tmp_path / f"w{n}",
                     "--overlay", tmp_path / f"w{n}.mp4", "--alpha", f"{tmp_path}/alpha{n}/", "--weights",
                     tiny_seg_weights, "--workers", n, "-q")
        assert result.exit_code == 0, result.output
    assert files(tmp_path / "w2") == files(tmp_path / "w1") and len(files(tmp_path / "w1")) == 10
    assert files(tmp_path / "alpha2") == files(tmp_path / "alpha1")
    assert times(tmp_path / "w2.mp4") == times(tmp_path / "w1.mp4") == times(square_video)


class Stop(Exception):
    """Stands for a kill: the run ends mid-way without cleaning up its state."""


def test_hdr_resumed_after_a_stop_writes_the_uninterrupted_exrs_and_hdr10(tmp_path, hdr_clip, tiny_hdr_weights):
    video, _, keys = hdr_clip          # 12 frames, keys at 0 and 6: two spans
    whole = hdr(video, keys, tmp_path / "whole", weights=str(tiny_hdr_weights), hdr10=tmp_path / "whole.mp4")

    def stop_at_frame_8(index):
        if index == 8:
            raise Stop

    out = tmp_path / "resumed"
    with pytest.raises(Stop):
        hdr(video, keys, out, weights=str(tiny_hdr_weights), hdr10=tmp_path / "resumed.mp4", resume=True,
            on_frame=stop_at_frame_8)
    assert (state_folder(out) / MANIFEST).is_file() and not out.exists()
    written = []
    hdr(video, keys, out, weights=str(tiny_hdr_weights), hdr10=tmp_path / "resumed.mp4", resume=True,
        on_frame=written.append)
    assert written == list(range(6, 12))              # the first span was not run again
    assert [read_exr(p).tobytes() for p in sorted(out.iterdir())] == \
        [read_exr(p).tobytes() for p in sorted(whole.iterdir())]
    assert times(tmp_path / "resumed.mp4") == times(tmp_path / "whole.mp4") and len(times(video)) == 12
    assert not state_folder(out).exists()
