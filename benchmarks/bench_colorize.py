"""Colorize speed and memory, printed side by side with the optical-flow baseline on the same clip.

    python benchmarks/bench_colorize.py speed  [--video V --keys DIR --interval K]
    python benchmarks/bench_colorize.py memory [--short-side 180]

speed: frames/s of vprop and of chained DIS-flow warping (the same frame loop with a pass-through model), and
the time of each stage (decode, flow + chain, network, encode) per frame.
memory: peak RSS of `vprop colorize` on a 100-frame and a 1,000-frame clip (the example looped), each in a
fresh process.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "rhino_gray.mp4"
KEYS = ROOT / "examples" / "rhino_keys"


def speed(video: Path, keys: Path, interval: int, weights: str | None) -> None:
    from vprop.engine.flow import ChainedWarp, FlowEstimator
    from vprop.engine.keys import LazyKeys, key_files
    from vprop.engine.propagator import Propagator, Settings
    from vprop.eval.baselines import Passthrough
    from vprop.io.keyframes import load_color_key
    from vprop.io.video import VideoWriter, probe, read_frames
    from vprop.models.hub import load_model
    from vprop.models.tpn import model_aligned
    from vprop.tasks.color import ColorTask

    info = probe(video)
    files = key_files(keys, interval, info.frame_count, (".png", ".jpg"))
    task = ColorTask()
    keys_map = LazyKeys(files, lambda p: task.prepare_key(load_color_key(p, info.width, info.height)))
    model, _ = load_model("color", weights)
    print(f"{video.name}: {info.width}x{info.height}, {info.frame_count} frames, torch threads "
          f"{torch.get_num_threads()}")

    t = time.perf_counter()
    frames = list(read_frames(video))
    decode = (time.perf_counter() - t) / len(frames)

    flow = FlowEstimator()
    t = time.perf_counter()
    chain = ChainedWarp.identity(info.height, info.width)
    grays = [task.gray(task.prepare(f.rgb)) for f in frames]
    for a, b in zip(grays, grays[1:]):
        chain = chain.step(flow(b, a), flow(a, b))
    flow_time = (time.perf_counter() - t) / (len(frames) - 1)

    key = keys_map[0]
    inputs = [task.inputs(task.prepare(frames[1].rgb), key, chain)] * 4
    with torch.inference_mode():
        g = torch.from_numpy(np.stack([i[0] for i in inputs]))
        p = torch.from_numpy(np.stack([i[1] for i in inputs]))
        model(g[:1], p[:1])
        t = time.perf_counter()
        model(g, p)
        network = (time.perf_counter() - t) / 4

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        with VideoWriter(Path(tmp) / "o.mp4", info) as w:
            for f in frames:
                w.write(f, f.rgb)
        encode = (time.perf_counter() - t) / len(frames)

    rates = {}
    for name, m, align in [("flow baseline", Passthrough(), True), ("vprop", model, None)]:
        settings = Settings(mode="offline", align=model_aligned(model, align))
        t = time.perf_counter()
        n = sum(1 for _ in Propagator(m, task, settings)(iter(frames), keys_map))
        rates[name] = n / (time.perf_counter() - t)

    print(f"per frame: decode {decode * 1e3:.1f} ms | flow+chain {flow_time * 1e3:.1f} ms | "
          f"network {network * 1e3:.1f} ms | encode {encode * 1e3:.1f} ms")
    print(f"offline colorize (decoded frames in memory, no encode): vprop {rates['vprop']:.2f} fps, "
          f"flow baseline {rates['flow baseline']:.2f} fps, ratio {rates['vprop'] / rates['flow baseline']:.2f}")


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


def memory(short_side: int) -> None:
    memory_by_length(lambda clip, out: ["colorize", str(clip), "--keys", str(clip.with_suffix("")), "--interval",
                                        "30", "-o", f"{out}.mp4", "--quiet"], short_side, "colorize")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["speed", "memory"])
    ap.add_argument("--video", type=Path, default=EXAMPLE)
    ap.add_argument("--keys", type=Path, default=KEYS)
    ap.add_argument("--interval", type=int, default=20)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--short-side", type=int, default=180)
    a = ap.parse_args()
    speed(a.video, a.keys, a.interval, a.weights) if a.what == "speed" else memory(a.short_side)
