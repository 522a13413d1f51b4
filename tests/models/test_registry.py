"""The shipped weights: the registry matches the files and the model card, and a changed file is refused."""
import re
import shutil
from pathlib import Path

import pytest

from vprop.errors import InputError, UsageError
from vprop.models import hub, registry
from vprop.models.hub import load_model, sha256, shipped_weights
from vprop.models.registry import SHIPPED, shipped_dir

CARD = Path(__file__).resolve().parents[2] / "weights" / "README.md"


def test_registry_matches_the_shipped_files_and_the_model_card():
    card = CARD.read_text()
    assert set(SHIPPED) == {"color", "seg", "hdr", "seg-refine"}
    for task, entry in SHIPPED.items():
        path = shipped_dir() / entry.file
        assert path.stat().st_size == entry.size and sha256(path) == entry.sha256
        section = card.split(f"## `{entry.file}`")[1].split("\n## ")[0]
        assert re.search(rf"sha256 \| `{entry.sha256}`", section), task
        assert shipped_weights(task) == path
        assert load_model(task)[0].cfg.task == task


def test_a_changed_shipped_file_is_refused_in_one_line(tmp_path, monkeypatch):
    for entry in SHIPPED.values():
        shutil.copy(shipped_dir() / entry.file, tmp_path / entry.file)
    monkeypatch.setattr(hub, "shipped_dir", lambda: tmp_path)
    assert load_model("color")[0].cfg.task == "color"
    damaged = tmp_path / SHIPPED["color"].file
    data = bytearray(damaged.read_bytes())
    data[-1] ^= 1                                    # one bit of one weight: still a readable safetensors file
    damaged.write_bytes(bytes(data))
    with pytest.raises(InputError, match="sha256 mismatch") as e:
        load_model("color")
    assert "\n" not in str(e.value) and str(damaged) in str(e.value)
    damaged.unlink()
    with pytest.raises(InputError, match="missing"):
        load_model("color")


def test_an_unknown_task_has_no_shipped_weights():
    with pytest.raises(UsageError, match="known tasks: color, hdr, seg, seg-refine"):
        shipped_weights("depth")


def test_installed_layout_is_preferred_to_the_checkout(tmp_path, monkeypatch):
    package = tmp_path / "site-packages" / "vprop"
    (package / "models").mkdir(parents=True)
    (package / "weights").mkdir()
    monkeypatch.setattr(registry, "__file__", str(package / "models" / "registry.py"))
    assert shipped_dir() == package / "weights"
    (package / "weights").rmdir()
    assert shipped_dir() == tmp_path / "site-packages" / "weights"
