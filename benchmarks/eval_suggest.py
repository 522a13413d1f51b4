"""Do the keys `vprop keys --suggest` picks help more than evenly spaced ones? All 30 DAVIS videos, split, and the
longer real clips.

    python benchmarks/eval_suggest.py --split tune|holdout|clips [--task color seg] [--extra 2 | --double]
        [--interval 30] [--rules even step ...] [--oracle] [--as-run] [--short-side 0] [--cache DIR] [--json OUT]
        [--threads 1]

Colour: keys every --interval frames from the ground truth; masks: the first ground-truth mask (SEG(t)); both
online, at the videos' own size (854x480) through the CLI's own path: propagated at the model's working size and
answered at full size (``propagate_color`` / ``propagate_masks``). Each video is run with the base keys (writing
the confidence report that `vprop keys --suggest` reads) and with --extra keys added by each rule: ``even``
(``evenly_spaced``) or a rule of ``vprop.engine.suggest`` fed the base run's report alone (no ground truth).
Every row is scored on the same frames, all but the base keys (an added key counts with its own output): mean
PSNR per frame for colour, mean J per frame for masks.

Split: ``tune`` is the five seg dev videos (on which the first rule was picked) and the first five of the rest in
alphabetical order; rules and parameters are chosen there only. ``holdout`` is the other 20, for the report.
(The seg and colour networks were trained on DAVIS-train videos other than the five dev ones: the hold-out videos
are the networks' training footage, which favours no key placement over another.) ``clips`` is colour only: the
clips of ../shared/data/clips with at least LONG_CLIP frames (2 to 8 times a DAVIS video's length, where a few
stretches between keys may be harder than the rest); with ``--double`` as many keys are added as there are base
keys, so that ``even`` is the middle of every stretch: the budget of keying every --interval / 2 frames.

Online, a frame's output depends only on the key before it, so each key's run is made once per video (as far as
the next key of any key set asked) and shared by every key set (``Scores``); --cache keeps them between runs.

--as-run measures as the CLI now runs them instead: colour offline (colorize's default) with chains mended, the
look-up and the key check; masks with the cut and the memory, the first mask online and the runs with added keys
offline (segment's default with two or more masks); the rules place keys from the base run's report as
`vprop keys --suggest` does (for its mode: masks from one key online). Offline, a frame depends on the keys on
both sides, so each key set is run whole. ``even-ends`` is a second even placement for offline runs: the last
frame a key, the other new keys as ``even`` places them. ``spread-offline``: ``spread`` placing keys for an
offline run whatever the report's mode (tried for masks; not what `keys --suggest` does).

--oracle adds the row no rule can beat: the --extra keys placed where the ground truth says they help most, found by
running a key from every frame (``best_keys``). It bounds what any placement rule could gain over even spacing.
"""
from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from vprop.engine.confidence import ConfidenceReport, load_report
from vprop.engine.masks import propagate_masks
from vprop.engine.suggest import RULES, suggest_keys
from vprop.engine.working import working_short_side, working_size
from vprop.eval.baselines import model_settings, resized_frames
from vprop.eval.metrics import jaccard, psnr
from vprop.eval.seg import load_truth
from vprop.io.video import probe
from vprop.models.hub import load_model
from vprop.pipelines.segment import default_mode
from vprop.pipelines.colorize import propagate_color
from vprop.tasks import seg
from vprop.tasks.color import rgb_to_lab
from vprop.training.run import SEG_DEV

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis2016-train"
CLIPS = DATA.parent / "clips"
LONG_CLIP = 200     # frames: the clips of --split clips are at least this long


def split(data: Path, clips: Path = CLIPS) -> dict[str, list[Path]]:
    names = sorted(p.stem for p in data.glob("*.mp4"))
    rest = [n for n in names if n not in SEG_DEV]
    tune = sorted(SEG_DEV) + rest[:5]
    long_clips = [p for p in sorted(clips.glob("*")) if (probe(str(p)).frame_count or 0) >= LONG_CLIP]
    return {"tune": [data / f"{n}.mp4" for n in tune],
            "holdout": [data / f"{n}.mp4" for n in names if n not in tune], "clips": long_clips}


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


def even_with_last(keys: list[int], frame_count: int, extra: int) -> list[int]:
    """``extra`` new keys: the last frame (an offline run blends the keys on both sides, so a key there closes the
    video), then ``evenly_spaced`` ones."""
    last = frame_count - 1
    closing = [] if last in keys else [last]
    return sorted(closing + evenly_spaced(sorted(keys + closing), frame_count, extra - len(closing)))


