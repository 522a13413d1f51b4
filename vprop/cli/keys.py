import warnings

import click

from vprop.cli._console import progress, user_errors
from vprop.cli._options import video_input
from vprop.errors import InputError
from vprop.pipelines.keys import export_keys
from vprop.io.sequence import DEFAULT_FPS, ImageSequence
from vprop.io.video import probe, read_frames
from vprop.engine.shots import (CutDetector, describe, find_cuts, frame_starts, shot_keys, shots_without_key,
                                time_code)


@click.command("keys")
@video_input
@click.option("--interval", type=click.IntRange(1), default=None,
              help="Export frames 0, K, 2K, ... (with a warning for any shot that gets none).")
@click.option("--suggest", type=click.IntRange(1), default=None, metavar="N",
              help="Export the N frames where a new key would help most, from a report (--from).")
@click.option("--from", "report_dir", type=click.Path(path_type=str), default=None, metavar="REPORT_DIR",
              help="The directory a colorize/segment/hdr run wrote with --report.")
@click.option("--min-gap", type=click.IntRange(1), default=None,
              help="With --suggest: at least this many frames between any two keys (default: from the spacing).")
@click.option("--shots", is_flag=True,
              help="Find the hard cuts: the first frame of every shot, and with --interval every K-th frame within it.")
@click.option("--list", "list_only", is_flag=True,
              help="Print the frames as a table (frame, time code, shot) instead of writing images.")
@click.option("-o", "--output", type=click.Path(path_type=str),
              help="Directory for the key-frames (00000.png, ...), or a pattern of their names (keys/scan_%07d.png "
                   "or .tif: numbered as an input sequence's files, the names the key loader reads back). 16-bit "
                   "from a source deeper than 8 bits.")
@click.option("--quiet", "-q", is_flag=True)
def keys_command(video, interval, suggest, report_dir, min_gap, shots, list_only, output, quiet):
    """Export the frames an artist must colour (--interval, --shots), or those where a new key helps most
    (--suggest)."""
    if suggest is not None and (interval is not None or shots):
        raise click.UsageError("--suggest goes without --interval and --shots")
    if interval is None and suggest is None and not shots:
        raise click.UsageError("give --interval K, --shots or --suggest N")
    if output is None and not list_only:
        raise click.UsageError("give -o/--output DIR (or --list)")
    if suggest is not None and report_dir is None:
        raise click.UsageError("--suggest needs --from REPORT_DIR (written by colorize/segment/hdr --report)")
    if suggest is None and (report_dir is not None or min_gap is not None):
        raise click.UsageError("--from and --min-gap go with --suggest")
    with user_errors(quiet):
        info = probe(video)
        indices = None
        if suggest is not None:
            from vprop.engine.confidence import load_report
            from vprop.engine.suggest import suggest_keys

            report = load_report(report_dir)
            if info.frame_count is not None and info.frame_count != len(report.frames):
                raise InputError(report_dir, f"report covers {len(report.frames)} frames, {video} has "
                                             f"{info.frame_count}: it was written for another video")
            indices = sorted(suggest_keys(report, suggest, min_gap))
            if not indices:
                raise InputError(report_dir, "no frame is far enough from the keys to suggest (lower --min-gap)")
        cuts = None
        if shots:
            with progress("cuts", info.frame_count, quiet) as tick:
                cuts, count = find_cuts(_ticking(read_frames(video), tick))
            indices = shot_keys(cuts, count, interval)
        if list_only:
            if indices is None:
                count = info.frame_count if info.frame_count is not None else sum(1 for _ in read_frames(video))
                indices = range(0, count, interval)
            _print_table(indices, cuts or [], frame_starts(video, info), video)
            return
        with progress("keys", info.frame_count, quiet) as tick:
            seen = _ShotsSeen(tick) if indices is None else None
            written = export_keys(video, None if indices is not None else interval, output, on_frame=seen or tick,
                                  indices=indices, info=info)
        if seen is not None:
            _warn_shots_without_key(video, info, seen, interval, written)
        if quiet:
            return
        output = next(iter(written.values())).parent if written else output     # a pattern's folder
        # The next command needs the rate this one was given.
        given = (f"{video} --fps {video.fps}" if isinstance(video, ImageSequence) and video.fps != DEFAULT_FPS
                 else video)
        if shots:
            click.echo(f"wrote {len(written)} key-frames of {len(cuts) + 1} shots to {output}: colour them, then run "
                       f"vprop colorize {given} --keys {output}", err=True)
        elif suggest is None:
            click.echo(f"wrote {len(written)} key-frames to {output}: colour them, then run "
                       f"vprop colorize {given} --keys {output} --interval {interval}", err=True)
        else:
            values = {f["index"]: f["confidence"] for f in report.frames}
            shown = ", ".join(f"{i} ({values[i]:.2f})" for i in indices)
            if len(indices) < suggest:
                click.echo(f"warning: only {len(indices)} frames are far enough from the keys and each other "
                           f"(lower --min-gap for more)", err=True)
            click.echo(f"wrote {len(written)} suggested key-frames to {output}: frames {shown} (confidence). "
                       f"Paint or correct them, add them to your keys and run again (without --interval).",
                       err=True)


class _ShotsSeen:
    """``--interval``'s export: the cuts of the frames it decodes anyway (a 64-pixel thumbnail each), and the
    progress tick."""

    def __init__(self, tick):
        self.tick, self.detector, self.cuts, self.count = tick, CutDetector(), [], 0

    def __call__(self, frame) -> None:
        if self.detector.is_cut(frame.rgb):
            self.cuts.append(frame.index)
        self.count = frame.index + 1
        self.tick()


def _warn_shots_without_key(video, info, seen: _ShotsSeen, interval: int, written) -> None:
    """Before anyone paints: the shots ``--interval`` left without a key, which colorize, segment and hdr refuse."""
    missing = shots_without_key(seen.cuts, seen.count, list(written))
    if missing:
        more = f" and {len(missing) - 1} more shots" if len(missing) > 1 else ""
        shot = describe(missing[0], frame_starts(video, info))
        warnings.warn(f"{video}: {shot}{more} got no key-frame (the video has {len(seen.cuts)} cuts); colorize, "
                      f"segment and hdr refuse a shot without one: export with --shots --interval {interval}, which "
                      f"adds each shot's first frame")


def _ticking(frames, tick):
    for frame in frames:
        yield frame
        tick(frame.index)


def _print_table(indices, cuts, start, video) -> None:
    """One row per key-frame: its index, its time code (``start``: ``frame_starts``), the 1-based shot it opens
    or lies in, and, where the video is an image sequence, its file (the scan to paint)."""
    files = isinstance(video, ImageSequence)
    click.echo(f"{'frame':>7}  {'time code':<12}  {'shot':>4}" + ("  file" if files else ""))
    for index in indices:
        shot = 1 + sum(c <= index for c in cuts)
        file = f"  {video.file(video.first + index).name}" if files else ""
        click.echo(f"{index:>7}  {time_code(start(index)):<12}  {shot:>4}{file}")
