"""Options shared by the commands, declared once."""
from __future__ import annotations

import functools

import click
import torch

from vprop.cli._console import user_errors
from vprop.engine.propagator import MODES
from vprop.io.sequence import DEFAULT_FPS, image_sequence, parse_fps


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise click.BadParameter("CUDA is not available on this machine", param_hint="--device")
    return device


def common(func):
    """--device, --quiet, --weights, --batch-size."""
    decorators = [
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                     help="Where the network runs."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar or warnings."),
        click.option("--weights", metavar="PATH|hf://ORG/REPO[@REV]/FILE", default=None,
                     help="Model weights (default: the shipped weights for this task)."),
        click.option("--batch-size", type=click.IntRange(1, 256), default=4, show_default=True,
                     help="Frames per network call."),
    ]
    return _apply(func, decorators)


def frame_rate(context, parameter, text):
    """--fps RATE as a ``Fraction`` (None: not given)."""
    try:
        return None if text is None else parse_fps(text)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def video_input(func):
    """The VIDEO argument: a video file, or an image sequence (a folder of numbered images, or a printf pattern) at
    --fps; the command is given the path, or the ``ImageSequence``."""
    @functools.wraps(func)
    def command(video, fps, audio, quiet, **kwargs):
        with user_errors(quiet):
            sequence = image_sequence(video, fps or DEFAULT_FPS, audio)
        for given, option, what in ((fps, "--fps", "timing"), (audio, "--audio", "sound, if any")):
            if sequence is None and given is not None:
                raise click.BadParameter(f"is only for image sequences; {video} is a video file, with its own {what}",
                                         param_hint=option)
        return func(video=sequence or video, quiet=quiet, **kwargs)

    return _apply(command, [
        click.argument("video", type=click.Path(path_type=str)),
        click.option("--fps", callback=frame_rate, metavar="RATE",
                     help=f"Frame rate of an image sequence given as VIDEO (default {DEFAULT_FPS}): 25, 24000/1001, "
                          "23.976, ..."),
        click.option("--audio", type=click.Path(dir_okay=False, path_type=str), default=None, metavar="FILE",
                     help="Sound of an image sequence given as VIDEO (WAV, FLAC, AAC, ...: any file with an audio "
                          "stream), from its first frame on: kept in a video output."),
    ])


def report_option(func):
    """--report DIR: every frame's confidence (plot, CSV/JSON) and the least confident frames as images."""
    return click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=str), default=None,
                        metavar="DIR",
                        help="Write each frame's confidence (confidence.png/.csv/.json) and pictures of the least "
                             "confident frames to DIR; `vprop keys --suggest N --from DIR` picks new keys.")(func)


def working_size_options(func):
    """--full-resolution, --working-side PIXELS: the size frames are propagated at (default: the models' own)."""
    def one_of_both(ctx, param, value):
        other = "working_side" if param.name == "full_resolution" else "full_resolution"
        if value and ctx.params.get(other):
            raise click.UsageError("give --working-side or --full-resolution, not both")
        return value

    return _apply(func, [
        click.option("--full-resolution", is_flag=True, callback=one_of_both,
                     help="Propagate at the video's own size (default: at the models' training size, short side "
                          "240, the result up-sampled onto each full-size frame; faster, and what the models "
                          "were trained for)."),
        click.option("--working-side", type=click.IntRange(16), default=None, callback=one_of_both,
                     metavar="PIXELS",
                     help="Propagate at this short side instead of the models' 240 (a frame no larger keeps its "
                          "own): between the default and --full-resolution in time and sharpness (masks at 320 "
                          "on 854x480: README, 'Masks')."),
    ])


def video_output(func):
    """-o/--output, --crf, --lossless, --8-bit."""
    decorators = [
        click.option("-o", "--output", required=True, type=click.Path(dir_okay=True, path_type=str),
                     help="Output .mp4/.mov (H.264), .mkv (--lossless: FFV1), a directory of PNGs, or a pattern of "
                          "PNG, TIFF or DPX names (graded/reel_%07d.dpx: numbered as an input sequence's files, else "
                          "from 0)."),
        click.option("--crf", type=click.IntRange(0, 51), default=18, show_default=True, help="H.264 quality."),
        click.option("--lossless", is_flag=True, help="FFV1 in .mkv."),
        click.option("--8-bit", "eight_bit", is_flag=True,
                     help="8 bits per channel from a deeper source too (default: a 10-bit or 16-bit source gives "
                          "16-bit PNGs or FFV1, or 10-bit H.264, which not every player plays)."),
    ]
    return _apply(func, decorators)


def shots_option(func):
    """--shots/--no-shots."""
    return click.option("--shots/--no-shots", default=True, show_default=True,
                        help="Find hard cuts first and propagate each shot from its own keys only.")(func)


def shot_options(func):
    """--shots/--no-shots, --allow-missing."""
    return shots_option(click.option(
        "--allow-missing", is_flag=True,
        help="A shot with no key is written empty (gray, no object) with a warning instead of an error.")(func))


def _apply(func, decorators):
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def key_schedule(align_help: str):
    """--interval, --mode (default offline), --align/--no-align: how the keys of colorize and hdr are used."""
    return lambda func: _apply(func, [
        click.option("--interval", type=click.IntRange(1), default=None, help="Keys at 0, K, 2K, ... must all exist."),
        click.option("--mode", type=click.Choice(MODES), default="offline", show_default=True,
                     help="offline: blend the keys before and after each frame; online: the preceding key only."),
        click.option("--align/--no-align", default=None, help=align_help),
    ])


def span_options(func):
    """--resume, --workers N (None: as the run's size and device say, ``vprop.pipelines.workers``)."""
    return _apply(func, [
        click.option("--resume", is_flag=True,
                     help="Keep each finished key segment in OUTPUT.vprop-resume/ so that, killed at any moment, the "
                          "same command run again continues where it stopped (the folder goes when the run "
                          "completes)."),
        click.option("--workers", type=click.IntRange(1, 256), default=None,
                     help="Key segments processed in this many processes at once, sharing the CPU threads "
                          "(default: one per CPU, at most 4, for a video of more than 10 M pixels in all, else 1; "
                          "1 with --device cuda or --report)."),
    ])



def frame_run_options(func):
    """What colorize and segment runs share beside their keys: --full-resolution, --working-side, --report,
    --shots/--no-shots, --allow-missing, --resume, --workers."""
    return _apply(func, [working_size_options, report_option, shot_options, span_options])
