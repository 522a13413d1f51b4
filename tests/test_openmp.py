"""`import vprop` (the `vprop` command) makes idle OpenMP threads sleep, unless the user chose otherwise."""
import os
import subprocess
import sys

CODE = "import vprop, os; print(os.environ['OMP_WAIT_POLICY'])"


def policy_seen(env):
    return subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_openmp_threads_sleep_when_idle_unless_the_user_says_otherwise():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert policy_seen(env) == "PASSIVE"
    assert policy_seen({**env, "OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
