import click

from vprop.cli._console import progress, user_errors
from vprop.errors import InputError
from vprop.pipelines.keys import export_keys
from vprop.io.video import probe


@click.command("keys")
@click.argument("video", type=click.Path(dir_okay=False, path_type=str))
@click.option("--interval", type=click.IntRange(1), default=None, help="Export frames 0, K, 2K, ...")
@click.option("--suggest", type=click.IntRange(1), default=None, metavar="N",
              help="Export the N frames where a new key would help most, from a report (--from).")
@click.option("--from", "report_dir", type=click.Path(path_type=str), default=None, metavar="REPORT_DIR",
              help="The directory a colorize/segment/hdr run wrote with --report.")
@click.option("--min-gap", type=click.IntRange(1), default=None,
              help="With --suggest: at least this many frames between any two keys (default: from the spacing).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=str), help="Directory for the PNGs.")
@click.option("--quiet", "-q", is_flag=True)
def keys_command(video, interval, suggest, report_dir, min_gap, output, quiet):
    """Export the frames an artist must colour (--interval), or those where a new key helps most (--suggest)."""
    if (interval is None) == (suggest is None):
        raise click.UsageError("give --interval K or --suggest N")
    if suggest is not None and report_dir is None:
        raise click.UsageError("--suggest needs --from REPORT_DIR (written by colorize/segment/hdr --report)")
    if suggest is None and (report_dir is not None or min_gap is not None):
        raise click.UsageError("--from and --min-gap go with --suggest")
    with user_errors(quiet):
        info = probe(video)
        indices = None
        if suggest is not None:
            from vprop.confidence import load_report
            from vprop.suggest import suggest_keys

            report = load_report(report_dir)
            if info.frame_count is not None and info.frame_count != len(report.frames):
                raise InputError(report_dir, f"report covers {len(report.frames)} frames, {video} has "
                                             f"{info.frame_count}: it was written for another video")
            indices = sorted(suggest_keys(report, suggest, min_gap))
            if not indices:
                raise InputError(report_dir, "no frame is far enough from the keys to suggest (lower --min-gap)")
        with progress("keys", info.frame_count, quiet) as tick:
            written = export_keys(video, interval, output, on_frame=tick, indices=indices)
        if quiet:
            return
        if indices is None:
            click.echo(f"wrote {len(written)} key-frames to {output}: colour them, then run "
                       f"vprop colorize {video} --keys {output} --interval {interval}", err=True)
        else:
            values = {f["index"]: f["confidence"] for f in report.frames}
            shown = ", ".join(f"{i} ({values[i]:.2f})" for i in indices)
            if len(indices) < suggest:
                click.echo(f"warning: only {len(indices)} frames are far enough from the keys and each other "
                           f"(lower --min-gap for more)", err=True)
            click.echo(f"wrote {len(written)} suggested key-frames to {output}: frames {shown} (confidence). "
                       f"Paint or correct them, add them to your keys and run again (without --interval).",
                       err=True)
