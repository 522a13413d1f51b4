"""Segment and HDR speed at the example's 854x480, printed side by side with the optical-flow baseline.

    python benchmarks/bench_tasks.py [--task seg|hdr|both] [--frames 50] [--threads N] [--repeats 2]
                                     [--no-full-resolution]
    python benchmarks/bench_tasks.py --memory [--short-side 180]

seg: frames/s of chained DIS-flow warping of the first mask, SEG(t) and SEG(t+s) (the shipped weights), through
the same frame loop, online, the first mask of examples/rhino_masks the only key; at the frames' size and at the
working size `vprop segment` uses by default (short side 240, labels answered at 854x480).
hdr: frames/s of flow warping and of vprop (offline, a key every 20 frames, eq. 10 blending) on the example
clip, its HDR keys made by inverting the camera curve (the content does not change the speed).
Frames are decoded once beforehand: the figures are the propagation, not the decoder or the encoder. Each run is
repeated --repeats times, the runs of one task interleaved, and the best kept: on a shared machine the load comes
and goes, and only figures measured side by side in one run compare. --no-full-resolution skips the slow seg rows
at the frames' own size.
--memory: peak RSS of `vprop segment` on a 100-frame and a 1,000-frame clip (the example looped, first mask the
only key), each in a fresh process.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT / "examples" / "rhino.mp4"
MASK = ROOT / "examples" / "rhino_masks" / "00000.png"


def rate(run, frames: int) -> float:
    t = time.perf_counter()
    n = sum(1 for _ in run())
    assert n == frames, (n, frames)
    return frames / (time.perf_counter() - t)


def best_rates(runs: dict, frames: int, repeats: int) -> dict[str, float]:
    """frames/s of each run, the best of ``repeats`` interleaved turns."""
    rates: dict[str, float] = {}
    for _ in range(repeats):
        for name, run in runs.items():
            rates[name] = max(rates.get(name, 0.0), rate(run, frames))
    return rates


def show(task: str, rates: dict[str, float]) -> None:
    base = rates["flow baseline"]
    for name, r in rates.items():
        print(f"{task:4s} {name:<14} {r:6.2f} frames/s  {1000 / r:7.1f} ms/frame  {r / base:5.2f}x flow")


def bench_seg(frames, repeats: int, full_resolution: bool) -> None:
    from vprop.engine.masks import propagate_masks
    from vprop.engine.propagator import Settings
    from vprop.eval.baselines import Passthrough
    from vprop.io.images import read_mask
    from vprop.models.hub import load_model

    key = {0: read_mask(MASK)}
    model, _ = load_model("seg")
    refiner, _ = load_model("seg-refine")
    settings = Settings(mode="online", align=True)
    runs = {
        "flow baseline": lambda: propagate_masks(Passthrough(), iter(frames), key, settings),
        # what `vprop segment` runs by default: the models' training size, probabilities up-sampled
        "SEG(t) @240": lambda: propagate_masks(model, iter(frames), key, settings, working_short_side=240),
        "SEG(t+s) @240": lambda: propagate_masks(model, iter(frames), key, settings, refiner=refiner,
                                                 working_short_side=240),
    }
    if full_resolution:
        runs["SEG(t)"] = lambda: propagate_masks(model, iter(frames), key, settings)
        runs["SEG(t+s)"] = lambda: propagate_masks(model, iter(frames), key, settings, refiner=refiner)
    show("seg", best_rates(runs, len(frames), repeats))


def bench_hdr(frames, repeats: int) -> None:
    from vprop.engine.propagator import Propagator, Settings
    from vprop.eval.baselines import Passthrough
    from vprop.models.hub import load_model
    from vprop.tasks import hdr

    model, _ = load_model("hdr")
    log_mean = model.cfg.extra.get("log_mean", 0.0)
    keys = {}
    for i in range(0, len(frames), 20):
        ldr = frames[i].rgb
        keys[i] = hdr.HDRKey(hdr.HDRCNN_CURVE.inverse(ldr.astype(np.float32) / 255.0) * 4.0, ldr)

    def runner(net):
        def run():
            task = hdr.HDRTask(log_mean=log_mean)
            blender = hdr.Blender(mode="offline")
            for i, key in keys.items():
                blender.add_key(i, key)
            radiance = {i: key.hdr for i, key in keys.items()}
            for frame, estimate in Propagator(net, task, Settings(mode="offline"))(iter(frames), radiance):
                yield blender(frame.index, frame.rgb, estimate)
        return run
    show("hdr", best_rates({"flow baseline": runner(Passthrough()), "vprop": runner(model)}, len(frames), repeats))


def memory(short_side: int) -> None:
    import cv2
    from PIL import Image

    from bench_colorize import memory_by_length   # the same looped example and measurement as colorize
    from vprop.io.images import read_mask
    from vprop.io.video import read_frames

    def command(clip: Path, out: Path) -> list[str]:
        first = next(iter(read_frames(clip))).rgb
        mask = out.with_suffix(".png")
        Image.fromarray(cv2.resize(read_mask(MASK), first.shape[1::-1], interpolation=cv2.INTER_NEAREST)).save(mask)
        return ["segment", str(clip), "--mask", str(mask), "-o", str(out), "--quiet"]

    memory_by_length(command, short_side, "segment")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=["seg", "hdr", "both"], default="both")
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs of each, the best kept")
    parser.add_argument("--no-full-resolution", action="store_true", help="seg: skip the rows at 854x480")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--short-side", type=int, default=180)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory:
        return memory(args.short_side)
    from vprop.io.video import probe, read_frames

    info = probe(VIDEO)
    frames = [f for f, _ in zip(read_frames(VIDEO), range(args.frames))]
    print(f"{VIDEO.name}: {info.width}x{info.height}, {len(frames)} frames, torch threads {torch.get_num_threads()}")
    if args.task in ("seg", "both"):
        bench_seg(frames, args.repeats, not args.no_full_resolution)
    if args.task in ("hdr", "both"):
        bench_hdr(frames, args.repeats)


if __name__ == "__main__":
    main()