class Scores:
    """Per-frame scores of one video propagated from any key set. ``run(start, stop, keys, report, mode)`` scores
    frames start..stop-1 propagated from ``keys``. Online a frame's score depends only on the key before it, so
    ``from_key[k]`` (frame k onwards, from key k alone) is computed once, as far as asked, and reused (``frames``);
    offline each key set's whole run is kept (``offline``)."""

    def __init__(self, run, frame_count: int, cached: dict | None = None):
        self.run, self.count = run, frame_count
        cached = cached or {}
        self.from_key: dict[int, list[float]] = {int(k): v for k, v in cached.items() if not k.startswith("all")}
        self.whole: dict[str, list[float]] = {k: v for k, v in cached.items() if k.startswith("all")}

    def offline(self, keys: list[int], report=None) -> np.ndarray:
        """Every frame's score propagated offline from ``keys``, the whole video run once per key set."""
        name = "all" + ",".join(map(str, sorted(set(keys))))
        if name not in self.whole or report is not None:
            self.whole[name] = self.run(0, self.count, sorted(set(keys)), report, "offline")
        return np.array(self.whole[name])

    def cached(self) -> dict:
        return {**{str(k): v for k, v in self.from_key.items()}, **self.whole}

    def base(self, keys: list[int], report) -> None:
        """The base run, whole video, writing ``report``; it fills ``from_key`` for the base keys."""
        scores = self.run(0, self.count, keys, report, "online")
        bounds = sorted(keys) + [self.count]
        for k, stop in zip(bounds, bounds[1:]):
            self.from_key[k] = scores[k:stop]

    def frames(self, keys: list[int]) -> np.ndarray:
        bounds = sorted(set(keys)) + [self.count]
        out = []
        for k, stop in zip(bounds, bounds[1:]):
            if len(self.from_key.get(k, [])) < stop - k:
                self.from_key[k] = self.run(k, stop, [k], None, "online")
            out += self.from_key[k][:stop - k]
        return np.array(out)


def color_runner(model, video: Path, short_side: int | None, as_run: bool = False):
    frames = list(resized_frames(video, short_side))
    h, w = frames[0].rgb.shape[:2]
    size = working_size(w, h, working_short_side(model))

    def run(start, stop, keys, report, mode):
        settings = model_settings(model, mode, repair=as_run, lookup=as_run, key_check=as_run)
        data = {k: rgb_to_lab(frames[k].rgb) for k in keys}
        outs = propagate_color(model, settings, iter(frames[start:stop]), data, size, report)
        return [psnr(float(np.mean((out.astype(np.float32) - f.rgb.astype(np.float32)) ** 2))) for f, out in outs]
    return run, len(frames), [0]


def seg_runner(model, video: Path, masks: Path, short_side: int | None, as_run: bool = False):
    frames = list(resized_frames(video, short_side))
    truth = load_truth(masks, frames[0].rgb.shape[1::-1])
    ids = seg.object_ids(truth[min(truth)])

    def run(start, stop, keys, report, mode):
        outs = propagate_masks(model, iter(frames[start:stop]), {k: truth[k] for k in keys},
                               model_settings(model, mode), ids=ids, working_short_side=working_short_side(model),
                               on_confidence=report, grabcut=as_run, memory=as_run)
        return [float(np.mean([jaccard(out == i, truth[f.index] == i) for i in ids])) for f, out in outs]
    return run, len(frames), [min(truth)]


def best_keys(scores: Scores, base: list[int], extra: int) -> list[int]:
    """The ``extra`` frames that, added to ``base`` as keys, give the best mean score (ground truth; every frame
    is tried, so this runs a key from each one: about frames x stretch length frames per video)."""
    scored = [t for t in range(scores.count) if t not in base]
    return list(max(itertools.combinations(scored, extra),
                    key=lambda added: scores.frames(sorted(base + list(added)))[scored].mean()))


def evaluate(runner, task: str, rules: list[str], extra: int, cache: Path | None, oracle: bool = False,
             as_run: bool = False) -> dict:
    """The scores of the base keys and of each rule's; ``cache``: a directory for this video's report and
    ``Scores.from_key`` (``from_key.json``), read back when there. ``as_run``: the base run in the mode the
    CLI gives its keys, and the runs with added keys offline (see the module's doc)."""
    run, count, base = runner
    cached = cache / "from_key.json" if cache else None
    scores = Scores(run, count, json.loads(cached.read_text()) if cached and cached.exists() else None)
    with tempfile.TemporaryDirectory() as tmp:
        where = cache / "report" if cache else Path(tmp) / "report"
        base_mode = ("offline" if task == "color" else default_mode(len(base))) if as_run else "online"
        if not (where / "confidence.json").exists():
            report = ConfidenceReport(where, video="dev", task=task, mode=base_mode)
            if base_mode == "offline":
                scores.offline(base, report)
            else:
                scores.base(base, report)
            report.write()
        loaded = load_report(where)
    keys = {"base": base}
    for rule in rules:
        added = (evenly_spaced(base, count, extra) if rule == "even" else
                 even_with_last(base, count, extra) if rule == "even-ends" else
                 suggest_keys(replace(loaded, mode="offline"), extra, rule="spread") if rule == "spread-offline" else
                 suggest_keys(loaded, extra, rule=rule))
        keys[rule] = sorted(base + list(added))
    if oracle:
        keys["oracle"] = sorted(base + best_keys(scores, base, extra))
    scored = [t for t in range(count) if t not in base]

    def mean(name, k):
        whole = scores.offline(k) if as_run and (name != "base" or base_mode == "offline") else scores.frames(k)
        return float(whole[scored].mean())
    out = {"keys": keys, **{name: mean(name, k) for name, k in keys.items()}}
    if cached:
        cached.write_text(json.dumps(scores.cached()))
    return out


