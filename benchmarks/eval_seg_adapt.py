"""J against adaptation steps (``vprop segment --adapt STEPS``) on held-out DAVIS videos, as users run it.

    python benchmarks/eval_seg_adapt.py [--videos a,b,...] [--steps 0,10,25,50,100] [--threads 1]
        [--lr 1e-4 --scale 0.1 --rotate 15 --shift 0.1 --elastic 0]   (AdaptConfig's defaults)
        [--grabcut] [--working-side 320]

Full 854x480 frames, the first ground-truth mask the only key, SEG(t) online (the defaults of ``vprop segment``),
J and F over every other frame with a mask. One adaptation per video runs to the largest step count; the model is
copied at each smaller one (the learning rate is constant, so the copy at N steps is the model ``--adapt N``
gives), and the seconds are those of the adaptation up to that step. Default videos: the three dev videos not
used to tune the adaptation (lucia, rhino, swing; its jitter was chosen on breakdance-flare and elephant).
``--working-side``: adapt and segment at that short side, as ``vprop segment --adapt N --working-side S`` does.
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch

from vprop.eval.baselines import model_settings, resized_frames
from vprop.eval.seg import evaluate_seg, load_truth
from vprop.models.hub import load_model
from vprop.models.seg import wrap_model
from vprop.training.adapt import AdaptConfig, adapt_seg

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis2016-train"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", default="lucia,rhino,swing")
    ap.add_argument("--steps", default="0,10,25,50,100")
    for name in ("lr", "scale", "rotate", "shift", "elastic"):
        ap.add_argument(f"--{name}", type=float, default=getattr(AdaptConfig, name))
    ap.add_argument("--weights", default=None)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--frames", type=int, default=None, help="only the first N frames (quick looks)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--grabcut", action="store_true", help="the masks snapped by GrabCut, as `vprop segment` does")
    ap.add_argument("--working-side", type=int, default=None, help="short side to adapt and segment at (default 240)")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    steps = sorted(int(s) for s in a.steps.split(","))
    model, _ = load_model("seg", a.weights)
    settings = model_settings(model, "online")
    table: dict[str, dict[int, dict[str, float]]] = {}
    for name in a.videos.split(","):
        video = a.data / f"{name}.mp4"
        frames = lambda: resized_frames(video, None, a.frames)  # noqa: E731
        first = next(frames())
        truth = load_truth(a.data / "masks" / name, first.rgb.shape[1::-1])
        key = min(truth)
        key_rgb = next(f.rgb for f in frames() if f.index == key)
        snapshots = {0: (model, 0.0)}
        t0 = time.perf_counter()

        def keep(step, adapted):
            if step in steps:
                snapshots[step] = (copy.deepcopy(adapted).eval(), time.perf_counter() - t0)
        adapt_seg(model, key_rgb, truth[key], AdaptConfig(steps=max(steps), lr=a.lr, scale=a.scale, rotate=a.rotate,
                                                               shift=a.shift, elastic=a.elastic), on_step=keep,
                  working_side=a.working_side)
        table[name] = {}
        for n in steps:
            net, seconds = snapshots[n]
            net = wrap_model(net, grabcut=True) if a.grabcut else net
            s = evaluate_seg(frames, {i: truth[i] for i in sorted(truth)}, {"vprop": (net, settings)},
                             working_side=a.working_side)["vprop"]
            table[name][n] = {"J": s.J, "F": s.F, "seconds": seconds}
            print(f"{name:18s} steps {n:4d}  J {s.J:.3f}  F {s.F:.3f}  adapt {seconds:6.1f} s", flush=True)
    print(f"\nmean over {len(table)} videos ({a.videos}), 854x480, first mask the only key, SEG(t) online, "
          f"lr {a.lr:g}, jitter scale {a.scale:g} rotate {a.rotate:g} shift {a.shift:g} elastic {a.elastic:g}, "
          f"{a.threads} thread(s){', GrabCut' if a.grabcut else ''}, short side {a.working_side or 240}")
    print(f"{'steps':>5} {'J':>6} {'F':>6} {'seconds':>8}")
    for n in steps:
        rows = [v[n] for v in table.values()]
        print(f"{n:5d} {np.mean([r['J'] for r in rows]):6.3f} {np.mean([r['F'] for r in rows]):6.3f} "
              f"{np.mean([r['seconds'] for r in rows]):8.1f}")
    if a.json:
        a.json.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
