"""Where colour errors sit: squared error of chained flow and of vprop, split by the flow chain's confidence.

    python benchmarks/error_by_confidence.py breakdance-flare lucia swing [--interval 10] [--frames 120]

Online, a key every --interval frames from the true colours, each video at its own size. For each confidence
bin of the flow chain from the preceding key (``ChainedWarp.confidence``) it prints the share of the pixels,
each method's share of the total squared error, and its mean squared error (RGB, 0-255).
"""
import argparse
from pathlib import Path

import numpy as np

import vprop  # noqa: F401  (before torch: the OpenMP wait policy the `vprop` command runs with)
from eval_color_sizes import DATA
from vprop.engine.propagator import Propagator, Settings
from vprop.engine.working import working_short_side, working_size
from vprop.eval.baselines import Passthrough
from vprop.io.video import read_frames
from vprop.models.hub import load_model
from vprop.pipelines.colorize import propagate_color
from vprop.tasks.color import ColorTask, rgb_to_lab

BINS = [0, 0.05, 0.3, 0.7, 1.01]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("videos", nargs="+", help="DAVIS names (under ../shared/data/davis2016-train) or paths")
    ap.add_argument("--interval", type=int, default=10)
    ap.add_argument("--frames", type=int, default=120)
    a = ap.parse_args()
    model, _ = load_model("color")
    for name in a.videos:
        video = Path(name) if Path(name).is_file() else DATA / f"{name}.mp4"
        frames = list(read_frames(video, stop=a.frames))
        keys = {f.index: rgb_to_lab(f.rgb) for f in frames if f.index % a.interval == 0}
        height, width = frames[0].rgb.shape[:2]
        confidence = {}
        flow = Propagator(Passthrough(), ColorTask(), Settings(mode="online"))(
            iter(frames), keys, on_sides=lambda i, sides: confidence.__setitem__(i, sides[0].chain.confidence()))
        ours = propagate_color(model, Settings(mode="online", repair=True), iter(frames), keys,
                               working_size(width, height, working_short_side(model)))
        outputs = {"flow": {f.index: o for f, o in flow}, "vprop": {f.index: o for f, o in ours}}
        total = {m: np.zeros(len(BINS) - 1) for m in outputs}
        count = np.zeros(len(BINS) - 1)
        for frame in frames:
            if frame.index in keys:
                continue
            bins = (np.digitize(confidence[frame.index], BINS) - 1).ravel()
            for method, out in outputs.items():
                error = ((out[frame.index].astype(np.float32) - frame.rgb) ** 2).mean(-1).ravel()
                total[method] += np.bincount(bins, error, len(BINS) - 1)
            count += np.bincount(bins, minlength=len(BINS) - 1)
        print(f"{video.stem}: pixels per confidence bin {BINS}: {np.round(count / count.sum(), 3)}")
        for method, t in total.items():
            print(f"  {method:6s} share of squared error {np.round(t / t.sum(), 3)}  MSE per bin "
                  f"{np.round(t / np.maximum(count, 1), 1)}  MSE {t.sum() / count.sum():.2f}")


if __name__ == "__main__":
    main()
