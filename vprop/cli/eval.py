"""`vprop eval color|seg|hdr`: vprop beside the baselines on ground truth, one table (and JSON) per run."""
import json

import click

from vprop.cli._console import stderr, user_errors
from vprop.cli._options import resolve_device, video_input, working_size_options
from vprop.engine.propagator import MODES
from vprop.eval.baselines import resized_frames
from vprop.eval.color import color_methods, evaluate_color
from vprop.eval.metrics import cdc
from vprop.eval.report import color_report
from vprop.io.atomic import atomic_path
from vprop.io.video import probe
from vprop.models.hub import load_model
from vprop.tasks.hdr import BLEND_RULE, BLEND_RULES


@click.group("eval")
def eval_group():
    """Measure vprop against the baselines on ground truth."""


def intervals_options(example: str):
    """--interval K [K ...] (also --interval K --interval K; ``example`` shows it), and --mode, offline first."""
    return _apply(click.option("--interval", "intervals", type=click.IntRange(2), multiple=True,
                               help=f"Key interval(s): --interval {example} (default 10 20 30 40)."),
                  click.argument("more_intervals", nargs=-1, type=click.IntRange(2), metavar=""),
                  click.option("--mode", type=click.Choice(MODES), default="offline", show_default=True))


def all_intervals(intervals, more_intervals) -> list[int]:
    return list(intervals) + list(more_intervals) or [10, 20, 30, 40]


def measure_options(report_help: str):
    """--frames, --json, --report (``report_help`` says what it writes), --weights, --device, --batch-size, -q."""
    return _apply(click.option("--frames", "limit", type=click.IntRange(2), default=None,
                               help="Only the first N frames."),
                  click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=str), default=None),
                  click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=str),
                               default=None, help=report_help),
                  click.option("--weights", default=None),
                  click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto"),
                  click.option("--batch-size", type=click.IntRange(1), default=4),
                  click.option("--quiet", "-q", is_flag=True))


def _apply(*decorators):
    """One decorator that applies ``decorators`` so the options list in the order given."""
    def apply(func):
        for decorator in reversed(decorators):
            func = decorator(func)
        return func
    return apply


@eval_group.command("color")
@video_input
@intervals_options("10 20 30 40")
@click.option("--short-side", type=click.IntRange(16), default=None,
              help="Resize frames so their short side is this (faster; default: native size).")
