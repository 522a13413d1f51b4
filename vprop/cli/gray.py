import click

from vprop.cli._console import run_over_video, wrote
from vprop.cli._options import video_input, video_output
from vprop.pipelines.gray import gray


@click.command("gray")
@video_input
@video_output
@click.option("--quiet", "-q", is_flag=True)
def gray_command(video, output, crf, lossless, eight_bit, quiet):
    """Write VIDEO's gray version: the L channel of CIE-Lab as R = G = B.

    That is what colorize keeps of each frame and what `vprop eval color` colours, so a colour clip, its
    gray version and keys exported from the colour clip (`vprop keys`) make a test whose answer is known.
    """
    run_over_video("gray", video, quiet, lambda tick: gray(
        video, output, crf=crf, lossless=lossless, eight_bit=eight_bit, on_frame=tick),
                   wrote)
