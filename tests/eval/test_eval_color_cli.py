"""`vprop eval color` end to end on the real example clip: PSNR, RMSE and CDC per method, and the truth's CDC."""
import json
from pathlib import Path

import pytest

from support.cli import run
from vprop.eval.baselines import resized_frames
from vprop.eval.metrics import cdc

RHINO = Path(__file__).resolve().parents[2] / "examples" / "rhino.mp4"


def test_eval_color_reports_cdc_beside_psnr(tmp_path, tiny_color_weights):
    out = tmp_path / "r.json"
    result = run("eval", "color", RHINO, "--interval", 6, "--frames", 14, "--short-side", 64, "--mode", "offline",
                 "--weights", tiny_color_weights, "--device", "cpu", "--json", out, "-q")
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    truth = cdc(f.rgb for f in resized_frames(RHINO, 64, 14))
    assert data["truth_cdc"] == pytest.approx(truth) and 0 < truth < 0.05
    row = data["results"]["6"]
    assert list(row) == ["copy", "flow", "flow-2sided", "vprop"]
    for name, r in row.items():
        assert r["frames"] == 14 - 3 and 0 < r["cdc"] < 0.1, name     # keys 0, 6, 12 are not scored
    # copying the key holds each key's colours until the next one: a jump at every key, so it flickers most
    assert row["copy"]["cdc"] > row["flow"]["cdc"]
    header, line, last = result.output.strip().splitlines()
    assert header.split()[1:4] == ["copy", "PSNR", "RMSE"] and header.split()[4] == "CDC"
    cells = line.split()
    assert cells[0] == "6" and float(cells[3]) == pytest.approx(row["copy"]["cdc"], abs=5e-6)
    assert float(cells[1]) == pytest.approx(row["copy"]["psnr"], abs=0.005)
    assert last == f"ground truth CDC {truth:.5f}"


def test_vprop_is_evaluated_as_colorize_runs_it_at_the_working_size(tiny_color_weights):
    from vprop.engine.working import working_size
    from vprop.eval.baselines import model_settings
    from vprop.eval.color import color_methods, evaluate_color
    from vprop.models.hub import load_model
    from vprop.pipelines.colorize import propagate_color
    from vprop.tasks.color import rgb_to_lab

    model, _ = load_model("color", str(tiny_color_weights))
    model.cfg.extra["short_side"] = 32          # the working size: frames of short side 64 are propagated at 32
    frames = lambda: resized_frames(RHINO, 64, 8)  # noqa: E731
    keep = {3, 5}
    small = evaluate_color(frames, 4, color_methods(model, "online"), keep)["vprop"]
    full = evaluate_color(frames, 4, color_methods(model, "online"), keep, full_resolution=True)["vprop"]
    keys = {f.index: rgb_to_lab(f.rgb) for f in frames() if f.index % 4 == 0}
    first = next(frames()).rgb
    size = working_size(first.shape[1], first.shape[0], 32)
    as_colorize = {frame.index: out for frame, out in
                   propagate_color(model, model_settings(model, "online", repair=True, lookup=True), frames(), keys, size)}
    for index in keep:
        assert (small.samples[index] == as_colorize[index]).all()
        assert small.samples[index].shape == first.shape      # answered at the frames' own size
    assert any((small.samples[i] != full.samples[i]).any() for i in keep)
