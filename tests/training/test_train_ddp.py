"""Data-parallel training under torchrun (gloo, 2 CPU processes) on a tiny synthetic video dataset."""
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.usefixtures("one_thread")

SCRIPT = textwrap.dedent('''
    import hashlib, json, os, sys
    import torch
    from vprop.training.loop import TrainConfig
    from vprop.training.run import build_seg

    data, out, cache = sys.argv[1:4]
    cfg = TrainConfig(task="seg", data=[data], out=out, cache_dir=cache, steps=5, batch_size=2, crop=(32, 48),
                      short_side=48, max_distance=4, workers=0, log_every=1, hidden_channels=4, hidden_stride=2,
                      base_width=4, max_width=16, depth=3)
    trainer = build_seg(cfg)
    seed = trainer.batches.dataset.seed
    trainer.run()
    digest = hashlib.sha256(b"".join(v.detach().cpu().numpy().tobytes()
                                     for v in trainer.model.state_dict().values())).hexdigest()
    group = torch.distributed.is_initialized()
    with open(os.path.join(out, f"rank{os.environ['RANK']}.json"), "w") as f:
        json.dump({"hash": digest, "seed": seed, "step": trainer.step, "group_left": group}, f)
''')


def test_torchrun_two_ranks_stay_in_sync(davis, tmp_path):
    import json

    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone", str(script),
         str(davis), str(out), str(tmp_path / "cache")],
        env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["hash"] == ranks[1]["hash"]                 # DDP kept the replicas identical
    assert ranks[0]["seed"] != ranks[1]["seed"]                 # each rank draws its own data
    assert all(r["step"] == 5 and not r["group_left"] for r in ranks)
    assert sorted(p.name for p in out.iterdir() if "checkpoint" in p.name) == ["checkpoint.safetensors"]
    log = (out / "log.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in log[1:]] == ["1", "2", "3", "4", "5"]   # rank 0 alone logs

    from vprop.training.checkpoint import load_checkpoint
    assert load_checkpoint(out / "checkpoint.safetensors")["step"] == 5