@working_size_options
@measure_options("Write a PNG strip of sample frames and a plot of PSNR against key distance.")
def eval_color(video, intervals, more_intervals, mode, short_side, full_resolution, working_side, limit, json_path,
               report_dir, weights, device, batch_size, quiet):
    """Colour VIDEO's own gray version from every K-th frame; PSNR/RMSE in RGB beside copy and optical flow.
    vprop runs as `vprop colorize` does (with --full-resolution or --working-side, as `vprop colorize` with it).

    CDC: flicker, the Jensen-Shannon divergence of the R, G, B histograms of frames 1, 2 and 4 apart (Lei &
    Chen, CVPR 2019), for each output and for VIDEO itself; lower is steadier.
    """
    device = resolve_device(device)
    intervals = all_intervals(intervals, more_intervals)
    with user_errors(quiet):
        probe(video)
        model, meta = load_model("color", weights, device)
        frames = lambda: resized_frames(video, short_side, limit)  # noqa: E731
        table = {}
        for k in intervals:
            if not quiet:
                stderr.print(f"K = {k} ...")
            keep = {k // 2, k - 1, k + k // 2} if report_dir else set()
            scores = evaluate_color(frames, k, color_methods(model, mode, device, batch_size), keep,
                                    full_resolution, working_side)
            table[k] = {name: {"psnr": s.psnr, "rmse": s.rmse, "cdc": s.cdc, "frames": len(s.mse),
                               "psnr_by_distance": s.psnr_by_distance()} for name, s in scores.items()}
            if report_dir:
                color_report(report_dir, k, frames, scores)
        truth_cdc = cdc(f.rgb for f in frames())
        names = list(next(iter(table.values())))
        click.echo(f"{'K':>4} " + " ".join(f"{n + ' PSNR':>17} {'RMSE':>6} {'CDC':>8}" for n in names))
        for k, row in table.items():
            click.echo(f"{k:>4} " + " ".join(f"{row[n]['psnr']:17.2f} {row[n]['rmse']:6.2f} {row[n]['cdc']:8.5f}"
                                             for n in names))
        click.echo(f"ground truth CDC {truth_cdc:.5f}")
        if json_path:
            write_json(json_path, {"video": str(video), "mode": mode, "short_side": short_side,
                                   "full_resolution": full_resolution, "working_side": working_side, "weights": meta,
                                   "truth_cdc": truth_cdc, "results": table})


@eval_group.command("seg")
@video_input
@click.option("--masks", "masks_dir", required=True, type=click.Path(path_type=str),
              help="Directory of ground-truth masks named by frame index (DAVIS: 00000.png ...).")
@click.option("--interval", type=click.IntRange(2), default=None, metavar="K",
              help="The true mask every K frames from the first is a key too (as an artist who corrects a frame "
                   "every so often); key frames are not scored.")
@click.option("--mode", type=click.Choice(MODES), default=None,
              help="Default: as vprop segment, offline with two or more keys, online with one.")
@click.option("--chain", is_flag=True, help="vprop also propagates from each frame's previous prediction.")
@click.option("--refine", is_flag=True, help="Also score SEG(t+s): vprop's masks refined by the spatial network.")
@click.option("--refine-weights", default=None, help="SEG(t+s) refiner weights (default: the shipped ones).")
@click.option("--grabcut/--no-grabcut", default=True, show_default=True,
              help="Also score each method with its masks snapped by GrabCut (vprop segment's default).")
@click.option("--short-side", type=click.IntRange(16), default=None,
              help="Resize frames (and masks, nearest) so their short side is this.")
@working_size_options
@measure_options("Write a PNG strip of the worst frames and a plot of J per frame.")
def eval_seg(video, masks_dir, interval, mode, chain, refine, refine_weights, grabcut, short_side, full_resolution,
             working_side, limit, json_path, report_dir, weights, device, batch_size, quiet):
    """Propagate the first ground-truth mask of VIDEO (with --interval, every K-th); DAVIS J and F beside copying
    and optical flow. vprop runs as `vprop segment` does (with --full-resolution or --working-side, as `vprop
    segment` with it)."""
    from vprop.eval.seg import evaluate_seg, key_indices, load_truth, seg_methods, seg_report
    from vprop.pipelines.segment import default_mode

    device = resolve_device(device)
    if chain and mode == "offline":      # as `vprop segment`: the chained protocol has no backward pass
        raise click.UsageError("--chain works online only (drop --mode offline)")
    with user_errors(quiet):
        probe(video)
        keys = key_indices(load_truth(masks_dir), interval, limit)   # bad masks fail before any work
        mode = mode or default_mode(len(keys), chain)
        model, meta = load_model("seg", weights, device)
        refiner = load_model("seg-refine", refine_weights, device)[0] if refine or refine_weights else None
        frames = lambda: resized_frames(video, short_side, limit)  # noqa: E731
        scores = evaluate_seg(frames, masks_dir, seg_methods(model, mode, device, batch_size, refiner, grabcut),
                              keep=bool(report_dir), chain=chain, interval=interval, limit=limit,
                              working_side=working_side, full_resolution=full_resolution)
        click.echo(f"{'method':<21} {'J':>6} {'F':>6} {'J&F':>6}")
        for name, s in scores.items():
            click.echo(f"{name:<21} {s.J:6.3f} {s.F:6.3f} {s.JF:6.3f}")
        if report_dir:
            seg_report(report_dir, frames, masks_dir, scores)
        if json_path:
            write_json(json_path, {"video": str(video), "masks": masks_dir, "keys": keys, "mode": mode, "chain": chain,
                                   "refine": refine, "grabcut": grabcut, "short_side": short_side, "frames": limit,
                                   "full_resolution": full_resolution, "working_side": working_side, "weights": meta,
                                   "results": {name: {"J": s.J, "F": s.F, "JF": s.JF, "frames": len(s.frames),
                                                      "objects": {str(k): v for k, v in s.per_object().items()},
                                                      "J_by_frame": {str(k): v for k, v in s.j_by_frame().items()}}
                                               for name, s in scores.items()}})


@eval_group.command("hdr")
@click.argument("gt_dir", type=click.Path(path_type=str))
@intervals_options("10 20")
@click.option("--blend-rule", type=click.Choice(BLEND_RULES), default=BLEND_RULE, show_default=True,
              help="How the blended figures combine estimate and LDR (see vprop hdr --help).")
@click.option("--gamma", type=click.FloatRange(min=0.1, max=10), default=None,
              help="Synthesise the LDR with x^(1/G) instead of HDRCNN's curve.")
@click.option("--exposure", type=click.FloatRange(min=0, min_open=True), default=None,
              help="LDR exposure (default: about 10% of the pixels saturate).")
@click.option("--bits", type=click.IntRange(8, 16), default=8, show_default=True,
              help="The LDR's depth: above 8, every method is blended at it, as `vprop hdr` blends a deep source, "
                   "and at 8 bits too (its name with \"at 8 bits\").")
@working_size_options
@measure_options("Write tone-mapped strips (truth, LDR, vprop, error) at two exposures.")
def eval_hdr(gt_dir, intervals, more_intervals, mode, blend_rule, gamma, exposure, bits, full_resolution,
             working_side, limit, json_path, report_dir, weights, device, batch_size, quiet):
    """HDR from GT_DIR's own LDR (camera curve, 8 bits or --bits) and every K-th frame; log RMSE beside the
    baselines.

    vprop runs as `vprop hdr` does (with --full-resolution or --working-side, as `vprop hdr` with it)."""
    from vprop.eval.hdr import evaluate_hdr, hdr_methods, hdr_report, load_clip
    from vprop.tasks.hdr import curve_for

    device = resolve_device(device)
    intervals = all_intervals(intervals, more_intervals)
    with user_errors(quiet):
        curve = curve_for(gamma)
        clip = load_clip(gt_dir, curve, exposure, limit=limit, bits=bits)
        model, meta = load_model("hdr", weights, device)
        log_mean = float(model.cfg.extra.get("log_mean", 0.0))
        table = {}
        for k in intervals:
            if not quiet:
                stderr.print(f"K = {k} ...")
            keep = {k // 2, k - 1, k + k // 2} & set(range(len(clip.hdr))) if report_dir else set()
            scores = evaluate_hdr(clip, k, hdr_methods(model, mode, device, batch_size), log_mean, curve,
                                  keep - set(range(0, len(clip.hdr), k)), rule=blend_rule,
                                  full_resolution=full_resolution, working_side=working_side)
            table[k] = {name: {"rmse": s.rmse, "rmse_blended": s.rmse_blended, "frames": len(s.raw)}
                        for name, s in scores.items()}
            if report_dir:
                hdr_report(report_dir, k, clip, scores)
        names = list(next(iter(table.values())))
        click.echo("log RMSE, log(H + 0.01), over the non-key frames (raw / with LDR blending)")
        click.echo(f"{'K':>4} " + " ".join(f"{n:>25}" for n in names))
        for k, row in table.items():
            cells = [f"{row[n]['rmse']:.4f} / {row[n]['rmse_blended']:.4f}" for n in names]
            click.echo(f"{k:>4} " + " ".join(f"{c:>25}" for c in cells))
        if json_path:
            write_json(json_path, {"gt_dir": gt_dir, "mode": mode, "blend_rule": blend_rule, "gamma": gamma,
                                   "bits": bits, "full_resolution": full_resolution, "working_side": working_side,
                                   "exposure": clip.exposure, "frames": len(clip.hdr), "weights": meta,
                                   "results": table})


def write_json(path: str, payload: dict) -> None:
    """``--json``'s file, written whole or not at all."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(payload, f, indent=1)
