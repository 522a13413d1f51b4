"""Every way a run can end early leaves no file behind, says so in one line and exits with the documented code.

Signals are sent to a real `vprop` process once it is in its frame loop (its partial output exists: for H.264
that is after the encoder's look-ahead, some 40 frames in); the frame source of that process sleeps between
frames, so the signal always lands mid-run however fast the machine is.
"""
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.cli import bad, run
from test_colorize_cli import colour_keys

REPO = Path(__file__).resolve().parents[2]

# `vprop` as a user runs it, with a frame source slowed to 0.1 s per frame: some 6 s of run are left once the
# partial output appears, so the signal lands mid-run under load too.
SLOW_VPROP = """
import sys, time
import vprop.pipelines.spanning as spanning
decoded = spanning.read_frames
def slowly(path, *args):
    for frame in decoded(path, *args):
        time.sleep(0.1)
        yield frame
spanning.read_frames = slowly
from vprop.cli import main
sys.argv[0] = "vprop"
main()
"""


@pytest.fixture
def clip(tmp_path, make_video):
    video = make_video("v.mp4", frames=100, size=(64, 48))
    return video, colour_keys(video, tmp_path / "keys", {0, 20})


def start(args, cwd, **options):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", SLOW_VPROP, *map(str, args)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options)


def in_frame_loop(proc, folder: Path) -> None:
    """Wait until the run's partial output exists in ``folder``."""
    deadline = time.monotonic() + 120
    while not any(".partial-" in p.name for p in folder.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never reached its frame loop"
        time.sleep(0.02)


def leftovers(folder: Path):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("sig, code, output", [(signal.SIGTERM, 143, "out.mp4"), (signal.SIGHUP, 129, "out.mp4"),
                                               (signal.SIGINT, 130, "out.mp4"), (signal.SIGTERM, 143, "frames/")])
def test_a_signal_mid_run_removes_the_partial_output(tmp_path, clip, tiny_color_weights, sig, code, output):
    video, keys = clip
    proc = start(["colorize", video, "--keys", keys, "-o", f"{tmp_path}/{output}", "--weights", tiny_color_weights],
                 tmp_path)
    in_frame_loop(proc, tmp_path)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert err.strip().splitlines() == [f"interrupted ({signal.Signals(sig).name}): no output written"], err
    assert leftovers(tmp_path) == []
    assert not (tmp_path / output).exists()


def test_an_ignored_sighup_stays_ignored_as_under_nohup(tmp_path, clip, tiny_color_weights):
    video, keys = clip
    proc = start(["colorize", video, "--keys", keys, "-o", tmp_path / "out.mp4", "--weights", tiny_color_weights,
                  "-q"], tmp_path, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    in_frame_loop(proc, tmp_path)
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert (tmp_path / "out.mp4").exists() and leftovers(tmp_path) == []


def limit_file_size(size):
    # Python ignores SIGXFSZ, so a write past the limit fails with EFBIG, as a write to a full disk does.
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


@pytest.mark.parametrize("output", ["out.mp4", "frames/"])
def test_a_full_disk_removes_the_partial_output(tmp_path, clip, tiny_color_weights, output):
    video, keys = clip
    proc = start(["colorize", video, "--keys", keys, "-o", f"{tmp_path}/{output}", "--weights", tiny_color_weights,
                  "-q"], tmp_path, preexec_fn=limit_file_size(2000))
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 1, err
    assert err.strip().splitlines() == [
        f"error: {tmp_path / output.rstrip('/')}: file too large (file system or `ulimit -f` limit); "
        "no output written"], err
    assert leftovers(tmp_path) == []
    assert not (tmp_path / output).exists()


def test_a_bug_mid_run_is_one_line_and_leaves_nothing(tmp_path, clip, tiny_color_weights, monkeypatch):
    from vprop.io.video import VideoWriter

    video, keys = clip
    real_write = VideoWriter.write

    def write_then_fail(self, frame, rgb):
        if frame.index == 5:
            raise ZeroDivisionError("a bug\nover two lines")
        real_write(self, frame, rgb)

    monkeypatch.setattr(VideoWriter, "write", write_then_fail)
    result = run("colorize", video, "--keys", keys, "-o", tmp_path / "o.mp4", "--weights", tiny_color_weights)
    bad(result, "internal error", "ZeroDivisionError: a bug over two lines", "no output written")
    log = Path(result.output.split("traceback in ")[-1].strip())
    assert "write_then_fail" in log.read_text()
    log.unlink()
    assert leftovers(tmp_path) == [] and not (tmp_path / "o.mp4").exists()


def test_the_signal_handlers_are_restored(tmp_path, clip, tiny_color_weights):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    video, keys = clip
    assert run("colorize", video, "--keys", keys, "-o", tmp_path / "o.mp4", "--weights", tiny_color_weights,
               "-q").exit_code == 0
    assert {s: signal.getsignal(s) for s in before} == before
