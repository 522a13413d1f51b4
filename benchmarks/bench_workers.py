"""Frames/s of `vprop colorize` against --workers, and what a killed-and-resumed run costs, in one run.

    python benchmarks/bench_workers.py [--workers 1 2 4] [--width 640] [--frames 60] [--interval 10] [--repeat 2]
    python benchmarks/bench_workers.py --davis 5 --workers 1 2     # 398 real frames at 854x480 across 4 cuts

The clip is the bundled example (examples/rhino_gray.mp4, real footage) resized to --width, with colour keys every
--interval frames taken from its colour original; offline mode, PNG output. Each command runs as its own process,
as a user starts it (imports, model load and the cut-detection pass are counted). Every run has the machine's
threads in all: one worker takes them all, N workers a 1/N share each (at least one: 4 workers on 2 CPUs have 4).
The outputs of every --workers value are checked to be byte-identical to --workers 1's. On a shared machine the
load swings from run to run, so every setting runs --repeat times, interleaved, and the best time counts.

Resume: a `--resume` run is SIGKILLed once half its frames are finished (as its state folder says), then run
again with --resume; their times added up are set against one uninterrupted run.
"""
from __future__ import annotations

import argparse
import json
import resource
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dataclasses import replace  # noqa: E402

from vprop.io.video import VideoWriter, probe, read_frames  # noqa: E402
from vprop.pipelines.resume import MANIFEST, state_folder  # noqa: E402

EXAMPLES = REPO / "examples"
DAVIS = REPO.parent / "shared" / "data" / "davis2016-train"


def make_clip(root: Path, width: int, frames: int, interval: int) -> tuple[Path, Path]:
    source = probe(EXAMPLES / "rhino_gray.mp4")
    size = (width, round(source.height * width / source.width / 2) * 2)
    video, keys = root / "clip.mp4", root / "keys"
    with VideoWriter(video, replace(source, width=size[0], height=size[1])) as writer:
        for frame in read_frames(EXAMPLES / "rhino_gray.mp4", 0, frames):
            writer.write(frame, cv2.resize(frame.rgb, size, interpolation=cv2.INTER_AREA))
    keys.mkdir()
    for frame in read_frames(EXAMPLES / "rhino.mp4", 0, frames):
        if frame.index % interval == 0:
            rgb = cv2.resize(frame.rgb, size, interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(keys / f"{frame.index:05d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return video, keys


def make_davis_clip(root: Path, count: int, interval: int) -> tuple[Path, Path, int]:
    """``count`` DAVIS videos joined at 854x480 (real footage with real cuts), keyed as a user would:
    `vprop keys --shots --interval`, so every shot starts on a key."""
    from vprop.io.video import new_video

    video, keys, frames = root / "davis.mp4", root / "keys", 0
    with VideoWriter(video, new_video(854, 480, 24)) as writer:
        for path in sorted(DAVIS.glob("*.mp4"))[:count]:
            for frame in read_frames(path):
                rgb = cv2.resize(frame.rgb, (854, 480), interpolation=cv2.INTER_AREA)
                writer.write(replace(frame, index=frames, pts=None), rgb)
                frames += 1
    subprocess.run([sys.executable, "-m", "vprop", "keys", str(video), "--shots", "--interval", str(interval),
                    "-o", str(keys), "--quiet"], check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    return video, keys, frames


def command(video, keys, interval, output, *extra) -> list[str]:
    schedule = ["--interval", str(interval)] if interval else []
    return [sys.executable, "-m", "vprop", "colorize", str(video), "--keys", str(keys), *schedule,
            "--mode", "offline", "-o", str(output), "--quiet", *map(str, extra)]


CPU: dict = {}     # seconds of CPU each command used (user + system, all its processes), by its output


def timed(args) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(args, check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU[args[args.index("-o") + 1]] = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return time.perf_counter() - start


def killed_halfway(args, output: Path, frames: int) -> float:
    """Seconds until a --resume run had half its frames finished and was SIGKILLed."""
    manifest = state_folder(output) / MANIFEST
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    while proc.poll() is None:
        try:
            if sum(b - a for a, b in json.loads(manifest.read_text())["finished"]) >= frames / 2:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return time.perf_counter() - start
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise SystemExit("the run ended before half its frames were finished: use more --frames")


def pngs(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(folder.iterdir())]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--davis", type=int, default=0, metavar="N",
                        help="instead of the example: N DAVIS videos of ../shared joined at 854x480, keyed with "
                             "`vprop keys --shots --interval`")
    a = parser.parse_args()
    import torch

    print(f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, load average "
          f"{os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if a.davis:
            video, keys, a.frames = make_davis_clip(root, a.davis, a.interval)
            interval = None     # the keys are the shots' first frames and every --interval-th frame inside them
            print(f"clip: {a.davis} DAVIS videos joined, {a.frames} frames at 854x480, "
                  f"{len(list(keys.iterdir()))} keys (--shots --interval {a.interval}); best of {a.repeat}")
        else:
            video, keys = make_clip(root, a.width, a.frames, a.interval)
            interval = a.interval
            print(f"clip: {a.frames} frames at {a.width} px wide, keys every {a.interval}; best of {a.repeat}")
        times: dict = {n: [] for n in a.workers}
        resumed: list = []
        reference = root / f"w{a.workers[0]}"
        for round_ in range(a.repeat):
            for n in a.workers:
                output = root / f"w{n}-{round_}"
                times[n].append(timed(command(video, keys, interval, f"{output}/", "--workers", n)))
                if not reference.exists():
                    output.rename(reference)
                elif pngs(output) != pngs(reference):
                    raise SystemExit(f"--workers {n} gave other frames than --workers {a.workers[0]}")
            output = root / f"resumed-{round_}"
            again = command(video, keys, interval, f"{output}/", "--resume", "--workers", a.workers[0])
            first = killed_halfway(again, output, a.frames)
            second = timed(again)
            if pngs(output) != pngs(reference):
                raise SystemExit("the resumed run gave other frames than the uninterrupted one")
            resumed.append((first + second, first, second))
        base = min(times[a.workers[0]])
        for n in a.workers:
            best = min(times[n])
            cpu = [CPU[f"{root / f'w{n}-{r}'}/"] for r in range(a.repeat)]
            print(f"--workers {n}: {best:6.1f} s, {a.frames / best:.2f} frames/s, {base / best:.2f}x --workers "
                  f"{a.workers[0]} (all runs: {', '.join(f'{t:.1f}' for t in times[n])} s; CPU busy "
                  f"{', '.join(f'{c / t:.2f}' for c, t in zip(cpu, times[n]))} of {os.cpu_count()})")
        total, first, second = min(resumed)
        print(f"resume: killed at half after {first:.1f} s + resumed {second:.1f} s = {total:.1f} s against "
              f"{base:.1f} s uninterrupted ({total / base - 1:+.0%}); all frames identical to --workers "
              f"{a.workers[0]}'s")
        print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
