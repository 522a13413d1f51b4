"""The only place that talks to the terminal: progress on stderr, one-line errors, warnings as notes."""
from __future__ import annotations

import contextlib
import logging
import sys
import warnings

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from vprop.errors import InputError

stderr = Console(stderr=True, highlight=False)


class FramesPerSecond(TextColumn):
    def __init__(self, unit: str = "fps"):
        super().__init__("")
        self.unit = unit

    def render(self, task):
        speed = task.finished_speed or task.speed
        return f"{speed:5.1f} {self.unit}" if speed else f"  ... {self.unit}"


@contextlib.contextmanager
def progress(description: str, total: int | None, quiet: bool, unit: str = "fps", completed: int = 0):
    """Yields a callback to call once per frame (or training step, ``unit="steps/s"``, counting from
    ``completed``), optionally with a ``note`` such as the loss; draws the count, the rate, the note and the ETA
    on stderr unless quiet."""
    if quiet:
        yield lambda *_, **__: None
        return
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), FramesPerSecond(unit),
                   TextColumn("{task.fields[note]}"), TimeRemainingColumn(), console=stderr, transient=False)
    task = None

    def tick(*_, note: str | None = None):
        nonlocal task
        if task is None:   # the bar appears with the first frame, after the inputs were checked
            bar.start()
            task = bar.add_task(description, total=total, completed=completed, note="")
        bar.update(task, advance=1, **({} if note is None else {"note": note}))

    try:
        yield tick
    finally:
        if task is not None:
            bar.stop()


@contextlib.contextmanager
def log_to_stderr(quiet: bool):
    """The library's ``logging`` records (logger ``vprop``) on stderr, above any progress bar; warnings only when
    quiet."""
    logger = logging.getLogger("vprop")
    handler = RichHandler(console=stderr, show_path=False, markup=False, rich_tracebacks=False)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@contextlib.contextmanager
def user_errors(quiet: bool = False):
    """A user's mistake ends the command with one line and exit code 1, never a traceback."""
    def show_warning(message, category, filename, lineno, file=None, line=None):
        if not quiet:
            click.echo(f"warning: {message}", err=True)

    old = warnings.showwarning
    warnings.showwarning = show_warning
    try:
        yield
    except InputError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted: no output written", err=True)
        sys.exit(130)
    finally:
        warnings.showwarning = old


class BatchProgress:
    """One bar for a whole batch on stderr: frames done of all videos, videos finished, fps and ETA.

    ``say`` prints a line above the bar (errors are said even when quiet)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = Progress(TextColumn("batch"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"),
                            TextColumn("{task.fields[videos]}"), FramesPerSecond(), TimeRemainingColumn(),
                            console=stderr, transient=False)
        self.task, self.videos, self.finished = None, 0, 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.task is not None:
            self.bar.stop()
        return False

    def start(self, videos: int, frames: int):
        self.videos = videos
        if not self.quiet and videos:
            self.bar.start()
            self.task = self.bar.add_task("batch", total=frames or None, videos=f"0/{videos} videos")

    def advance(self, frames: int):
        if self.task is not None:
            self.bar.advance(self.task, frames)

    def finished_video(self, frames_off: int = 0):
        """A video ended; ``frames_off``: its frames the total counted wrongly (a failure's unprocessed ones)."""
        self.finished += 1
        if self.task is not None:
            total = self.bar.tasks[0].total
            self.bar.update(self.task, total=None if total is None else max(0, total + frames_off),
                            videos=f"{self.finished}/{self.videos} videos")

    def say(self, line: str, error: bool = False):
        if error or not self.quiet:
            stderr.print(line, markup=False, highlight=False, soft_wrap=True)
