"""Stage 2 of a colour model on tiny data: sides recorded by the offline loop (and cached), a blend trained by
`vprop train color --side-blend` for a frozen TPN, kept at its best, exported with the TPN."""
import pytest
import torch
from click.testing import CliRunner

from support.cli import bad, misused
from support.train_data import make_davis
from vprop.cli import main
from vprop.models.hub import load_model, save_weights
from vprop.models.tpn import SwitchableTPN, TPNConfig
from vprop.training import side_blend
from vprop.training.data import load_clip

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_TOML = """
short_side = 48
crop = [24, 32]
validate_every = 2
log_every = 1
"""


def tiny_color_model() -> SwitchableTPN:
    torch.manual_seed(0)
    return SwitchableTPN(TPNConfig("color", 5, 2, hidden_channels=4, hidden_stride=2, base_width=4, max_width=8,
                                   depth=3, decoder="residual", extra={"aligned": True})).eval()


def test_the_offline_loop_records_both_sides_of_every_other_frame(tmp_path):
    videos = make_davis(tmp_path / "videos", names=("square",), frames=22)
    clip = load_clip(videos / "square.mp4", 48, tmp_path / "cache")
    sides = side_blend.record_sides(tiny_color_model(), clip)
    n, height, width = len(sides), *clip.lab.shape[1:3]
    # keys every 10 (0, 10, 20) and every 20 (0, 20): the even frames between two keys, for each
    assert n == 8 + 9 and sides.forward.shape == sides.truth.shape == (n, 2, height, width)
    assert sides.forward_conf.shape == (n, 1, height, width) and (sides.forward_conf > 0).all()
    assert sides.share.shape == (n, 1, 1, 1) and ((0 < sides.share) & (sides.share < 1)).all()
    assert [t.shape for t in sides.item(0, (slice(0, 8), slice(0, 12)))][0] == (1, 2, 8, 12)


def test_train_color_side_blend_learns_a_blend_for_a_frozen_tpn(tmp_path, monkeypatch):
    videos = make_davis(tmp_path / "videos", names=("dev", "train"), frames=22)
    init = tmp_path / "tpn.safetensors"
    save_weights(tiny_color_model(), init, {"task": "color", "steps": 7})
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML + f'cache_dir = "{tmp_path / "cache"}"\n')
    export = tmp_path / "blend.safetensors"
    args = ["train", "color", "--side-blend", "--data", str(videos), "--dev", "dev", "--init", str(init),
            "--config", str(config), "--steps", "4", "--batch-size", "2", "--export", str(export)]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert result.output.splitlines()[-1] == f"exported {export}"

    tpn, _ = load_model("color", str(init))
    model, meta = load_model("color", str(export))
    assert model.cfg.side_blend == {"width": 16, "scale": 4} and meta["train_config"]["side_blend"]
    assert meta["tpn"] == {"task": "color", "steps": 7}                # how the TPN itself was trained
    own = model.state_dict()
    assert all(torch.equal(own[name], value) for name, value in tpn.state_dict().items())    # the TPN is frozen
    blend = {name: value for name, value in own.items() if name.startswith("side_blend.")}
    assert blend and any(value.abs().sum() > 0 for name, value in blend.items() if name.startswith("side_blend.net.6"))
    log = (tmp_path / "a" / "log.csv").read_text()
    assert "logmse/side-blend" in log and "logmse/hand-rule" in log
    assert (tmp_path / "a" / "best.safetensors").exists()

    # A second run on the same TPN and videos reads the recorded sides from the cache.
    def not_again(*_args, **_kwargs):
        raise AssertionError("sides recorded again")
    monkeypatch.setattr(side_blend, "record_sides", not_again)
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output + repr(result.exception)


def test_side_blend_is_a_colour_stage(tmp_path):
    result = CliRunner().invoke(main, ["train", "seg", "--side-blend", "--data", str(tmp_path)])
    misused(result, "--side-blend learns the offline blend of colour: use it with 'vprop train color'")


def test_an_unknown_side_blend_setting_is_named(tmp_path):
    videos = make_davis(tmp_path / "videos", names=("square",), frames=12)
    config = tmp_path / "bad.toml"
    config.write_text('[side_blend]\nwidth = 8\ndepth = 3\n')
    result = CliRunner().invoke(main, ["train", "color", "--data", str(videos), "--config", str(config)])
    bad(result, "side_blend: expected positive whole numbers for width and scale, got {'width': 8, 'depth': 3}")
