import json

import click
import numpy as np

from vprop.cli._console import stderr, user_errors
from vprop.cli._options import resolve_device
from vprop.evaluate import color_methods, evaluate_color, resized_frames
from vprop.io.video import probe
from vprop.models.hub import load_model
from vprop.pipelines.base import MODES
from vprop.report import color_report


@click.group("eval")
def eval_group():
    """Measure vprop against the baselines on ground truth."""


@eval_group.command("color")
@click.argument("video", type=click.Path(dir_okay=False, path_type=str))
@click.option("--interval", "intervals", type=click.IntRange(2), multiple=True,
              help="Key interval(s): --interval 10 20 30 40 (default 10 20 30 40).")
@click.argument("more_intervals", nargs=-1, type=click.IntRange(2), metavar="")
@click.option("--mode", type=click.Choice(MODES), default="offline", show_default=True)
@click.option("--short-side", type=click.IntRange(16), default=None,
              help="Resize frames so their short side is this (faster; default: native size).")
@click.option("--frames", "limit", type=click.IntRange(2), default=None, help="Only the first N frames.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=str), default=None)
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Write a PNG strip of sample frames and a plot of PSNR against key distance.")
@click.option("--weights", default=None)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto")
@click.option("--batch-size", type=click.IntRange(1), default=4)
@click.option("--quiet", "-q", is_flag=True)
def eval_color(video, intervals, more_intervals, mode, short_side, limit, json_path, report_dir, weights,
               device, batch_size, quiet):
    """Colour VIDEO's own gray version from every K-th frame; PSNR/RMSE in RGB beside copy and optical flow."""
    device = resolve_device(device)
    intervals = list(intervals) + list(more_intervals) or [10, 20, 30, 40]
    with user_errors(quiet):
        probe(video)
        model, meta = load_model("color", weights, device)
        frames = lambda: resized_frames(video, short_side, limit)  # noqa: E731
        table = {}
        for k in intervals:
            if not quiet:
                stderr.print(f"K = {k} ...")
            keep = {k // 2, k - 1, k + k // 2} if report_dir else set()
            scores = evaluate_color(frames, k, color_methods(model, mode, device, batch_size), keep)
            table[k] = {name: {"psnr": s.psnr, "rmse": s.rmse, "frames": len(s.mse),
                               "psnr_by_distance": _by_distance(s)} for name, s in scores.items()}
            if report_dir:
                color_report(report_dir, k, frames, scores)
        names = list(next(iter(table.values())))
        click.echo(f"{'K':>4} " + " ".join(f"{n + ' PSNR':>17} {'RMSE':>6}" for n in names))
        for k, row in table.items():
            click.echo(f"{k:>4} " + " ".join(f"{row[n]['psnr']:17.2f} {row[n]['rmse']:6.2f}" for n in names))
        if json_path:
            with open(json_path, "w") as f:
                json.dump({"video": video, "mode": mode, "short_side": short_side, "weights": meta,
                           "results": table}, f, indent=1)


def _by_distance(scores) -> dict[int, float]:
    out = {}
    for d in sorted(set(scores.distance)):
        mses = [m for m, dd in zip(scores.mse, scores.distance) if dd == d]
        out[d] = float(np.mean([10 * np.log10(255**2 / max(m, 1e-10)) for m in mses]))
    return out