def table(title: str, results: dict[str, dict], rows: list[str], tie: float) -> None:
    """Per video and mean; then each rule against the first (``rows[1]``): on how many videos it is higher and
    lower by more than ``tie``, and its mean difference with a bootstrap 95% interval over the videos."""
    print(f"\n{title}")
    print(f"{'video':<18} " + " ".join(f"{r:>10}" for r in rows) + "   keys added per row")
    for name, r in results.items():
        added = " / ".join(str([k for k in r['keys'][row] if k not in r['keys']['base']]) for row in rows[1:])
        print(f"{name:<18} " + " ".join(f"{r[row]:10.3f}" for row in rows) + f"   {added}")
    print(f"{'mean':<18} " + " ".join(f"{np.mean([r[row] for r in results.values()]):10.3f}" for row in rows))
    for row in rows[2:]:
        diff = np.array([r[row] - r[rows[1]] for r in results.values()])
        means = np.random.default_rng(0).choice(diff, (10000, len(diff))).mean(axis=1)
        low, high = np.percentile(means, [2.5, 97.5])
        print(f"{row} against {rows[1]}: higher on {(diff > tie).sum()}, lower on {(diff < -tie).sum()} of "
              f"{len(diff)} videos; mean {diff.mean():+.4f} (sd {diff.std(ddof=1):.4f}, 95% {low:+.4f} to {high:+.4f})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", choices=["tune", "holdout", "clips"], required=True)
    ap.add_argument("--task", nargs="+", choices=["color", "seg"], default=["color", "seg"])
    ap.add_argument("--rules", nargs="+", default=["even", "step"],
                    choices=["even", "even-ends", "spread-offline", *RULES])
    ap.add_argument("--extra", type=int, default=2, help="keys added to the base keys (N)")
    ap.add_argument("--double", action="store_true", help="colour: as many keys added as there are base keys "
                    "(the budget of keys every --interval / 2 frames) instead of --extra")
    ap.add_argument("--oracle", action="store_true", help="add the best placement by ground truth (slow: a run "
                    "from every frame)")
    ap.add_argument("--as-run", action="store_true", help="as the CLI runs them now (offline; masks with the cut "
                    "and the memory)")
    ap.add_argument("--interval", type=int, default=30, help="colour: base keys every K frames")
    ap.add_argument("--short-side", type=int, default=0, help="resize the videos first (0: their own size)")
    ap.add_argument("--videos", nargs="+", default=None, help="only these (of the split)")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--cache", type=Path, default=None, help="keep each key's scores here between runs")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    if a.as_run and a.oracle:
        ap.error("--oracle runs a key from every frame online: not with --as-run")
    if (a.split == "clips" or a.double) and a.task != ["color"]:
        ap.error("--split clips and --double are for --task color (the clips have no true masks)")
    torch.set_num_threads(a.threads)
    videos = [v for v in split(a.data)[a.split] if a.videos is None or v.stem in a.videos]
    out = {}
    for task in a.task:
        model, _ = load_model(task)
        out[task] = {}
        for video in videos:
            name = video.stem
            runner = color_runner(model, video, a.short_side or None, a.as_run) if task == "color" else \
                seg_runner(model, video, a.data / "masks" / name, a.short_side or None, a.as_run)
            extra = a.extra
            if task == "color":
                runner = (runner[0], runner[1], list(range(0, runner[1], a.interval)))
                extra = len(runner[2]) if a.double else extra
            base = "first" if task == "seg" else f"every{a.interval}"
            protocol = "-as-run" if a.as_run else ""
            cache = a.cache / f"{task}-{base}-side{a.short_side}{protocol}-{name}" if a.cache else None
            if cache:
                cache.mkdir(parents=True, exist_ok=True)
            out[task][name] = evaluate(runner, task, a.rules, extra, cache, a.oracle, a.as_run)
            print(task, name, out[task][name], flush=True)
            if a.json:
                a.json.write_text(json.dumps(out, indent=1))
        how = "as run" if a.as_run else "online"
        added = "as many" if a.double else a.extra
        title = (f"colour, {how}, keys every {a.interval} + {added}: PSNR (dB) of the frames between the base keys"
                 if task == "color" else f"masks, SEG(t) {how}, first mask + {a.extra}: J of the frames after it")
        rows = ["base", *a.rules] + (["oracle"] if a.oracle else [])
        table(f"{title} ({a.split}, {len(videos)} videos)", out[task], rows, 0.005 if task == "color" else 0.0005)


if __name__ == "__main__":
    main()
