"""`vprop weights` (the shipped files, checked), `vprop weights download` against a stand-in hub on 127.0.0.1
(no network here: a loopback HTTP server answers as the hub does), and `vprop --version`."""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from support.cli import misused, run
from vprop.models.hub import load_model, sha256
from vprop.models.registry import SHIPPED, shipped_dir

ROOT = Path(__file__).resolve().parents[2]
COMMIT = "89abcdef0123456789abcdef0123456789abcdef"


def test_weights_lists_the_four_shipped_files_checked():
    result = run("weights")
    assert result.exit_code == 0, result.output
    assert len(re.findall(r"sha256 ok\n", result.output)) == 4
    for entry in SHIPPED.values():
        assert f"{entry.task}: {entry.file}" in result.output and entry.sha256 in result.output
    assert "CC BY 4.0" in result.output and "J / F on 5 DAVIS dev videos" in result.output


def test_weights_reports_a_changed_file_and_fails(tmp_path, monkeypatch):
    for entry in SHIPPED.values():
        shutil.copy(shipped_dir() / entry.file, tmp_path / entry.file)
    (tmp_path / SHIPPED["hdr"].file).write_bytes(b"not the weights")
    monkeypatch.setattr("vprop.models.registry.shipped_dir", lambda: tmp_path)
    result = run("weights")
    assert result.exit_code == 1
    assert "hdr: hdr-stpn.safetensors (1.6 MB), sha256 bad" in result.output
    assert len(re.findall(r"sha256 ok\n", result.output)) == 3


def test_version_names_the_libraries_and_the_device():
    import av
    import cv2
    import torch

    from vprop import __version__

    result = run("--version")
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == f"vprop {__version__}"
    assert f"torch {torch.__version__}" in result.output and f"PyAV {av.__version__}" in result.output
    assert f"OpenCV {cv2.__version__}" in result.output
    assert f"device: {'cuda' if torch.cuda.is_available() else 'cpu'}" in result.output


class StandInHub(BaseHTTPRequestHandler):
    """What huggingface_hub asks of the hub to download a file: HEAD then GET on /REPO/resolve/REV/FILE, the
    commit in X-Repo-Commit and the file's sha256 as its ETag (as for an LFS file)."""
    files: dict = {}          # (repo, filename) -> (bytes served, sha256 announced)

    def do_HEAD(self):
        self.answer(body=False)

    def do_GET(self):
        self.answer(body=True)

    def answer(self, body):
        match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", self.path)
        served = self.files.get((match[1], match[3])) if match else None
        if served is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data, digest = served
        self.send_response(200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{digest}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def stand_in_hub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    StandInHub.files = {}


def vprop_process(*args, env):
    """`python -m vprop ...` in a fresh process: huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE on import."""
    clean = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and not k.startswith("HF_")}
    return subprocess.run([sys.executable, "-m", "vprop", *args], capture_output=True, text=True, timeout=120,
                          env={**clean, "PYTHONPATH": str(ROOT), "HF_HUB_DISABLE_TELEMETRY": "1", **env})


def test_download_fills_the_cache_for_offline_use(stand_in_hub, tmp_path, tiny_color_weights, monkeypatch):
    server, endpoint = stand_in_hub
    StandInHub.files = {("vprop/tiny", "color.safetensors"): (tiny_color_weights.read_bytes(),
                                                              sha256(tiny_color_weights))}
    cache = tmp_path / "cache"
    uri = "hf://vprop/tiny/color.safetensors"
    result = vprop_process("weights", "download", uri, env={"HF_ENDPOINT": endpoint, "HF_HUB_CACHE": str(cache)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{uri}: color weights, sha256 {sha256(tiny_color_weights)} (the hub's)" in result.stdout
    server.shutdown()                                            # from now on, no hub at all
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)      # what HF_HUB_OFFLINE=1 sets
    model, meta = load_model("color", uri, cache_dir=cache)
    assert meta == {"note": "untrained, for tests"} and model.cfg.task == "color"


def test_download_refuses_a_file_that_is_not_what_the_hub_announced(stand_in_hub, tmp_path, tiny_color_weights):
    _, endpoint = stand_in_hub
    data = bytearray(tiny_color_weights.read_bytes())
    data[-1] ^= 1
    StandInHub.files = {("vprop/tiny", "color.safetensors"): (bytes(data), sha256(tiny_color_weights))}
    env = {"HF_ENDPOINT": endpoint, "HF_HUB_CACHE": str(tmp_path / "cache")}
    result = vprop_process("weights", "download", "hf://vprop/tiny/color.safetensors", env=env)
    assert one_error(result) == f"error: hf://vprop/tiny/color.safetensors: sha256 mismatch: expected " \
                                f"{sha256(tiny_color_weights)}, got {hashlib.sha256(data).hexdigest()} (damaged or replaced)"
    result = vprop_process("weights", "download", "hf://vprop/tiny/absent.safetensors", env=env)
    assert one_error(result).startswith("error: hf://vprop/tiny/absent.safetensors: ")


def one_error(result) -> str:
    """Exit 1 and one `error:` line (log lines may come before it), never a traceback."""
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_download_wants_a_hub_uri():
    result = run("weights", "download", "weights/color-stpn.safetensors")
    misused(result, "URI: expected hf://ORG/REPO[@REV]/FILE")
