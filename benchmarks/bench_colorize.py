"""Colorize speed and memory, printed side by side with the optical-flow baseline on the same clip.

    python benchmarks/bench_colorize.py speed  [--video V --keys DIR --interval K] [--sizes 854x480 1280x720]
                                               [--no-full-resolution] [--threads N] [--working-flow medium-full]
                                               [--working-sides 320]
    python benchmarks/bench_colorize.py memory [--short-side 180]
    python benchmarks/bench_colorize.py end-to-end [--colour-video V] [--sizes 854x480 1280x720] [--repeats 2]

speed: frames/s of offline vprop as it runs by default (the working size), the same without the look-up where
chains failed (--no-lookup) and without the check at each key (Settings.key_check), of vprop at the frames' own
size (--full-resolution), and of chained DIS-flow warping of both keys at the frames' own size (the same frame loop
with a pass-through model: what a user's optical-flow script does), one after the other at each size.
Where a frame's time goes: benchmarks/profile_colorize.py.
memory: peak RSS of `vprop colorize` on a 100-frame and a 1,000-frame clip (the example looped), each in a
fresh process.
end-to-end: whole runs as a user times them (start-up, model, cut detection, decode, encode), each a fresh
process: `vprop colorize` offline (the default) and online beside benchmarks/flow_script.py, the plain optical-flow
script a user would write instead, on the lightness of a colour clip (default examples/rhino.mp4) with its own
colour frames as keys every --interval frames.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import vprop  # noqa: F401  (before torch: the OpenMP wait policy the `vprop` command runs with)
import torch

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "rhino_gray.mp4"
KEYS = ROOT / "examples" / "rhino_keys"


def speed(video: Path, keys: Path, interval: int, weights: str | None, sizes: list[tuple[int, int]],
          full_resolution: bool, repeats: int, working_flows: list[str] = (), working_sides: list[int] = ()) -> None:
    """Offline colorize fps at each size (the clip's frames resized): vprop as it runs by default (the working
    size), vprop at the frames' own size (--full-resolution) and the flow baseline, one after the other;
    ``working_flows``: also vprop with each of these flow configurations at the working size; ``working_sides``:
    also vprop at these working short sides ("vprop @SIDE", as `vprop colorize --working-side SIDE`)."""
    import cv2

    from vprop.engine.keys import key_files
    from vprop.engine.propagator import Propagator, Settings
    from vprop.engine.working import working_short_side, working_size
    from vprop.eval.baselines import Passthrough
    from vprop.io.images import read_rgb
    from vprop.io.video import VideoFrame, probe, read_frames
    from vprop.models.hub import load_model
    from vprop.models.tpn import model_aligned
    from vprop.pipelines.colorize import propagate_color
    from vprop.tasks.color import ColorTask, rgb_to_lab

    info = probe(video)
    files = key_files(keys, interval, info.frame_count, (".png", ".jpg"))
    model, _ = load_model("color", weights)
    source = list(read_frames(video))
    print(f"{video.name}: {len(source)} frames, keys every {interval}, offline, torch threads "
          f"{torch.get_num_threads()}; decoded frames in memory, no encode; best of {repeats} interleaved runs")
    for width, height in sizes:
        def resize(rgb):
            grow = width > rgb.shape[1]
            return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_CUBIC if grow else cv2.INTER_AREA)

        frames = [VideoFrame(f.index, resize(f.rgb), f.pts, f.time_base) for f in source]
        keys_lab = {i: rgb_to_lab(resize(read_rgb(path))) for i, path in files.items()}
        work = working_size(width, height, working_short_side(model))
        aligned = model_aligned(model, None)
        # as `vprop colorize` runs it
        settings = Settings(mode="offline", align=aligned, repair=aligned, lookup=aligned, key_check=aligned)
        unlooked = replace(settings, lookup=False)
        unchecked = replace(settings, key_check=False)
        runs = {
            "flow baseline": lambda: Propagator(Passthrough(), ColorTask(), Settings(mode="offline"))(
                iter(frames), keys_lab),
            "vprop": lambda: propagate_color(model, settings, iter(frames), keys_lab, work),
            "vprop --no-lookup": lambda: propagate_color(model, unlooked, iter(frames), keys_lab, work),
            "vprop without the key check": lambda: propagate_color(model, unchecked, iter(frames), keys_lab, work),
        }
        for preset in working_flows:
            other = replace(settings, working_flow=preset)
            runs[f"vprop, {preset} flow"] = lambda other=other: propagate_color(model, other, iter(frames), keys_lab,
                                                                                 work)
        for side in working_sides:
            other = working_size(width, height, side)
            runs[f"vprop @{side}"] = lambda other=other: propagate_color(model, settings, iter(frames), keys_lab, other)
        if full_resolution:
            runs["vprop --full-resolution"] = lambda: propagate_color(model, settings, iter(frames), keys_lab)
        turns = []      # frames/s of each run, turn by turn
        for turn in range(repeats):      # interleaved, best of each: a shared machine's load comes and goes
            turns.append({})
            for name, frames_out in runs.items():
                if turn and name == "vprop --full-resolution":
                    continue                  # the slow one runs once
                t = time.perf_counter()
                n = sum(1 for _ in frames_out())
                turns[-1][name] = n / (time.perf_counter() - t)
        rates = {name: max(t[name] for t in turns if name in t) for name in runs}
        base = rates["flow baseline"]
        at = f"working size {work[0]}x{work[1]}" if work else "the frames' own size"
        print(f"{width}x{height}: " + ", ".join(f"{name} {fps:.2f} fps ({fps / base:.2f}x flow)"
                                                for name, fps in rates.items()) + f"; vprop at {at}")
        # The same ratios turn by turn (each against the flow run just before it): how far one run's figures move.
        spread = {name: sorted(t[name] / t["flow baseline"] for t in turns if name in t)
                  for name in runs if name != "flow baseline"}
        print("  per turn, x flow: " + ", ".join(f"{name} {r[0]:.2f}-{r[-1]:.2f} (median {statistics.median(r):.2f})"
                                                 for name, r in spread.items()))


def looped_clip(path: Path, frames: int, short_side: int) -> None:
    import av
    import cv2

    from vprop.io.video import read_frames

    source = [f.rgb for f in read_frames(EXAMPLE)]
    h, w = source[0].shape[:2]
    size = (round(w * short_side / h / 2) * 2, short_side)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(frames):
            k = i % (2 * len(source) - 2)
            rgb = source[k if k < len(source) else 2 * len(source) - 2 - k]   # ping-pong: no jump cut
            out.mux(s.encode(av.VideoFrame.from_ndarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA),
                                                        format="rgb24")))
        out.mux(s.encode(None))
    keys = path.with_suffix("")
    keys.mkdir()
    for f in read_frames(path):
        if f.index % 30 == 0:
            tint = f.rgb.copy()
            tint[..., 0] = np.clip(tint[..., 0].astype(int) + 30, 0, 255)
            cv2.imwrite(str(keys / f"{f.index:05d}.png"), cv2.cvtColor(tint, cv2.COLOR_RGB2BGR))


def peak_rss_mib(*cli_args: str) -> float:
    """Peak resident memory of one `vprop ...` command, run in a fresh process."""
    cmd = [sys.executable, "-c", "import resource, sys; from vprop.cli import main\n"
           "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
           "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)", *cli_args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def memory_by_length(command, short_side: int, label: str) -> None:
    """Peak RSS of ``command(clip, tmp)`` (the CLI arguments) on the looped example at 100 and 1,000 frames."""
    with tempfile.TemporaryDirectory() as tmp:
        peaks = {}
        for n in (100, 1000):
            clip = Path(tmp) / f"clip{n}.mp4"
            looped_clip(clip, n, short_side)
            t = time.perf_counter()
            peaks[n] = peak_rss_mib(*command(clip, Path(tmp) / f"out{n}"))
            print(f"{label} {n:5d} frames at short side {short_side}: peak RSS {peaks[n]:.0f} MiB "
                  f"({time.perf_counter() - t:.0f} s)")
        print(f"1000-frame / 100-frame peak RSS: {peaks[1000] / peaks[100]:.3f}")


def gray_clip_and_keys(folder: Path, colour_video: Path, interval: int, size: tuple[int, int]) -> tuple[Path, Path]:
    """From a colour clip: its lightness as a gray clip at ``size`` (width, height) and a PNG colour key every
    ``interval`` frames, as a user would have them."""
    import cv2
    from dataclasses import replace

    from vprop.io.video import VideoWriter, probe, read_frames
    from vprop.tasks.color import lightness_only

    clip, key_dir = folder / f"gray-{size[0]}x{size[1]}.mp4", folder / f"keys-{size[0]}x{size[1]}"
    key_dir.mkdir()
    with VideoWriter(clip, replace(probe(colour_video), width=size[0], height=size[1], rotation=0), crf=12) as writer:
        for frame in read_frames(colour_video):
            rgb = cv2.resize(frame.rgb, size, interpolation=cv2.INTER_AREA)
            writer.write(frame, lightness_only(rgb))
            if frame.index % interval == 0:
                cv2.imwrite(str(key_dir / f"{frame.index:05d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return clip, key_dir


def end_to_end(colour_video: Path, interval: int, sizes: list[tuple[int, int]], repeats: int) -> None:
    """Wall-clock fps of whole runs, as a user runs them, each in a fresh process: `vprop colorize` (CLI defaults:
    offline; and --mode online) beside benchmarks/flow_script.py (PyAV decode, DIS flow chained from the
    preceding key, warp, H.264 encode), on the colour clip's lightness resized to each size, its true colour
    frames the keys. Everything is counted: start-up, model load, the cut detection pass, decoding and encoding."""
    from vprop.io.video import read_frames

    frames = sum(1 for _ in read_frames(colour_video))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for size in sizes:
            clip, key_dir = gray_clip_and_keys(folder, colour_video, interval, size)
            runs = {
                "flow script": [sys.executable, str(ROOT / "benchmarks" / "flow_script.py"), str(clip), str(key_dir),
                                str(interval), str(folder / "script.mp4")],
                "vprop colorize": [sys.executable, "-m", "vprop", "colorize", str(clip), "--keys", str(key_dir),
                                   "--interval", str(interval), "-o", str(folder / "offline.mp4"), "--quiet"],
                "vprop colorize --mode online": [sys.executable, "-m", "vprop", "colorize", str(clip), "--keys",
                                                 str(key_dir), "--interval", str(interval), "--mode", "online", "-o",
                                                 str(folder / "online.mp4"), "--quiet"],
            }
            best: dict[str, float] = {}
            for _ in range(repeats):
                for name, command in runs.items():
                    for old in folder.glob("*.mp4"):
                        if old != clip:
                            old.unlink()
                    start = time.perf_counter()
                    subprocess.run(command, check=True)
                    best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
            base = frames / best["flow script"]
            print(f"{size[0]}x{size[1]}, {frames} frames: " + ", ".join(
                f"{name} {frames / t:.2f} fps ({frames / t / base:.2f}x the script)" for name, t in best.items()),
                flush=True)


def memory(short_side: int) -> None:
    memory_by_length(lambda clip, out: ["colorize", str(clip), "--keys", str(clip.with_suffix("")), "--interval",
                                        "30", "-o", f"{out}.mp4", "--quiet"], short_side, "colorize")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["speed", "memory", "end-to-end"])
    ap.add_argument("--video", type=Path, default=EXAMPLE)
    ap.add_argument("--keys", type=Path, default=KEYS)
    ap.add_argument("--colour-video", type=Path, default=ROOT / "examples" / "rhino.mp4", help="end-to-end: the clip")
    ap.add_argument("--interval", type=int, default=20)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--short-side", type=int, default=180)
    ap.add_argument("--sizes", nargs="+", default=["854x480", "1280x720"], help="speed: frame sizes WxH")
    ap.add_argument("--no-full-resolution", action="store_true", help="speed: skip the slow --full-resolution run")
    ap.add_argument("--working-flow", nargs="+", default=[], help="speed: also vprop with these flow "
                    "configurations at the working size (vprop.engine.flow.FLOW_PRESETS)")
    ap.add_argument("--working-sides", type=int, nargs="+", default=[],
                    help="speed: also vprop at these working short sides (`vprop colorize --working-side`)")
    ap.add_argument("--repeats", type=int, default=2, help="speed: runs of vprop and of the baseline, best kept")
    ap.add_argument("--threads", type=int, default=None, help="speed: torch and OpenCV threads (default: their own)")
    a = ap.parse_args()
    if a.threads:
        import cv2
        torch.set_num_threads(a.threads)
        cv2.setNumThreads(a.threads)
    if a.what == "speed":
        speed(a.video, a.keys, a.interval, a.weights, [tuple(map(int, s.split("x"))) for s in a.sizes],
              not a.no_full_resolution, a.repeats, a.working_flow, a.working_sides)
    elif a.what == "end-to-end":
        end_to_end(a.colour_video, a.interval, [tuple(map(int, s.split("x"))) for s in a.sizes], a.repeats)
    else:
        memory(a.short_side)
