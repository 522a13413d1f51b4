"""`vprop batch`: how jobs are found and checked, before any Ray worker starts."""
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from support.cli import bad, run
from support.media import write_sound
from vprop.batch import folder_jobs, is_complete, manifest_jobs, mask_keys, read_manifest
from vprop.errors import InputError


def touch(path, text="x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_folder_jobs_find_keys_and_outputs_by_the_video_name(tmp_path):
    for name in ("b.mp4", "a.MOV", "notes.txt", ".hidden.mp4"):
        touch(tmp_path / "videos" / name)
    touch(tmp_path / "masks" / "a.png")
    (tmp_path / "masks" / "b").mkdir()
    jobs, others = folder_jobs("segment", tmp_path / "videos", tmp_path / "masks", tmp_path / "out", {"mode": "online"})
    assert [(j.video.name, j.keys.name, Path(j.output).name) for j in jobs] == [("a.MOV", "a.png", "a"), ("b.mp4", "b", "b")]
    assert [p.name for p in others] == ["notes.txt"]
    assert jobs[0].options == {"mode": "online"}
    jobs, _ = folder_jobs("colorize", tmp_path / "videos", tmp_path / "keys", tmp_path / "out", {"lossless": True})
    assert [(j.keys, Path(j.output).name) for j in jobs] == [(tmp_path / "keys" / "a", "a.mkv"),
                                                            (tmp_path / "keys" / "b", "b.mkv")]


def test_manifests_in_csv_and_toml_give_the_same_jobs(tmp_path):
    touch(tmp_path / "jobs.csv", "input,keys,output,mode,batch-size\n"
                                 "v/a.mp4,k/a,,online,\n"
                                 "# a comment row\n"
                                 "v/b.mp4,,b_col.mkv,,2\n")
    touch(tmp_path / "jobs.toml", '[[video]]\ninput = "v/a.mp4"\nkeys = "k/a"\nmode = "online"\n\n'
                                  '[[video]]\ninput = "v/b.mp4"\noutput = "b_col.mkv"\nbatch_size = 2\n')
    assert [where for where, _ in read_manifest(tmp_path / "jobs.csv")] == ["jobs.csv, row 2", "jobs.csv, row 4"]

    def convert(column, value):
        return column, value if column == "mode" else int(value)

    out = tmp_path / "out"
    for manifest in ("jobs.csv", "jobs.toml"):
        jobs = manifest_jobs("colorize", tmp_path / manifest, tmp_path / "root", out, {"mode": "offline"}, convert)
        assert [(j.video, j.keys, j.output, j.options) for j in jobs] == [
            (tmp_path / "v/a.mp4", tmp_path / "k/a", str(out / "a.mp4"), {"mode": "online"}),
            (tmp_path / "v/b.mp4", tmp_path / "root/b", str(out / "b_col.mkv"), {"mode": "offline", "batch_size": 2}),
        ]


def test_mask_keys_and_complete_outputs(tmp_path):
    single = touch(tmp_path / "m.png")
    assert mask_keys(single) == {0: single}
    folder = tmp_path / "many"
    paths = [touch(folder / f"{i:05d}.png") for i in (0, 12)]
    assert mask_keys(folder) == {0: paths[0], 12: paths[1]}
    with pytest.raises(InputError, match="no such mask file or folder"):
        mask_keys(tmp_path / "missing")
    assert not is_complete(str(tmp_path / "out"))
    (tmp_path / "out").mkdir()
    touch(tmp_path / "out" / "notes.txt")
    assert not is_complete(str(tmp_path / "out"))       # a folder is complete once its frames are in
    touch(tmp_path / "out" / "00000.png")
    assert is_complete(str(tmp_path / "out")) and is_complete(str(single))
    pattern = str(tmp_path / "graded" / "reel_%07d.png")                      # frames named by a pattern
    assert not is_complete(pattern)
    touch(tmp_path / "graded" / "reel_0086400.png")
    assert is_complete(pattern)


@pytest.mark.parametrize("row, words", [
    ("v.mp4,k,sideways", ["jobs.csv, row 2", "mode", "sideways"]),
    ("v.mp4,k,online,cuda", ["row 2", "device", "command line"]),
])
def test_bad_manifest_cells_are_one_error_line(tmp_path, row, words):
    header = "input,keys,mode" + (",device" if row.count(",") == 3 else "")
    manifest = touch(tmp_path / "jobs.csv", f"{header}\n{row}\n")
    bad(run("batch", "segment", manifest, "-o", tmp_path / "out"), *words)


def test_a_manifest_column_is_checked_by_its_option(tmp_path):
    manifest = touch(tmp_path / "jobs.csv", "input,keys,working-side\nv.mp4,k,8\n")
    bad(run("batch", "segment", manifest, "-o", tmp_path / "out"), "row 2", "--working-side", "8 is not in the range")


def test_unknown_column_lists_the_known_ones(tmp_path):
    manifest = touch(tmp_path / "jobs.csv", "input,keys,colour\nv.mp4,k,red\n")
    bad(run("batch", "colorize", manifest, "-o", tmp_path / "out"), "unknown column 'colour'", "interval", "crf")


def test_two_videos_writing_one_output_are_refused(tmp_path):
    touch(tmp_path / "videos" / "a.mp4")
    touch(tmp_path / "videos" / "a.mov")
    bad(run("batch", "hdr", tmp_path / "videos", "--hdr-keys", tmp_path, "-o", tmp_path / "out"),
        "a.mov", "a.mp4", "distinct outputs")


def test_jobs_must_be_a_folder_or_a_manifest(tmp_path):
    bad(run("batch", "colorize", tmp_path / "nothing", "-o", tmp_path / "out"), "nothing", "no such folder")
    bad(run("batch", "colorize", touch(tmp_path / "list.txt"), "-o", tmp_path / "out"), "list.txt", ".csv/.toml")


def test_without_ray_the_command_says_how_to_install_it(tmp_path, monkeypatch):
    touch(tmp_path / "videos" / "a.mp4")
    monkeypatch.setitem(sys.modules, "ray", None)
    bad(run("batch", "colorize", tmp_path / "videos", "--keys", tmp_path, "-o", tmp_path / "out"),
        "pip install 'vprop[batch]'")


def test_a_manifest_row_may_name_an_image_sequence(tmp_path):
    for i in range(3):
        touch(tmp_path / "reels" / "reel1" / f"scan_{i + 100:04d}.png")     # the contents are not read here
        touch(tmp_path / "reels" / "reel2" / f"{i:05d}.png")
    write_sound(tmp_path / "reel1.wav")
    touch(tmp_path / "jobs.csv", "input,fps,audio\nreels/reel1,23.976,reel1.wav\nreels/reel2/%05d.png,,\nv/a.mp4,,\n")
    jobs = manifest_jobs("colorize", tmp_path / "jobs.csv", tmp_path / "keys", tmp_path / "out", {},
                         lambda column, value: (column, value))
    assert [(j.keys.name, Path(j.output).name, j.fps) for j in jobs] == [
        ("reel1", "reel1.mp4", Fraction(24000, 1001)), ("reel2", "reel2.mp4", None), ("a", "a.mp4", None)]
    first, second, video = (j.source() for j in jobs)
    assert (first.first, first.count, first.fps, second.count, second.fps) == (100, 3, Fraction(24000, 1001), 3, 24)
    assert video == tmp_path / "v/a.mp4"
    assert (first.audio, second.audio) == (tmp_path / "reel1.wav", None)
    touch(tmp_path / "bad.csv", "input,fps\nreels/reel1,fast\n")
    with pytest.raises(InputError, match="bad.csv, row 2: fps: 'fast' is not a frame rate"):
        manifest_jobs("colorize", tmp_path / "bad.csv", tmp_path / "keys", tmp_path / "out", {}, None)
    touch(tmp_path / "v" / "a.mp4")
    for column in ("fps", "audio"):
        touch(tmp_path / "rate.csv", f"input,{column}\nv/a.mp4,25\n")
        with pytest.raises(InputError, match=f"rate.csv, row 2: {column} is only for image sequences; a.mp4 is a"):
            manifest_jobs("colorize", tmp_path / "rate.csv", tmp_path / "keys", tmp_path / "out", {}, None)
    # the batch's --fps is the rate of the sequences without one; a video file keeps its own
    jobs = manifest_jobs("colorize", tmp_path / "jobs.csv", tmp_path / "keys", tmp_path / "out", {},
                         lambda column, value: (column, value), Fraction(25))
    assert [j.fps for j in jobs] == [Fraction(24000, 1001), 25, 25]
    assert [j.source().fps for j in jobs[:2]] == [Fraction(24000, 1001), 25] and jobs[2].source() == jobs[2].video


def test_a_folder_of_jobs_takes_its_subfolders_of_numbered_images_as_sequences(tmp_path):
    touch(tmp_path / "reels" / "a.mp4")
    for i in range(3):
        touch(tmp_path / "reels" / "reel2" / f"scan_{i:04d}.dpx")
    touch(tmp_path / "reels" / "notes" / "todo.txt")                        # a folder, but no frames
    jobs, others = folder_jobs("colorize", tmp_path / "reels", tmp_path / "keys", tmp_path / "out", {}, Fraction(25))
    assert [(j.video.name, j.keys.name, Path(j.output).name, j.fps) for j in jobs] == [
        ("a.mp4", "a", "a.mp4", None), ("reel2", "reel2", "reel2.mp4", 25)]
    assert [p.name for p in others] == ["notes"]
    sequence = jobs[1].source()
    assert (sequence.prefix, sequence.count, sequence.fps) == ("scan_", 3, 25)


def test_an_hdr_rows_extra_videos_go_to_the_batch_output(tmp_path):
    touch(tmp_path / "jobs.csv", "input,hdr_keys,hdr10,hlg,preview\nv/a.mp4,k/a,a_pq.mp4,a_hlg.mp4,a_sdr.mp4\n")
    out = tmp_path / "out"
    [job] = manifest_jobs("hdr", tmp_path / "jobs.csv", None, out, {}, lambda column, value: (column, value))
    assert job.options == {"hdr10": str(out / "a_pq.mp4"), "hlg": str(out / "a_hlg.mp4"),
                           "preview": str(out / "a_sdr.mp4")}
