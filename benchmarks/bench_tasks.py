"""Segment and HDR speed on the example clip, printed side by side with the optical-flow baseline.

    python benchmarks/bench_tasks.py [--task seg|hdr|both] [--frames 50] [--threads N] [--repeats 2]
                                     [--no-full-resolution] [--working-sides 280 320] [--seg-sizes 854x480 1280x720]
    python benchmarks/bench_tasks.py --memory [--task seg|hdr|both] [--short-side 180]

seg: frames/s of chained DIS-flow warping of the first mask, SEG(t) and SEG(t+s) (the shipped weights), through
the same frame loop, online, the first mask of examples/rhino_masks the only key, on the example clip resized to
each of --seg-sizes (default its own 854x480): at the frames' size and at the working size `vprop segment` uses by
default (short side 240, labels answered at the frames' size), with the GrabCut snap and the memory of the frame
before as `vprop segment` runs by default, and SEG(t) without the memory (`--no-memory`) and without the snap
(`--no-grabcut`); `--working-sides`: SEG(t) at those working sizes too, with and without the snap, and HDR at
those sizes ("vprop @SIDE", as `vprop hdr --working-side SIDE`).
hdr: frames/s of both keys flow-warped and blended (the baseline), of vprop as `vprop hdr` runs by default (the
working size, short side 240, detail carried and the LDR blended at full size) and of vprop --full-resolution,
offline, a key every 20 frames, on the example clip resized to each of --sizes (default 854x480 and 1280x720),
its HDR keys made by inverting the camera curve (the content does not change the speed).
Frames are decoded once beforehand: the figures are the propagation, not the decoder or the encoder. Each run is
repeated --repeats times, the runs of one task interleaved, and the best kept: on a shared machine the load comes
and goes, and only figures measured side by side in one run compare. --no-full-resolution skips the slow vprop
rows at the frames' own size.
--memory: peak RSS of `vprop segment` (first mask the only key) and of `vprop hdr` (an EXR key every 20 frames)
on a 100-frame and a 1,000-frame clip (the example looped), each in a fresh process.
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


def frame_sizes(sizes: list[str]) -> list[tuple[int, int]]:
    """(width, height) of each "WxH"."""
    return [tuple(int(v) for v in size.lower().split("x")) for size in sizes]


def show(task: str, rates: dict[str, float]) -> None:
    base = rates["flow baseline"]
    for name, r in rates.items():
        print(f"{task:13s} {name:<24} {r:6.2f} frames/s  {1000 / r:7.1f} ms/frame  {r / base:5.2f}x flow")


def bench_seg(frames, repeats: int, full_resolution: bool, sizes: list[tuple[int, int]],
              working_sides: list[int] = ()) -> None:
    import cv2

    from vprop.engine.masks import propagate_masks
    from vprop.engine.propagator import Settings
    from vprop.eval.baselines import Passthrough
    from vprop.io.images import read_mask
    from vprop.io.video import VideoFrame
    from vprop.models.hub import load_model

    model, _ = load_model("seg")
    refiner, _ = load_model("seg-refine")
    settings = Settings(mode="online", align=True)
    for width, height in sizes:
        sized = [VideoFrame(f.index, cv2.resize(f.rgb, (width, height), interpolation=cv2.INTER_AREA), f.pts,
                            f.time_base) for f in frames]
        key = {0: cv2.resize(read_mask(MASK), (width, height), interpolation=cv2.INTER_NEAREST)}

        def runner(net=model, side=None, **options):
            return lambda: propagate_masks(net, iter(sized), key, settings, working_short_side=side, **options)

        runs = {
            "flow baseline": runner(Passthrough()),
            # what `vprop segment` runs by default: the models' training size, probabilities up-sampled
            "SEG(t) @240": runner(side=240, grabcut=True, memory=True),
            "SEG(t) @240 no memory": runner(side=240, grabcut=True),
            "SEG(t) @240 no grabcut": runner(side=240),
            "SEG(t+s) @240": runner(side=240, refiner=refiner, grabcut=True),
        }
        for side in working_sides:    # other working sizes, as `vprop segment --working-side S` runs them
            runs[f"SEG(t) @{side}"] = runner(side=side, grabcut=True, memory=True)
            runs[f"SEG(t) @{side} no grabcut"] = runner(side=side)
        if full_resolution:
            runs["SEG(t)"] = runner(grabcut=True)
            runs["SEG(t+s)"] = runner(refiner=refiner, grabcut=True)
        show(f"seg {width}x{height}", best_rates(runs, len(sized), repeats))


def bench_hdr(frames, repeats: int, full_resolution: bool, sizes: list[tuple[int, int]],
              working_sides: list[int] = ()) -> None:
    import cv2

    from vprop.engine.propagator import Settings
    from vprop.engine.working import working_short_side, working_size
    from vprop.eval.baselines import Passthrough
    from vprop.io.video import VideoFrame
    from vprop.models.hub import load_model
    from vprop.pipelines.hdr import propagate_hdr
    from vprop.tasks import hdr

    model, _ = load_model("hdr")
    log_mean = model.cfg.extra.get("log_mean", 0.0)
    for width, height in sizes:
        sized = [VideoFrame(f.index, cv2.resize(f.rgb, (width, height), interpolation=cv2.INTER_AREA), f.pts,
                            f.time_base) for f in frames]
        radiance = {f.index: hdr.HDRCNN_CURVE.inverse(f.rgb.astype(np.float32) / 255.0) * 4.0
                    for f in sized if f.index % 20 == 0}

        def runner(net, size):
            settings = Settings(mode="offline", repair=net is model)     # vprop as `vprop hdr` runs it

            def run():
                blender = hdr.Blender(mode="offline")
                for _, radiance_out in propagate_hdr(net, settings, iter(sized), radiance, size,
                                                     blender, log_mean=log_mean):
                    yield radiance_out
            return run

        runs = {"flow baseline": runner(Passthrough(), None),
                "vprop": runner(model, working_size(width, height, working_short_side(model)))}
        for side in working_sides:
            runs[f"vprop @{side}"] = runner(model, working_size(width, height, side))
        if full_resolution:
            runs["vprop --full-resolution"] = runner(model, None)
        show(f"hdr {width}x{height}", best_rates(runs, len(sized), repeats))


def memory(short_side: int, task: str) -> None:
    import cv2
    from PIL import Image

    from bench_colorize import memory_by_length   # the same looped example and measurement as colorize
    from vprop.io.images import read_mask, write_exr
    from vprop.io.video import read_frames

    def segment(clip: Path, out: Path) -> list[str]:
        first = next(iter(read_frames(clip))).rgb
        mask = out.with_suffix(".png")
        Image.fromarray(cv2.resize(read_mask(MASK), first.shape[1::-1], interpolation=cv2.INTER_NEAREST)).save(mask)
        return ["segment", str(clip), "--mask", str(mask), "-o", str(out), "--quiet"]

    def hdr(clip: Path, out: Path) -> list[str]:
        keys = out.with_name(out.name + "-keys")
        keys.mkdir()
        for frame in read_frames(clip):     # a key every 20 frames, its radiance by the inverse of a 2.2 curve
            if frame.index % 20 == 0:
                write_exr(keys / f"{frame.index:05d}.exr", (frame.rgb.astype(np.float32) / 255.0) ** 2.2)
        return ["hdr", str(clip), "--hdr-keys", str(keys), "--interval", "20", "-o", str(out), "--quiet"]

    for name, label, command in (("seg", "segment", segment), ("hdr", "hdr", hdr)):
        if task in (name, "both"):
            memory_by_length(command, short_side, label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=["seg", "hdr", "both"], default="both")
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs of each, the best kept")
    parser.add_argument("--no-full-resolution", action="store_true",
                        help="skip the slow vprop rows at the frames' own size")
    parser.add_argument("--sizes", nargs="+", default=["854x480", "1280x720"], help="hdr: frame sizes WxH")
    parser.add_argument("--seg-sizes", nargs="+", default=["854x480"], help="seg: frame sizes WxH")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--short-side", type=int, default=180)
    parser.add_argument("--working-sides", type=int, nargs="+", default=[],
                        help="also SEG(t) (with and without the cut) and HDR at these working short sides")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory:
        return memory(args.short_side, args.task)
    from vprop.io.video import probe, read_frames

    info = probe(VIDEO)
    frames = [f for f, _ in zip(read_frames(VIDEO), range(args.frames))]
    print(f"{VIDEO.name}: {info.width}x{info.height}, {len(frames)} frames, torch threads {torch.get_num_threads()}")
    if args.task in ("seg", "both"):
        bench_seg(frames, args.repeats, not args.no_full_resolution, frame_sizes(args.seg_sizes), args.working_sides)
    if args.task in ("hdr", "both"):
        bench_hdr(frames, args.repeats, not args.no_full_resolution, frame_sizes(args.sizes), args.working_sides)


if __name__ == "__main__":
    main()
