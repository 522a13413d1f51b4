"""Write-then-rename, so a crash or Ctrl-C never leaves a half-written output behind."""

import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path

_PARTIAL = ".partial-"    # in the name of every temporary output


@contextmanager
def atomic_path(path, directory: bool = False):
    """Yield a temporary sibling of `path`; move it onto `path` only if the block succeeds.

    The temporary name keeps the suffix, because writers (FFmpeg, OpenCV) pick the
    format from it. With `directory=True` the temporary is an empty directory.
    """
    path = Path(os.path.abspath(path))  # "." or "frames/.." have no name to build on
    # Random name rather than mkstemp: mkstemp creates files with mode 0600, which
    # would survive the rename and surprise users sharing outputs.
    tmp = path.with_name(f".{path.name}{_PARTIAL}{secrets.token_hex(4)}{path.suffix}")
    try:
        if directory:   # inside the try: a signal raised as mkdir returns must still remove it
            tmp.mkdir()
        yield tmp
        if directory:
            move_directory(tmp, path)
        else:
            os.replace(tmp, path)
    except BaseException as error:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        if isinstance(error, OSError) and (error.filename is None or _PARTIAL in str(error.filename)):
            # A full disk is reported by a write deep inside a codec, often without a file name or under
            # the temporary one: name the output the user asked for instead.
            raise OSError(error.errno, error.strerror or str(error), str(path)) from error
        raise


def move_directory(tmp: Path, path: Path):
    """Put the files of the finished directory ``tmp`` at ``path``."""
    if not path.exists():
        os.replace(tmp, path)
        return
    # An existing output directory may hold the user's other files, so it is never
    # replaced wholesale: only our files are moved in, one atomic rename each.
    for item in sorted(tmp.iterdir()):
        os.replace(item, path / item.name)
    tmp.rmdir()
