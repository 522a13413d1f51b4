"""The only place that talks to the terminal: progress on stderr, one-line errors, warnings as notes."""
from __future__ import annotations

import contextlib
import sys
import warnings

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from vprop.errors import InputError

stderr = Console(stderr=True, highlight=False)


class FramesPerSecond(TextColumn):
    def __init__(self):
        super().__init__("")

    def render(self, task):
        speed = task.finished_speed or task.speed
        return f"{speed:5.1f} fps" if speed else "  ... fps"


@contextlib.contextmanager
def progress(description: str, total: int | None, quiet: bool):
    """Yields a callback to call once per frame; draws frames, fps and ETA on stderr unless quiet."""
    if quiet:
        yield lambda *_: None
        return
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), FramesPerSecond(),
                   TimeRemainingColumn(), console=stderr, transient=False)
    task = None

    def tick(*_):
        nonlocal task
        if task is None:   # the bar appears with the first frame, after the inputs were checked
            bar.start()
            task = bar.add_task(description, total=total)
        bar.advance(task)

    try:
        yield tick
    finally:
        if task is not None:
            bar.stop()


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


