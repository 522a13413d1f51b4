"""Colour at the video's own size (DAVIS: 854x480): vprop as it runs by default (the working size, short side
240, chroma up-sampled onto each frame's lightness, the key's fine chroma carried along the alignment and its
colours looked up where chains failed), the same without that detail ("vprop enlarge-only"), without the look-up
("vprop --no-lookup"), vprop --full-resolution, the flow baselines at full size, and the flow baseline run through
vprop's working-size path without the network ("flow at working size", offline "flow-2sided at working size"):
what the network adds, apart from what the working size costs.

    python benchmarks/eval_color_sizes.py --interval 10 --mode online
    python benchmarks/eval_color_sizes.py --interval 30 --mode offline --json k30.json
    python benchmarks/eval_color_sizes.py --videos ../shared/data/clips/pexels-*.mp4 --no-full-resolution
    python benchmarks/eval_color_sizes.py --methods flow vprop      (only these methods)
    python benchmarks/eval_color_sizes.py --working-flow medium-full  (the flow at the working size)
    python benchmarks/eval_color_sizes.py --working-sides 320 480     (vprop at other working sizes too)

--videos takes DAVIS names (under --data) or paths to any colour clip: the Pexels clips were never used to train
or choose the shipped colour weights, so they are a hold-out at real sizes (960x720, 960x506, 540x960).

Keys every K frames from the true colour frames; each method colours the rest from their lightness alone.
Prints the mean PSNR (RGB, non-key frames) and the CDC (flicker; vprop.eval.metrics) of each method per video,
then the means over the dev videos, with the ground truth's own CDC.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

import vprop  # noqa: F401  (before torch: the OpenMP wait policy the `vprop` command runs with)
import torch
from vprop.engine.flow import FLOW_PRESETS
from vprop.engine.propagator import Propagator, Settings
from vprop.engine.working import working_short_side, working_size
from vprop.eval.baselines import Passthrough
from vprop.eval.metrics import ColorConsistency, cdc, psnr
from vprop.io.video import read_frames
from vprop.models.hub import load_model
from vprop.pipelines.colorize import propagate_color
from vprop.tasks.color import ColorTask, rgb_to_lab

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis2016-train"
DEV = ["breakdance-flare", "elephant", "lucia", "rhino", "swing"]


def methods(model: torch.nn.Module, mode: str, size: tuple[int, int] | None, full_resolution: bool = True,
            working_flow: str = Settings.working_flow, other_sizes: dict[int, tuple[int, int] | None] = {}) -> dict:
    """name -> (frames, keys) -> (frame, RGB output) for every frame. ``other_sizes``: short side -> working size
    of "vprop @SIDE", as `vprop colorize --working-side SIDE` runs."""
    # vprop as `vprop colorize` runs it; the flow baselines plain
    settings = Settings(mode=mode, repair=True, lookup=True, key_check=True, working_flow=working_flow)
    runs = {"flow": lambda frames, keys: Propagator(Passthrough(), ColorTask(), Settings(mode="online"))(frames, keys)}
    if mode == "offline":
        two_sided = Propagator(Passthrough(), ColorTask(), Settings(mode=mode))
        runs["flow-2sided"] = lambda frames, keys: two_sided(frames, keys)
    # The same flow baseline through vprop's working-size path (its flow, warps and carried detail, no network):
    # what the network adds there, apart from what the working size costs.
    baseline = "flow-2sided" if mode == "offline" else "flow"
    plain = Settings(mode=mode, working_flow=working_flow)
    runs[f"{baseline} at working size"] = lambda frames, keys: propagate_color(Passthrough(), plain, frames, keys,
                                                                                size)
    if full_resolution:
        runs["vprop --full-resolution"] = lambda frames, keys: propagate_color(model, settings, frames, keys)
    runs["vprop enlarge-only"] = lambda frames, keys: propagate_color(model, settings, frames, keys, size,
                                                                      detail=False)
    unlooked = replace(settings, lookup=False)
    runs["vprop --no-lookup"] = lambda frames, keys: propagate_color(model, unlooked, frames, keys, size)
    runs["vprop"] = lambda frames, keys: propagate_color(model, settings, frames, keys, size)
    for side, other in other_sizes.items():
        runs[f"vprop @{side}"] = lambda frames, keys, other=other: propagate_color(model, settings, frames, keys, other)
    return runs


def evaluate(video: Path, interval: int, runs: dict, stop: int | None = None) -> dict[str, dict[str, float]]:
    keys = {f.index: rgb_to_lab(f.rgb) for f in read_frames(video, stop=stop) if f.index % interval == 0}
    scores = {}
    for name, run in runs.items():
        start, errors, flicker = time.perf_counter(), [], ColorConsistency()
        for (frame, out), truth in zip(run(read_frames(video, stop=stop), keys), read_frames(video, stop=stop)):
            flicker.add(out)
            if frame.index not in keys:
                errors.append(psnr(float(np.mean((out.astype(np.float32) - truth.rgb) ** 2))))
        scores[name] = {"psnr": float(np.mean(errors)), "cdc": flicker.value, "seconds": time.perf_counter() - start}
    scores["truth"] = {"cdc": cdc(f.rgb for f in read_frames(video, stop=stop))}
    return scores


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=None)
    ap.add_argument("--mode", choices=["online", "offline"], default="online")
    ap.add_argument("--interval", type=int, default=10)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--videos", nargs="+", default=DEV)
    ap.add_argument("--no-full-resolution", dest="full_resolution", action="store_false",
                    help="leave out vprop --full-resolution (the slow one at 720p and above)")
    ap.add_argument("--working-flow", default=Settings.working_flow, choices=sorted(FLOW_PRESETS),
                    help="the flow's configuration at the working size (Settings.working_flow)")
    ap.add_argument("--working-sides", type=int, nargs="+", default=[],
                    help="also vprop at these working short sides (`vprop colorize --working-side`): 'vprop @SIDE'")
    ap.add_argument("--frames", type=int, default=None, help="only each video's first N frames (default: all)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--methods", nargs="+", default=None, help="run only these methods (default: all)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    model, _ = load_model("color", a.weights)
    per_video = {}
    for name in a.videos:
        video = Path(name) if Path(name).is_file() else a.data / f"{name}.mp4"
        name = video.stem[:40]
        first = next(read_frames(video)).rgb
        size = working_size(first.shape[1], first.shape[0], working_short_side(model))
        others = {side: working_size(first.shape[1], first.shape[0], side) for side in a.working_sides}
        runs = methods(model, a.mode, size, a.full_resolution, a.working_flow, others)
        unknown = set(a.methods or ()) - set(runs)
        if unknown:
            ap.error(f"--methods: unknown {sorted(unknown)}; choose from {list(runs)}")
        per_video[name] = evaluate(video, a.interval, {m: r for m, r in runs.items() if not a.methods or m in a.methods},
                                   a.frames)
        print(f"{name:18s} " + "  ".join(f"{m} {s['psnr']:.2f} dB / CDC {s['cdc']:.5f}"
                                         for m, s in per_video[name].items() if m != "truth"), flush=True)
    names = [m for m in next(iter(per_video.values())) if m != "truth"]
    print(f"\nmean over {len(per_video)} videos at their own size, K={a.interval}, mode {a.mode}; "
          f"ground truth CDC {np.mean([v['truth']['cdc'] for v in per_video.values()]):.5f}")
    for m in names:
        print(f"{m:24s} PSNR {np.mean([v[m]['psnr'] for v in per_video.values()]):6.2f} dB  "
              f"CDC {np.mean([v[m]['cdc'] for v in per_video.values()]):.5f}  "
              f"({sum(v[m]['seconds'] for v in per_video.values()):.0f} s)")
    if a.json:
        a.json.write_text(json.dumps(per_video, indent=1))


if __name__ == "__main__":
    main()
