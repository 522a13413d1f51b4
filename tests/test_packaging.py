"""The package list in pyproject.toml (explicit, because weights/ is mapped in as vprop.weights) is complete."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_source_package_is_listed_and_the_weights_are_mapped_in():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(d.relative_to(ROOT).parts) for d in (ROOT / "vprop").rglob("*")
               if d.is_dir() and any(d.glob("*.py"))} | {"vprop"}
    assert set(config["packages"]) == on_disk | {"vprop.weights"}
    assert config["package-dir"] == {"vprop.weights": "weights"}
    assert config["package-data"] == {"vprop.weights": ["*.safetensors"]}
