import os

import pytest

from vprop.io.atomic import atomic_path


def test_file_appears_only_on_success(tmp_path):
    target = tmp_path / "out.mp4"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".mp4" and tmp != target
        tmp.write_text("data")
        assert not target.exists()
    assert target.read_text() == "data"
    assert os.listdir(tmp_path) == ["out.mp4"]


def test_failure_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.exr"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.exr"]


def test_directory_moves_in_without_touching_other_files(tmp_path):
    target = tmp_path / "frames"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    (target / "00000.png").write_text("stale")
    with atomic_path(target, directory=True) as tmp:
        assert tmp.is_dir() and not list(tmp.iterdir())
        (tmp / "00000.png").write_text("new")
    assert (target / "00000.png").read_text() == "new"
    assert (target / "notes.txt").read_text() == "mine"
    assert os.listdir(tmp_path) == ["frames"]
    with pytest.raises(ValueError):
        with atomic_path(tmp_path / "other", directory=True) as tmp:
            (tmp / "00000.png").write_text("x")
            raise ValueError
    assert os.listdir(tmp_path) == ["frames"]
