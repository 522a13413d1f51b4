"""A colorize run killed with SIGKILL and run again with --resume gives the uninterrupted run's output.

The killed run is a real `vprop` process; its frame source sleeps between frames so that the kill lands mid-run
(after a span or two are finished, as its state folder shows) however fast the machine is.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from support.cli import bad, run
from support.small_clip import small_clip
from vprop.pipelines.resume import MANIFEST, state_folder

REPO = Path(__file__).resolve().parents[2]
SLOW_VPROP = """
import sys, time
import vprop.pipelines.spanning as spanning
decoded = spanning.read_frames
def slowly(*args):
    for frame in decoded(*args):
        time.sleep(0.15)
        yield frame
spanning.read_frames = slowly
from vprop.cli import main
sys.argv[0] = "vprop"
main()
"""


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return small_clip(tmp_path_factory.mktemp("clip"), frames=30, interval=6)


def killed_after_a_span(args, output):
    """Start `vprop ARGS --resume`, SIGKILL it once its state holds a finished span; return the state folder."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", SLOW_VPROP, *map(str, args), "--resume", "--quiet"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    manifest = state_folder(output) / MANIFEST
    deadline = time.monotonic() + 300
    while True:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no span finished"
        try:
            if json.loads(manifest.read_text())["finished"]:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    return manifest.parent


def frames(folder):
    return [(p.name, p.read_bytes()) for p in sorted(Path(folder).iterdir())]


def test_a_killed_offline_run_resumed_gives_the_same_png_frames(clip, tmp_path):
    video, keys = clip
    args = ["colorize", video, "--keys", keys, "--interval", 6, "--mode", "offline"]
    assert run(*args, "-o", f"{tmp_path}/whole/", "--quiet").exit_code == 0
    state = killed_after_a_span(args + ["-o", f"{tmp_path}/resumed/"], tmp_path / "resumed")
    saved = json.loads((state / MANIFEST).read_text())
    assert 0 < len(saved["finished"]) < len(saved["spans"])
    assert not (tmp_path / "resumed").exists()          # no output until the run completes
    result = run(*args, "-o", f"{tmp_path}/resumed/", "--resume", "--quiet")
    assert result.exit_code == 0, result.output
    assert frames(tmp_path / "resumed") == frames(tmp_path / "whole")
    assert not state.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["resumed", "whole"]   # nothing else left behind


def test_a_changed_key_file_is_refused(clip, tmp_path):
    video, keys = clip
    own_keys = tmp_path / "keys"
    own_keys.mkdir()
    for path in keys.iterdir():
        (own_keys / path.name).write_bytes(path.read_bytes())
    args = ["colorize", video, "--keys", own_keys, "--interval", 6, "-o", f"{tmp_path}/out/"]
    state = killed_after_a_span(args, tmp_path / "out")
    repainted = own_keys / "00012.png"
    repainted.write_bytes((keys / "00000.png").read_bytes())
    bad(run(*args, "--resume"), "00012.png", "key file changed since the interrupted run", str(state))
    assert state.is_dir()       # the finished work is kept: the user decides


def _timing(path):
    with av.open(str(path)) as c:
        return [frame.time for frame in c.decode(video=0)]


def test_a_resumed_h264_output_is_one_stream_with_the_same_frames_and_times(clip, tmp_path):
    video, keys = clip
    args = ["colorize", video, "--keys", keys, "--interval", 6]
    assert run(*args, "-o", tmp_path / "whole.mp4", "--quiet").exit_code == 0
    killed_after_a_span(args + ["-o", tmp_path / "resumed.mp4"], tmp_path / "resumed.mp4")
    assert run(*args, "-o", tmp_path / "resumed.mp4", "--resume", "--quiet").exit_code == 0
    assert _timing(tmp_path / "resumed.mp4") == _timing(tmp_path / "whole.mp4") == _timing(video)
    with av.open(str(tmp_path / "resumed.mp4")) as c:
        assert len(c.streams.video) == 1 and c.streams.video[0].codec_context.name == "h264"


def test_two_workers_give_the_frames_of_one(clip, tmp_path):
    video, keys = clip
    args = ["colorize", video, "--keys", keys, "--interval", 6, "--quiet"]
    assert run(*args, "-o", f"{tmp_path}/one/", "--workers", 1).exit_code == 0
    assert run(*args, "-o", f"{tmp_path}/two/", "--workers", 2).exit_code == 0
    assert frames(tmp_path / "two") == frames(tmp_path / "one")


def test_a_signal_stops_the_workers_too_and_leaves_nothing(clip, tmp_path):
    video, keys = clip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "vprop", "colorize", video, "--keys", keys, "--interval", "6",
                             "-o", f"{tmp_path}/out/", "--workers", "2"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline, workers = time.monotonic() + 300, []
    while not workers:        # a worker started: the run is in its frame loop, which lasts seconds more
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the workers never started"
        ps = subprocess.run(["ps", "-ww", "--ppid", str(proc.pid), "-o", "pid=,args="], capture_output=True, text=True)
        workers = [int(line.split()[0]) for line in ps.stdout.splitlines() if "spawn_main" in line]
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "interrupted (SIGTERM): no output written", err
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
