"""`vprop batch` on a real local Ray instance (2 CPUs, 127.0.0.1 only): outputs identical to the single commands,
failures reported without stopping the others, complete outputs skipped on a second run."""
import re

import av
import cv2
import numpy as np
import pytest

from support.batch_media import make_batch
from support.cli import run

pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    """One local instance for the module (starting Ray takes seconds); each batch joins it."""
    from vprop.batch import ray_session

    with ray_session() as ray:
        assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
        yield ray


def decoded(path):
    with av.open(str(path)) as c:
        return [(f.pts, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]


def error_lines(result):
    return [line for line in result.output.splitlines() if line.startswith("error:")]


def test_a_folder_of_videos_matches_the_single_command_and_skips_when_rerun(tmp_path, local_ray):
    names = make_batch(tmp_path)
    out = tmp_path / "out"
    args = ["batch", "colorize", tmp_path / "videos", "--keys", tmp_path / "keys", "-o", out, "--mode", "online",
            "--workers", 2]
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert len(error_lines(result)) == 1 and "broken.mp4" in error_lines(result)[0], result.output
    assert "3 done, 1 failed, 0 skipped" in result.output
    for name in names:
        single = tmp_path / f"single_{name}.mp4"
        assert run("colorize", tmp_path / "videos" / f"{name}.mp4", "--keys", tmp_path / "keys" / name,
                   "--mode", "online", "-o", single, "-q").exit_code == 0
        ours, theirs = decoded(out / f"{name}.mp4"), decoded(single)
        assert len(ours) == len(theirs) == 8
        assert all(p == q and np.array_equal(a, b) for (p, a), (q, b) in zip(ours, theirs))
        log = (out / "logs" / f"{name}.mp4.log").read_text()
        assert re.search(r"done: 8 frames in", log), log
    assert "failed: " in (out / "logs" / "broken.mp4.log").read_text()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]   # no temporary left behind

    stamps = {name: (out / f"{name}.mp4").stat().st_mtime_ns for name in names}
    again = run(*args)
    assert again.exit_code == 1, again.output
    assert "0 done, 1 failed, 3 skipped" in again.output and len(error_lines(again)) == 1
    assert stamps == {name: (out / f"{name}.mp4").stat().st_mtime_ns for name in names}


def test_a_manifest_with_per_video_options_and_force(tmp_path, local_ray):
    names = make_batch(tmp_path, broken=False)
    out = tmp_path / "out"
    masks = tmp_path / "masks"
    two_keys = tmp_path / "two_keys"
    two_keys.mkdir()
    (two_keys / "00000.png").write_bytes((masks / f"{names[2]}.png").read_bytes())
    (two_keys / "00005.png").write_bytes((masks / f"{names[2]}.png").read_bytes())
    (tmp_path / "jobs.csv").write_text(
        "input,masks,output,mode\n"
        f"videos/{names[0]}.mp4,,,\n"                          # the mask by convention, under --masks
        f"videos/{names[1]}.mp4,masks/{names[1]}.png,,offline\n"
        f"videos/{names[2]}.mp4,two_keys,third,\n"
        f"videos/{names[0]}.mp4,masks/missing.png,nomask,\n")
    stale = out / names[0]
    stale.mkdir(parents=True)
    (stale / "00000.png").write_bytes(b"an old, wrong frame")
    result = run("batch", "segment", tmp_path / "jobs.csv", "--masks", masks, "-o", out, "--force", "-q")
    assert result.exit_code == 1, result.output
    assert len(error_lines(result)) == 1 and "missing.png" in error_lines(result)[0], result.output
    expected = {names[0]: ("--mask", masks / f"{names[0]}.png"),
                names[1]: ("--mask", masks / f"{names[1]}.png", "--mode", "offline"),
                "third": ("--mask", two_keys / "00000.png", "--mask", f"5:{two_keys / '00005.png'}")}
    for (output, options), name in zip(expected.items(), names):
        single = tmp_path / f"single_{output}"
        assert run("segment", tmp_path / "videos" / f"{name}.mp4", *options, "-o", single, "-q").exit_code == 0
        ours = sorted(p.name for p in (out / output).iterdir())
        assert ours == sorted(p.name for p in single.iterdir()) == [f"{i:05d}.png" for i in range(8)]
        assert all((out / output / n).read_bytes() == (single / n).read_bytes() for n in ours), output
    assert not (out / "nomask").exists()


def test_image_sequences_in_a_manifest_or_a_folder_match_the_single_command(tmp_path, local_ray):
    [name] = make_batch(tmp_path, starts=(0,), broken=False)
    frames = tmp_path / "scans" / name
    frames.mkdir(parents=True)
    for i, (_, rgb) in enumerate(decoded(tmp_path / "videos" / f"{name}.mp4")):
        cv2.imwrite(str(frames / f"scan_{i + 1001:05d}.png"), rgb[..., ::-1])
    (tmp_path / "jobs.csv").write_text(f"input,keys,output,fps\nscans/{name},keys/{name},folder.mp4,25\n"
                                       f"scans/{name}/scan_%05d.png,keys/{name},pattern.mp4,\n")
    out = tmp_path / "out"
    result = run("batch", "colorize", tmp_path / "jobs.csv", "-o", out, "--mode", "online", "-q")
    assert result.exit_code == 0, result.output
    for output, rate in (("folder.mp4", ["--fps", "25"]), ("pattern.mp4", [])):
        single = tmp_path / f"single_{output}"
        assert run("colorize", frames, *rate, "--keys", tmp_path / "keys" / name, "--mode", "online", "-o", single,
                   "-q").exit_code == 0
        ours, theirs = decoded(out / output), decoded(single)
        assert len(ours) == len(theirs) == 8
        assert all(p == q and np.array_equal(a, b) for (p, a), (q, b) in zip(ours, theirs))
    with av.open(str(out / "folder.mp4")) as a, av.open(str(out / "pattern.mp4")) as b:
        assert (a.streams.video[0].average_rate, b.streams.video[0].average_rate) == (25, 24)
    # a folder of jobs: its subfolders of numbered images are sequences, at the batch's --fps
    result = run("batch", "colorize", tmp_path / "scans", "--keys", tmp_path / "keys", "--fps", "25", "-o",
                 tmp_path / "out2", "--mode", "online", "-q")
    assert result.exit_code == 0, result.output
    ours, theirs = decoded(tmp_path / "out2" / f"{name}.mp4"), decoded(tmp_path / "single_folder.mp4")
    assert len(ours) == 8 and all(p == q and np.array_equal(a, b) for (p, a), (q, b) in zip(ours, theirs))
