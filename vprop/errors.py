"""Errors caused by what the user gave us, reported as one readable line: "<subject>: <problem>"."""

from pathlib import Path


class UserError(Exception):
    """Something the user gave cannot be used. The CLI prints str() and exits 1, never a traceback."""

    def __init__(self, subject, problem: str):
        # Both go to Exception so the error survives pickling (worker processes).
        super().__init__(subject, problem)
        self.problem = problem

    def __str__(self):
        return f"{self.args[0]}: {self.problem}"


class InputError(UserError):
    """A user-supplied file or directory cannot be used; ``path`` names it."""

    def __init__(self, path, problem: str):
        super().__init__(path, problem)
        self.path = Path(str(path))   # str: an ImageSequence is named by its pattern


class UsageError(UserError):
    """An option, a task name, a model URI or a combination of them cannot be used; ``subject`` names it."""

    def __init__(self, subject: str, problem: str):
        super().__init__(subject, problem)
        self.subject = subject
