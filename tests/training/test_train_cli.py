"""`vprop train seg|hdr` on tiny data: trains a few steps and exports weights of the right task."""
from train_helpers import davis, one_thread, panoramas, tiny_cfg  # noqa: F401 (fixtures)
import pytest
from click.testing import CliRunner

from vprop.cli import main
from vprop.models.hub import load_model

TINY_TOML = """
hidden_channels = 4
hidden_stride = 2
base_width = 4
max_width = 16
depth = 3
crop = [32, 48]
short_side = 48
max_distance = 4
log_every = 1
"""


@pytest.mark.parametrize("task", ["seg", "hdr"])
def test_train_cli_exports_weights(task, davis, panoramas, tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML + f'cache_dir = "{tmp_path / "cache"}"\n')
    data = davis if task == "seg" else panoramas
    export = tmp_path / f"{task}.safetensors"
    result = CliRunner().invoke(main, ["train", task, "--data", str(data), "--config", str(config),
                                       "--out", str(tmp_path / "run"), "--steps", "3", "--batch-size", "2",
                                       "--workers", "0", "--export", str(export)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "exported" in result.output
    model, meta = load_model(task, str(export))
    assert model.cfg.task == task and meta["task"] == task and meta["steps"] == 3
    assert model.cfg.property_channels == (1 if task == "seg" else 3)
    if task == "hdr":
        assert "log_mean" in model.cfg.extra


def test_train_cli_rejects_unknown_task():
    result = CliRunner().invoke(main, ["train", "depth", "--data", "."])
    assert result.exit_code != 0
