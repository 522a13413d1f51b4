"""Runs triton_cases.py in fresh processes: under the Triton interpreter on CPU, and on CUDA when present."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("triton")

CASES = Path(__file__).with_name("triton_cases.py")


@pytest.mark.parametrize("mode", [
    "interpret",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")),
])
def test_triton_kernels(mode):
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", "VPROP_PROPAGATE_IMPL")}
    if mode == "interpret":
        env["TRITON_INTERPRET"] = "1"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(CASES)]
    proc = subprocess.run(cmd, env=env, cwd=CASES.parent, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({mode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
