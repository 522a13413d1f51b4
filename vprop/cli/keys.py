import click

from vprop.cli._console import progress, user_errors
from vprop.pipelines.keys import export_keys
from vprop.io.video import probe


@click.command("keys")
@click.argument("video", type=click.Path(dir_okay=False, path_type=str))
@click.option("--interval", required=True, type=click.IntRange(1), help="Export frames 0, K, 2K, ...")
@click.option("-o", "--output", required=True, type=click.Path(path_type=str), help="Directory for the PNGs.")
@click.option("--quiet", "-q", is_flag=True)
def keys_command(video, interval, output, quiet):
    """Export the frames an artist must colour, named as `vprop colorize` expects."""
    with user_errors(quiet):
        info = probe(video)
        with progress("keys", info.frame_count, quiet) as tick:
            written = export_keys(video, interval, output, on_frame=tick)
        if not quiet:
            click.echo(f"wrote {len(written)} key-frames to {output}: colour them, then run "
                       f"vprop colorize {video} --keys {output} --interval {interval}", err=True)
