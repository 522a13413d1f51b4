import click

from vprop.cli._console import progress, user_errors
from vprop.cli._options import video_output
from vprop.io.video import probe
from vprop.pipelines.gray import gray


@click.command("gray")
@click.argument("video", type=click.Path(dir_okay=False, path_type=str))
@video_output
@click.option("--quiet", "-q", is_flag=True)
def gray_command(video, output, crf, lossless, quiet):
    """Write VIDEO's gray version: the L channel of CIE-Lab as R = G = B.

    That is what colorize keeps of each frame and what `vprop eval color` colours, so a colour clip, its
    gray version and keys exported from the colour clip (`vprop keys`) make a test whose answer is known.
    """
    with user_errors(quiet):
        info = probe(video)
        with progress("gray", info.frame_count, quiet) as tick:
            path = gray(video, output, crf=crf, lossless=lossless, on_frame=tick)
        if not quiet:
            click.echo(f"wrote {path}", err=True)
