"""`vprop batch --address`: a Ray cluster the test starts itself (`ray start --head` on 127.0.0.1) and stops."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.batch_media import make_batch
from support.cli import run

pytest.importorskip("ray")
REPO = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def ray_cluster(tmp_path):
    """A one-node cluster on 127.0.0.1 (token authentication, Ray's default), its workers importing this checkout;
    `ray start --block` stops everything it started when it is terminated, so only our own process is signalled."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token"}
    command = [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block",
               "--node-ip-address", "127.0.0.1", "--port", str(port), "--include-dashboard=false",
               "--ray-client-server-port", str(free_port()), "--dashboard-agent-listen-port", str(free_port()),
               "--num-cpus", "2", "--object-store-memory", str(100 * 2**20), "--disable-usage-stats"]
    log_path = tmp_path / "ray-start.log"
    with open(log_path, "w") as log:
        head = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while "Ray runtime started" not in log_path.read_text():
            assert head.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.5)
        assert "Local node IP: 127.0.0.1" in log_path.read_text()
        yield f"127.0.0.1:{port}"
    finally:
        head.terminate()
        head.wait(timeout=120)
    assert not listening(port)


def test_hdr_batch_on_a_cluster_matches_the_single_command(tmp_path, ray_cluster):
    import ray

    names = make_batch(tmp_path, starts=(0, 30), broken=False)
    out = tmp_path / "out"
    result = run("batch", "hdr", tmp_path / "videos", "--hdr-keys", tmp_path / "hdr_keys", "-o", out,
                 "--address", ray_cluster, "--mode", "online")
    assert result.exit_code == 0, result.output
    assert "2 done, 0 failed, 0 skipped" in result.output
    assert not ray.is_initialized()      # the driver left the cluster
    assert "worker: " in (out / "logs" / f"{names[0]}.log").read_text()
    for name in names:
        single = tmp_path / f"single_{name}"
        assert run("hdr", tmp_path / "videos" / f"{name}.mp4", "--hdr-keys", tmp_path / "hdr_keys" / name,
                   "--mode", "online", "-o", single, "-q").exit_code == 0
        frames = sorted(p.name for p in (out / name).iterdir())
        assert frames == sorted(p.name for p in single.iterdir()) == [f"{i:05d}.exr" for i in range(8)]
        assert all((out / name / f).read_bytes() == (single / f).read_bytes() for f in frames)

