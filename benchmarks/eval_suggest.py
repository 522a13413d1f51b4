"""Do the keys `vprop keys --suggest` picks help more than evenly spaced ones? Held-out DAVIS videos.

    python benchmarks/eval_suggest.py [--extra 2] [--interval 30] [--short-side 240] [--task color seg]

Colour: keys every --interval frames from the ground truth, online; masks: the first ground-truth mask, online
(SEG(t), as `vprop segment` runs by default). Each video is run three times: the base keys only; plus --extra
keys spaced as evenly as the base keys allow (each added where the longest stretch without a key is); plus
--extra keys suggested from the base run's confidence report, which holds no ground truth. Every row is scored
on the same frames, all but the base keys (an added key counts with its own, near-perfect, output): mean PSNR
per frame for colour, mean J per frame for masks.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from vprop.engine.confidence import ConfidenceReport, load_report
from vprop.engine.masks import propagate_masks
from vprop.engine.propagator import Propagator, Settings
from vprop.engine.suggest import suggest_keys
from vprop.engine.working import working_short_side
from vprop.eval.baselines import resized_frames
from vprop.eval.metrics import jaccard, psnr
from vprop.eval.seg import load_truth
from vprop.models.hub import load_model
from vprop.tasks import seg
from vprop.tasks.color import ColorTask
from vprop.training.run import SEG_DEV

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis2016-train"
ROWS = ("base", "+even", "+suggested")


def evenly_spaced(keys: list[int], frame_count: int, extra: int) -> list[int]:
    """``extra`` new keys that make the longest stretch without a key as short as possible (online: a key serves
    the frames up to the next key or the end), each stretch split into equal parts."""
    starts = sorted(keys)
    lengths = [b - a for a, b in zip(starts, starts[1:] + [frame_count])]
    parts = [1] * len(starts)
    for _ in range(extra):
        worst = max(range(len(starts)), key=lambda i: lengths[i] / parts[i])
        parts[worst] += 1
    return sorted(a + round(j * n / p) for a, n, p in zip(starts, lengths, parts) for j in range(1, p))


def compare(run, base: list[int], frame_count: int, extra: int, task: str) -> dict:
    """The score of ``run(keys, on_confidence)`` with the base keys, plus ``extra`` even ones, plus ``extra``
    suggested from the base run's confidence report alone (written and read back as `vprop keys` does)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = ConfidenceReport(Path(tmp) / "report", video="dev", task=task, mode="online")
        base_score = run(base, report)
        report.write()
        chosen = sorted(suggest_keys(load_report(Path(tmp) / "report"), extra))
    even = evenly_spaced(base, frame_count, extra)
    return {"keys": {"base": base, "+even": even, "+suggested": chosen},
            "base": base_score, "+even": run(sorted(base + even)), "+suggested": run(sorted(base + chosen))}


def color_video(model, video: Path, a) -> dict:
    frames = lambda: resized_frames(video, a.short_side)  # noqa: E731
    truth = [f.rgb for f in frames()]
    task = ColorTask()
    settings = Settings(mode="online", align=True, batch_size=4)
    base = list(range(0, len(truth), a.interval))

    def run(keys, on_confidence=None) -> float:
        key_data = {f.index: task.prepare_key(f.rgb) for f in frames() if f.index in keys}
        scores = [psnr(float(np.mean((out.astype(np.float32) - truth[f.index].astype(np.float32)) ** 2)))
                  for f, out in Propagator(model, task, settings)(frames(), key_data, on_confidence)
                  if f.index not in base]
        return float(np.mean(scores))

    return compare(run, base, len(truth), a.extra, "color")


def seg_video(model, video: Path, masks: Path, a) -> dict:
    frames = lambda: resized_frames(video, a.short_side)  # noqa: E731
    first = next(frames())
    truth = load_truth(masks, first.rgb.shape[1::-1])
    count = sum(1 for _ in frames())
    ids = seg.object_ids(truth[min(truth)])
    settings = Settings(mode="online", align=True, batch_size=4)
    base = [min(truth)]

    def run(keys, on_confidence=None) -> float:
        scores = [np.mean([jaccard(out == i, truth[f.index] == i) for i in ids])
                  for f, out in propagate_masks(model, frames(), {k: truth[k] for k in keys}, settings, ids=ids,
                                                working_short_side=working_short_side(model),
                                                on_confidence=on_confidence)
                  if f.index in truth and f.index not in base]
        return float(np.mean(scores))

    return compare(run, base, count, a.extra, "seg")


def table(title: str, results: dict[str, dict], unit: str) -> None:
    print(f"\n{title}")
    print(f"{'video':<18} " + " ".join(f"{r:>11}" for r in ROWS) + "   keys added: even / suggested")
    for name, r in results.items():
        print(f"{name:<18} " + " ".join(f"{r[row]:11.3f}" for row in ROWS)
              + f"   {r['keys']['+even']} / {r['keys']['+suggested']}")
    means = [np.mean([r[row] for r in results.values()]) for row in ROWS]
    print(f"{'mean ' + unit:<18} " + " ".join(f"{m:11.3f}" for m in means))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", nargs="+", choices=["color", "seg"], default=["color", "seg"])
    ap.add_argument("--extra", type=int, default=2, help="keys added to the base keys (N)")
    ap.add_argument("--interval", type=int, default=30, help="colour: base keys every K frames")
    ap.add_argument("--short-side", type=int, default=240)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    out = {}
    if "color" in a.task:
        model, _ = load_model("color")
        out["color"] = {}
        for name in SEG_DEV:
            out["color"][name] = color_video(model, a.data / f"{name}.mp4", a)
            print(name, {k: v for k, v in out["color"][name].items()}, flush=True)
        table(f"colour, online, keys every {a.interval} + {a.extra}: PSNR (dB) of the frames between the base keys",
              out["color"], "PSNR")
    if "seg" in a.task:
        model, _ = load_model("seg")
        out["seg"] = {}
        for name in SEG_DEV:
            out["seg"][name] = seg_video(model, a.data / f"{name}.mp4", a.data / "masks" / name, a)
            print(name, {k: v for k, v in out["seg"][name].items()}, flush=True)
        table(f"masks, SEG(t) online, first mask + {a.extra}: J of the frames after the first", out["seg"], "J")
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
