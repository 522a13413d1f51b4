"""Colour quality on the held-out DAVIS videos: vprop beside copy and chained-flow baselines, mean over videos.

    python benchmarks/eval_color_dev.py --weights weights/color-stpn.safetensors --mode online --short-side 240

The dev split is the one the shipped weights never saw (weights/README.md). Prints one row per K and writes
the per-video numbers as JSON when --json is given.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from vprop.eval.baselines import resized_frames
from vprop.eval.color import color_methods, evaluate_color
from vprop.models.hub import load_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis2016-train"
DEV = ["breakdance-flare", "elephant", "lucia", "rhino", "swing"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=None)
    ap.add_argument("--mode", choices=["online", "offline"], default="online")
    ap.add_argument("--intervals", type=int, nargs="+", default=[10, 20, 30, 40])
    ap.add_argument("--short-side", type=int, default=240)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, _ = load_model("color", a.weights)
    per_video: dict[int, dict[str, dict[str, float]]] = {}
    for k in a.intervals:
        for name in DEV:
            video = a.data / f"{name}.mp4"
            scores = evaluate_color(lambda: resized_frames(video, a.short_side), k, color_methods(model, a.mode))
            per_video.setdefault(k, {})[name] = {m: s.psnr for m, s in scores.items()}
            print(f"K={k:3d} {name:18s} " + "  ".join(f"{m} {v:.2f}" for m, v in per_video[k][name].items()),
                  flush=True)
    methods = list(next(iter(next(iter(per_video.values())).values())))
    print(f"\nmean PSNR (dB) over {len(DEV)} dev videos, mode {a.mode}, short side {a.short_side}")
    print(f"{'K':>4} " + " ".join(f"{m:>12}" for m in methods))
    for k, videos in per_video.items():
        print(f"{k:>4} " + " ".join(f"{np.mean([v[m] for v in videos.values()]):12.2f}" for m in methods))
    if a.json:
        a.json.write_text(json.dumps(per_video, indent=1))


if __name__ == "__main__":
    main()
