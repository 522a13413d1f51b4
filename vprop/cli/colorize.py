import click

from vprop.cli._console import progress, user_errors
from vprop.cli._options import common, report_option, resolve_device, shot_options, video_output
from vprop.io.video import probe
from vprop.engine.propagator import BLENDS, MODES
from vprop.pipelines.colorize import colorize


@click.command("colorize")
@click.argument("video", type=click.Path(dir_okay=False, path_type=str))
@click.option("--keys", "keys_dir", required=True, type=click.Path(path_type=str),
              help="Directory of colour key-frames named by 0-based frame index (00030.png).")
@click.option("--interval", type=click.IntRange(1), default=None, help="Keys at 0, K, 2K, ... must all exist.")
@click.option("--mode", type=click.Choice(MODES), default="offline", show_default=True,
              help="offline: blend the keys before and after each frame; online: the preceding key only.")
@click.option("--align/--no-align", default=None,
              help="Align keys with optical flow (default: as the weights were trained; --no-align is the paper's TPN).")
@click.option("--blend", type=click.Choice(BLENDS), default="confidence", show_default=True,
              help="Offline: confidence-weighted blend, or the paper's nearest key.")
@report_option
@shot_options
@video_output
@common
def colorize_command(video, keys_dir, interval, mode, align, blend, report_dir, shots, allow_missing, output, crf,
                     lossless, device, quiet, weights, batch_size):
    """Colour VIDEO from a few colour key-frames."""
    device = resolve_device(device)
    with user_errors(quiet):
        info = probe(video)
        with progress("colorize", info.frame_count, quiet) as tick:
            path = colorize(video, keys_dir, output, interval=interval, mode=mode, align=align, blend=blend,
                            weights=weights, device=device, batch_size=batch_size, crf=crf, lossless=lossless,
                            report=report_dir, on_frame=tick, shots=shots, allow_missing=allow_missing)
        if not quiet:
            click.echo(f"wrote {path}" + (f" and the confidence report {report_dir}" if report_dir else ""),
                       err=True)
