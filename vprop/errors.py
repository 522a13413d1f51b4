"""Errors caused by what the user gave us, reported as one readable line."""

from pathlib import Path


class InputError(Exception):
    """A user-supplied file or directory cannot be used; str() is "<path>: <problem>"."""

    def __init__(self, path, problem: str):
        # Both go to Exception so the error survives pickling (worker processes).
        super().__init__(path, problem)
        self.path = Path(path)
        self.problem = problem

    def __str__(self):
        return f"{self.args[0]}: {self.problem}"
