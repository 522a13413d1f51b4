import json

import click

from vprop.cli._console import progress, stderr, user_errors
from vprop.cli._options import common, report_option, resolve_device, shots_option
from vprop.io.video import probe
from vprop.pipelines.base import MODES
from vprop.tasks.hdr import BLEND_RULES


@click.command("hdr")
@click.argument("video", type=click.Path(dir_okay=False, path_type=str))
@click.option("--hdr-keys", "--keys", "keys_dir", required=True, type=click.Path(path_type=str),
              help="Directory of HDR key-frames (.exr or .hdr) named by 0-based frame index (00030.exr).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=str),
              help="Output directory: one half-float scene-linear EXR per frame (00000.exr ...).")
@click.option("--interval", type=click.IntRange(1), default=None, help="Keys at 0, K, 2K, ... must all exist.")
@click.option("--mode", type=click.Choice(MODES), default="offline", show_default=True,
              help="offline: blend the keys before and after each frame; online: the preceding key only.")
@click.option("--align/--no-align", default=None,
              help="Align keys with optical flow (default: as the weights were trained).")
@click.option("--blend/--no-blend", default=True, show_default=True,
              help="Combine the network's estimate with the frame's own inverted LDR; --no-blend: network only.")
@click.option("--blend-rule", type=click.Choice(BLEND_RULES), default="clipped", show_default=True,
              help="clipped: the LDR wherever it did not clip, the estimate (never below the clip level) where it "
                   "did; paper: eq. 10, the LDR where the estimate is below the key's threshold T.")
@click.option("--gamma", type=click.FloatRange(min=0.1, max=10), default=None,
              help="The video's camera curve: 8-bit value = 255 x^(1/G) of the linear exposure x (about 2.2 for "
                   "sRGB-like video). Default: HDRCNN's f(x) = 1.6 x^0.9 / (x^0.9 + 0.6).")
