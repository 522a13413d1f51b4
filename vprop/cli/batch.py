"""`vprop batch colorize|segment|hdr JOBS -o OUT_DIR`: many videos on a local Ray instance or a cluster.

Each batch command takes the task options of its single command (the same click parameters, so help, defaults
and checks agree); a manifest's extra columns are per-video values of those options, parsed by them too.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from vprop.cli._console import BatchProgress, user_errors
from vprop.cli._options import frame_rate
from vprop.cli.colorize import colorize_command
from vprop.cli.hdr import hdr_command
from vprop.cli.segment import segment_command
from vprop.errors import InputError

REPLACED = {"video", "keys_dir", "masks", "output"}          # given by the batch's conventions or manifest
# an extra output per video: manifest only
PER_VIDEO_PATHS = {"overlay", "alpha", "preview", "hdr10", "hlg", "report_dir"}
LIBRARY_NAME = {"report_dir": "report"}   # a click parameter whose library keyword differs
WHOLE_BATCH = {"weights", "refine_weights", "device", "quiet"}   # what a worker holds: one value for all videos
SINGLE_RUN = {"resume", "workers"}     # a batch worker runs each video in one process; the batch's --workers is its own
# An image sequence's rate (the batch's own --fps, or a manifest row's fps) and sound (a manifest row's audio).
SEQUENCE_ONLY = {"fps", "audio"}


@click.group("batch")
def batch_group():
    """Run colorize, segment or hdr over many videos, on this machine or a Ray cluster (pip install 'vprop[batch]').

    JOBS is a folder of videos (keys found by the video's name) or a .csv/.toml manifest, one row per video.
    """


def _manifest_converter(single: click.Command, ctx: click.Context):
    """(column, value) -> (keyword, value) through the single command's own option, for manifest cells."""
    by_column = {}
    for param in single.params:
        if param.name not in REPLACED | SINGLE_RUN:
            for name in [param.name] + [o.lstrip("-").replace("-", "_") for o in param.opts]:
                by_column[name] = param
    known = ", ".join(sorted(p.name for p in set(by_column.values()) if p.name not in WHOLE_BATCH))

    def convert(column, value):
        param = by_column.get(column)
        if param is None:
            raise ValueError(f"unknown column {column!r} (known: input, keys, output, {known})")
        if param.name in WHOLE_BATCH:
            raise ValueError(f"{column} is the same for every video: give it on the command line")
        try:
            return LIBRARY_NAME.get(param.name, param.name), param.type_cast_value(ctx, value)
        except click.BadParameter as error:
            raise ValueError(f"{column}: {error.format_message()}") from None

    return convert


def _jobs(task, single, jobs_path: Path, keys_root, out_dir: Path, options, fps, quiet):
    from vprop.batch import folder_jobs, manifest_jobs

    if jobs_path.is_dir():
        jobs, others = folder_jobs(task, jobs_path, keys_root, out_dir, options, fps)
        if others and not quiet:
            names = ", ".join(p.name for p in others[:3]) + (" ..." if len(others) > 3 else "")
            click.echo(f"note: {len(others)} file(s) in {jobs_path} are neither videos by their suffix nor folders "
                       f"of numbered images: {names}", err=True)
        return jobs
    if jobs_path.suffix.lower() in (".csv", ".toml") and jobs_path.is_file():
        convert = _manifest_converter(single, click.get_current_context())
        return manifest_jobs(task, jobs_path, keys_root, out_dir, options, convert, fps)
    if not jobs_path.exists():
        raise InputError(jobs_path, "no such folder or manifest")
    raise InputError(jobs_path, "JOBS must be a folder of videos or a .csv/.toml manifest")


def _run(task, single, jobs, keys_root, out_dir, workers, address, force, fps, quiet, device, weights,
         refine_weights=None, **options):
    from vprop.batch import TASKS, Plan, run_batch

    if refine_weights:
        options["refine"] = True     # as in the single command: refiner weights imply --refine
    out_dir, log_dir = Path(out_dir), Path(out_dir) / "logs"
    start, outcomes, planned = time.monotonic(), [], False
    with user_errors(quiet):
        job_list = _jobs(task, single, Path(jobs), keys_root and Path(keys_root), out_dir, options, fps, quiet)
        models = {TASKS[task].model: weights, **({"seg-refine": refine_weights} if task == "segment" else {})}
        with BatchProgress(quiet) as bar:
            try:
                for event in run_batch(task, job_list, log_dir, workers=workers, address=address, device=device,
                                       weights=models, force=force):
                    if isinstance(event, Plan):
                        bar.start(event.videos, event.frames)
                        planned = True
                    elif isinstance(event, int):
                        bar.advance(event)
                    else:
                        outcomes.append(event)
                        if event.status == "failed":
                            bar.say(f"error: {event.error}", error=True)
                        if planned:     # a video the workers ran (the ones before the plan were never counted)
                            bar.finished_video(event.frames - event.planned)
            except KeyboardInterrupt:
                bar.say(f"interrupted: {sum(o.status == 'done' for o in outcomes)} video(s) done; the ones in "
                        "progress were not written", error=True)
                sys.exit(130)
    count = {s: [o for o in outcomes if o.status == s] for s in ("done", "failed", "skipped")}
    seconds = time.monotonic() - start
    if not quiet:
        rate = f", {len(count['done']) * 3600 / seconds:.0f} videos/hour" if count["done"] else ""
        click.echo(f"batch: {len(count['done'])} done, {len(count['failed'])} failed, {len(count['skipped'])} "
                   f"skipped in {seconds:.1f} s{rate}; logs in {log_dir}", err=True)
        for outcome in count["failed"]:
            click.echo(f"failed: {outcome.job.video} (log: {log_dir / (outcome.job.name + '.log')})", err=True)
    sys.exit(1 if count["failed"] else 0)


def _batch_command(task: str, single: click.Command, keys_option: click.Option) -> click.Command:
    def callback(**kwargs):
        _run(task, single, **kwargs)

    own = [
        click.Argument(["jobs"], type=click.Path(path_type=str)),
        keys_option,
        click.Option(["-o", "--output", "out_dir"], required=True, type=click.Path(file_okay=False, path_type=str),
                     help="Output folder: OUT_DIR/<video name>... as the single command writes it, and logs/."),
        click.Option(["--workers"], type=click.IntRange(1), default=None,
                     help="At most N workers (default: one per CPU, or per GPU when the cluster has GPUs)."),
        click.Option(["--address"], default=None, metavar="auto|HOST:PORT|ray://HOST:PORT",
                     help="Join this Ray cluster (default: start a local Ray instance for the run)."),
        click.Option(["--force"], is_flag=True, help="Redo videos whose output is already complete."),
        click.Option(["--fps"], callback=frame_rate, metavar="RATE",
                     help="Frame rate of the image sequences among the jobs (a JOBS folder's subfolders of numbered "
                          "images; a manifest's rows without an fps) (default 24)."),
    ]
    options = [p for p in single.params if p.name not in REPLACED | PER_VIDEO_PATHS | SINGLE_RUN | SEQUENCE_ONLY]
    return click.Command(task, callback=callback, params=own + options, help=(
        f"`vprop {task}` over every video of JOBS: a folder of videos, their keys found by the video's name under "
        f"{keys_option.opts[0]} ROOT, or a .csv/.toml manifest with a row per video (input, keys, output and any "
        "option below; an input may be an image sequence's folder or pattern, with fps and audio columns); a JOBS "
        "folder's subfolders of numbered images are image sequences too. Videos whose output is complete are "
        "skipped; exit code 1 if any video failed."))


batch_group.add_command(_batch_command("colorize", colorize_command, click.Option(
    ["--keys", "keys_root"], type=click.Path(file_okay=False, path_type=str),
    help="Root of the key folders: ROOT/<video name>/00030.png ...")))
batch_group.add_command(_batch_command("segment", segment_command, click.Option(
    ["--masks", "keys_root"], type=click.Path(path_type=str),
    help="Root of the masks: ROOT/<video name>.png (frame 0) or ROOT/<video name>/00000.png ...")))
batch_group.add_command(_batch_command("hdr", hdr_command, click.Option(
    ["--hdr-keys", "--keys", "keys_root"], type=click.Path(file_okay=False, path_type=str),
    help="Root of the HDR key folders: ROOT/<video name>/00030.exr ...")))
