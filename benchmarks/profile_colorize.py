"""Where a frame of `vprop colorize` spends its time: a per-stage table of one real run (decode to encode).

    python benchmarks/profile_colorize.py [--video V --keys DIR --interval K] [colorize options, e.g. --mode online]

Each stage is a function of the pipeline wrapped by a timer for this run only; a stage's time excludes the
stages it calls (the network's scans are not counted again in the frame loop), and "other" is what no timer
covers (the loop's bookkeeping, blending arithmetic, array copies). Shares are what to read on a loaded
machine: absolute times move with the load, the split between stages much less.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import vprop  # noqa: F401  (before torch: the OpenMP wait policy the `vprop` command runs with)
import torch

ROOT = Path(__file__).resolve().parents[1]

# (stage, module, attribute): the functions timed, by the stage they are counted in.
STAGES = [
    ("decode", "vprop.io.video", "read_frames"),
    ("Lab conversion", "vprop.tasks.color", "rgb_to_lab"),
    ("Lab conversion", "vprop.tasks.color", "lab_to_rgb"),
    ("Lab conversion", "vprop.tasks.color", "lightness"),
    ("flow (DIS)", "vprop.engine.flow", "FlowEstimator.__call__"),
    ("flow (DIS)", "vprop.engine.flow", "FlowEstimator.both_ways"),
    ("chain step", "vprop.engine.flow", "ChainedWarp.step"),
    ("chain warp + cues", "vprop.engine.flow", "ChainedWarp.warp"),
    ("chain warp + cues", "vprop.engine.flow", "ChainedWarp.confidence"),
    ("network inputs", "vprop.tasks.color", "model_inputs"),
    ("guidance U-Net", "vprop.models.tpn", "SwitchableTPN.gates"),
    ("propagation scans", "vprop.models.tpn", "SwitchableTPN.propagate_hidden"),
    ("residual decoder", "vprop.models.tpn", "SwitchableTPN._output"),
    ("working size: resize", "vprop.engine.working", "shrink"),
    ("working size: resize", "vprop.engine.working", "enlarge"),
    ("blend weights", "vprop.engine.propagator", "Propagator.blend_weight"),
    ("offline blend of the two sides", "vprop.engine.propagator", "Propagator.blend_sides"),
    ("encode", "vprop.io.video", "VideoWriter.write"),
    ("chain repair (less its flows)", "vprop.engine.flow", "ChainedWarp.repaired"),
    ("chain repair (less its flows)", "vprop.engine.flow", "FlowEstimator.both_ways_at_half"),
    ("key detail carried", "vprop.engine.working", "carried_detail"),
    ("key detail carried", "vprop.engine.working", "full_size_coords"),
    ("look-up where chains failed", "vprop.tasks.color", "ColorTask.looked_up"),
    ("compose output (less Lab)", "vprop.tasks.color", "compose"),
    ("frame loop: blend, bookkeeping", "vprop.engine.propagator", "Propagator.__call__"),
    ("frame loop: blend, bookkeeping", "vprop.engine.propagator", "Propagator._close_segment"),
    ("working-size loop", "vprop.engine.working", "propagate_at"),
]
# Before the issue-12 layout the same functions lived here.
OLD_HOMES = {"vprop.engine.flow": "vprop.flow", "vprop.engine.propagator": "vprop.pipelines.base"}


class Timers:
    """Exclusive time per stage: a timed call subtracts the time of the timed calls inside it."""

    def __init__(self):
        self.total = defaultdict(float)
        self.calls = defaultdict(int)
        self._stack: list[list[float]] = []    # [start, time spent in timed children]

    def enter(self):
        self._stack.append([time.perf_counter(), 0.0])

    def leave(self, stage: str):
        start, inner = self._stack.pop()
        spent = time.perf_counter() - start
        self.total[stage] += spent - inner
        self.calls[stage] += 1
        if self._stack:
            self._stack[-1][1] += spent

    def wrap(self, stage: str, fn):
        def timed(*args, **kwargs):
            self.enter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.leave(stage)
        return timed

    def wrap_generator(self, stage: str, fn):
        def timed(*args, **kwargs):
            it = iter(fn(*args, **kwargs))
            while True:
                self.enter()
                try:
                    item = next(it)
                except StopIteration:
                    return
                finally:
                    self.leave(stage)
                yield item
        return timed


def _resolve(module: str):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        old = OLD_HOMES.get(module)
        return importlib.import_module(old) if old else None


def install(timers: Timers) -> None:
    """Replace each staged function by its timed version wherever vprop imported it by name."""
    import sys

    for stage, module, attr in STAGES:
        mod = _resolve(module)
        if mod is None:
            continue
        owner_name, _, name = attr.rpartition(".")
        owner = getattr(mod, owner_name) if owner_name else mod
        original = getattr(owner, name, None)
        if original is None:
            continue
        wrapper = timers.wrap_generator if inspect.isgeneratorfunction(original) else timers.wrap
        timed = wrapper(stage, original)
        if isinstance(vars(owner).get(name) if owner_name else None, staticmethod):
            timed = staticmethod(timed)
        setattr(owner, name, timed)
        if not owner_name:      # a module-level function: also where it was imported `from ... import name`
            for other in list(sys.modules.values()):
                if getattr(other, "__name__", "").startswith("vprop") and getattr(other, name, None) is original:
                    setattr(other, name, timed)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--video", type=Path, default=ROOT / "examples" / "rhino_gray.mp4")
    ap.add_argument("--keys", type=Path, default=ROOT / "examples" / "rhino_keys")
    ap.add_argument("--interval", type=int, default=20)
    ap.add_argument("--mode", default="offline")
    ap.add_argument("--full-resolution", action="store_true", help="the full-resolution path, where the option exists")
    ap.add_argument("--threads", type=int, default=None, help="torch and OpenCV threads (default: their own choice)")
    a = ap.parse_args()
    if a.threads:
        import cv2
        torch.set_num_threads(a.threads)
        cv2.setNumThreads(a.threads)

    import vprop.pipelines.colorize  # noqa: F401  (import every module before patching names)
    from vprop.io.video import probe
    from vprop.pipelines.colorize import colorize

    info = probe(a.video)
    timers = Timers()
    install(timers)
    options = {"full_resolution": True} if a.full_resolution else {}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        colorize(a.video, a.keys, Path(tmp) / "out.mp4", interval=a.interval, mode=a.mode, **options)
        wall = time.perf_counter() - start
    n = info.frame_count
    print(f"{a.video.name}: {info.width}x{info.height}, {n} frames, mode {a.mode}, torch threads "
          f"{torch.get_num_threads()}, {'full resolution' if a.full_resolution else 'default'}")
    print(f"{'stage':24s} {'ms/frame':>9s} {'share':>7s} {'calls':>6s}")
    rows = sorted(timers.total.items(), key=lambda kv: -kv[1])
    for stage, t in rows:
        print(f"{stage:24s} {t / n * 1e3:9.1f} {t / wall:7.1%} {timers.calls[stage]:6d}")
    other = wall - sum(timers.total.values())
    print(f"{'other':24s} {other / n * 1e3:9.1f} {other / wall:7.1%}")
    print(f"{'total':24s} {wall / n * 1e3:9.1f} {1:7.1%}   ({n / wall:.2f} fps, measured on a shared machine)")


if __name__ == "__main__":
    main()
