import click

from vprop.cli._console import run_over_video, wrote
from vprop.cli._options import common, frame_run_options, key_schedule, resolve_device, video_input, video_output
from vprop.engine.propagator import BLENDS
from vprop.pipelines.colorize import colorize
from vprop.pipelines.resume import finished_frames


@click.command("colorize")
@video_input
@click.option("--keys", "keys_dir", required=True, type=click.Path(path_type=str),
              help="Directory of colour key-frames named by 0-based frame index (00030.png).")
@key_schedule("Align keys with optical flow (default: as the weights were trained; --no-align is the paper's TPN).")
@click.option("--blend", type=click.Choice(BLENDS), default="confidence", show_default=True,
              help="Offline: confidence-weighted blend, or the paper's nearest key.")
@click.option("--lookup/--no-lookup", default=True, show_default=True,
              help="Where the flow chain from a key failed (uncovered areas, fast motion, the frame's edges), also look "
                   "the key's colours up by patch matching: +0.15 to +0.37 dB on clips that chose nothing of it, "
                   "4-13% slower offline (README, 'Where no flow holds').")
@frame_run_options
@video_output
@common
def colorize_command(video, keys_dir, interval, mode, align, blend, lookup, full_resolution, working_side, report_dir,
                     shots, allow_missing, output, crf, lossless, eight_bit, resume, workers, device, quiet, weights,
                     batch_size):
    """Colour VIDEO from a few colour key-frames."""
    device = resolve_device(device)
    run_over_video("colorize", video, quiet, lambda tick: colorize(
        video, keys_dir, output, interval=interval, mode=mode, align=align, blend=blend, weights=weights,
        device=device, batch_size=batch_size, crf=crf, lossless=lossless, eight_bit=eight_bit,
        report=report_dir, on_frame=tick,
        on_begin=tick.begin, shots=shots, allow_missing=allow_missing, resume=resume, workers=workers,
        full_resolution=full_resolution, working_side=working_side, lookup=lookup),
        lambda path: wrote(path, report_dir),
        completed=finished_frames(output) if resume else 0)