@click.option("--preview", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Also write an SDR preview .mp4 (Reinhard tone mapping, audio kept).")
@click.option("--hdr10", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Also write an HDR10 .mp4 (HEVC 10-bit, BT.2020, PQ, MaxCLL/MaxFALL).")
@report_option
@shots_option
@common
def hdr_command(video, keys_dir, output, interval, mode, align, blend, blend_rule, gamma, preview, hdr10, report_dir,
                shots, device, quiet, weights, batch_size):
    """HDR video from the LDR VIDEO and a few HDR key-frames.

    Keys: scene-linear RGB (BT.709 primaries) as OpenEXR (.exr; RGB or Y channels, half or float) or Radiance
    (.hdr), named by 0-based frame index, each the HDR of that very frame (e.g. `vprop hdr-merge` of brackets
    shot from the camera's position). A key of the video's aspect ratio but another size is resized.

    Units: any absolute scale (cd/m², or a bracket merge's relative radiance); the output keeps the keys'
    units. Where the LDR did not clip it is inverted through the camera curve (--gamma) and scaled to those
    units by each key (the median ratio over the key's unclipped pixels).

    Outputs: -o DIR gets 00000.exr ... (half float, scene-linear); --preview an H.264 SDR view (Reinhard tone
    mapping); --hdr10 HEVC 10-bit PQ / BT.2020, scene-linear 1.0 shown at 203 cd/m² (BT.2408 reference
    white), with MaxCLL/MaxFALL.
    """
    from vprop.pipelines.hdr import hdr

    device = resolve_device(device)
    with user_errors(quiet):
        info = probe(video)
        with progress("hdr", info.frame_count, quiet) as tick:
            path = hdr(video, keys_dir, output, interval=interval, blend=blend, gamma=gamma, weights=weights,
                       device=device, batch_size=batch_size, hdr10=hdr10, preview=preview, mode=mode,
                       align=align, blend_rule=blend_rule, report=report_dir, on_frame=tick, shots=shots)
        if not quiet:
            click.echo(f"wrote {path}" + "".join(f", {p}" for p in (preview, hdr10, report_dir) if p), err=True)


@click.command("hdr-merge")
@click.argument("brackets", type=click.Path(path_type=str))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="The HDR key-frame to write (.exr).")
@click.option("--quiet", "-q", is_flag=True)
def hdr_merge_command(brackets, output, quiet):
    """Merge bracketed LDR exposures in BRACKETS into one HDR key-frame (Debevec).

    BRACKETS: a folder of two or more exposures of one still scene, shot from a tripod with the same aperture
    and ISO: 8-bit PNG, JPEG or TIFF (16-bit files are read as 8-bit), all of one size.

    Exposure times, in seconds, come from BRACKETS/times.txt, one "filename seconds" line per image (seconds
    as 0.004 or 1/250; # starts a comment), or else from each image's EXIF ExposureTime.

    Camera curve: none is assumed; the camera's response is calibrated from the brackets themselves (Debevec
    & Malik 1997). Output: scene-linear RGB as half-float OpenEXR, in relative units: 1.0 is the radiance that
    reads mid-gray (128) in a 1 s exposure. A region clipped in every exposure (even the shortest) is warned
    about: its radiance is unknown.
    """
    from vprop.pipelines.hdr import hdr_merge

    with user_errors(quiet):
        path = hdr_merge(brackets, output)
        if not quiet:
            click.echo(f"wrote {path}", err=True)


def eval_hdr_command(group):
    """Adds `eval hdr` to the eval group."""

    @group.command("hdr")
    @click.argument("gt_dir", type=click.Path(path_type=str))
    @click.option("--interval", "intervals", type=click.IntRange(2), multiple=True,
                  help="Key interval(s): --interval 10 20 (default 10 20 30 40).")
    @click.argument("more_intervals", nargs=-1, type=click.IntRange(2), metavar="")
    @click.option("--mode", type=click.Choice(MODES), default="offline", show_default=True)
    @click.option("--blend-rule", type=click.Choice(BLEND_RULES), default="clipped", show_default=True,
                  help="How the blended figures combine estimate and LDR (see vprop hdr --help).")
    @click.option("--gamma", type=click.FloatRange(min=0.1, max=10), default=None,
                  help="Synthesise the LDR with x^(1/G) instead of HDRCNN's curve.")
    @click.option("--exposure", type=click.FloatRange(min=0, min_open=True), default=None,
                  help="LDR exposure (default: about 10% of the pixels saturate).")
    @click.option("--frames", "limit", type=click.IntRange(2), default=None, help="Only the first N frames.")
    @click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=str), default=None)
    @click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=str), default=None,
                  help="Write tone-mapped strips (truth, LDR, vprop, error) at two exposures.")
    @click.option("--weights", default=None)
    @click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto")
    @click.option("--batch-size", type=click.IntRange(1), default=4)
    @click.option("--quiet", "-q", is_flag=True)
    def eval_hdr(gt_dir, intervals, more_intervals, mode, blend_rule, gamma, exposure, limit, json_path, report_dir,
                 weights, device, batch_size, quiet):
        """HDR from GT_DIR's own LDR (camera curve, 8 bits) and every K-th frame; log RMSE beside the baselines."""
        from vprop.eval.hdr import evaluate_hdr, hdr_methods, hdr_report, load_clip
        from vprop.models.hub import load_model
        from vprop.tasks.hdr import curve_for

        device = resolve_device(device)
        intervals = list(intervals) + list(more_intervals) or [10, 20, 30, 40]
        with user_errors(quiet):
            curve = curve_for(gamma)
            clip = load_clip(gt_dir, curve, exposure, limit=limit)
            model, meta = load_model("hdr", weights, device)
            log_mean = float(model.cfg.extra.get("log_mean", 0.0))
            table = {}
            for k in intervals:
                if not quiet:
                    stderr.print(f"K = {k} ...")
                keep = {k // 2, k - 1, k + k // 2} & set(range(len(clip.hdr))) if report_dir else set()
                scores = evaluate_hdr(clip, k, hdr_methods(model, mode, device, batch_size), log_mean, curve,
                                      keep - set(range(0, len(clip.hdr), k)), rule=blend_rule)
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
                with open(json_path, "w") as f:
                    json.dump({"gt_dir": gt_dir, "mode": mode, "blend_rule": blend_rule, "gamma": gamma,
                               "exposure": clip.exposure, "frames": len(clip.hdr), "weights": meta,
                               "results": table}, f, indent=1)

    return eval_hdr
