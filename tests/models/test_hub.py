"""Weights from the Hugging Face Hub, tested offline against a prepared cache (no network here)."""
import os
import shutil

import pytest
import torch

from vprop.errors import InputError, UsageError
from vprop.models.hub import fetch_hf, load_model, parse_hf_uri, resolve_weights, sha256

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def prepare_cache(cache, repo_id, filename, source, commit=COMMIT):
    """The layout huggingface_hub itself writes: blobs named by their sha256 (an LFS file's etag), a snapshot
    per commit linking to them, refs/<branch> -> commit. Returns the blob."""
    root = cache / f"models--{repo_id.replace('/', '--')}"
    (root / "snapshots" / commit).mkdir(parents=True)
    (root / "blobs").mkdir()
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(commit)
    blob = root / "blobs" / sha256(source)
    shutil.copy(source, blob)
    os.symlink(os.path.relpath(blob, root / "snapshots" / commit), root / "snapshots" / commit / filename)
    return blob


def test_parse_hf_uri():
    assert parse_hf_uri("hf://org/repo/w.safetensors") == ("org/repo", "w.safetensors", None)
    assert parse_hf_uri("hf://org/repo@v1.0/sub/w.safetensors") == ("org/repo", "sub/w.safetensors", "v1.0")
    with pytest.raises(UsageError, match=r"^hf://org: expected hf://ORG/REPO\[@REVISION\]/FILE$"):
        parse_hf_uri("hf://org")


def test_offline_hub_load_from_cache(tmp_path, monkeypatch, tiny_color_weights):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    prepare_cache(tmp_path, "vprop/tiny", "color.safetensors", tiny_color_weights)
    for uri in ("hf://vprop/tiny/color.safetensors", f"hf://vprop/tiny@{COMMIT}/color.safetensors"):
        local = resolve_weights("color", uri, cache_dir=tmp_path)
        assert sha256(local) == sha256(tiny_color_weights)
    model, meta = load_model("color", "hf://vprop/tiny/color.safetensors", cache_dir=tmp_path)
    assert meta == {"note": "untrained, for tests"}
    assert model(torch.zeros(1, 5, 8, 8), torch.zeros(1, 2, 8, 8)).shape == (1, 2, 8, 8)


def test_offline_hub_missing_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UsageError, match="not in the local Hugging Face cache"):
        fetch_hf("hf://vprop/absent/color.safetensors", cache_dir=tmp_path)


def test_sha256_mismatch_is_refused(tmp_path, monkeypatch, tiny_color_weights):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    prepare_cache(tmp_path, "vprop/tiny", "color.safetensors", tiny_color_weights)
    with pytest.raises(UsageError, match="sha256"):
        fetch_hf("hf://vprop/tiny/color.safetensors", cache_dir=tmp_path, expected_sha256="0" * 64)


def test_a_cached_file_changed_since_download_is_refused(tmp_path, monkeypatch, tiny_color_weights):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    blob = prepare_cache(tmp_path, "vprop/tiny", "color.safetensors", tiny_color_weights)
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1
    blob.write_bytes(bytes(data))
    with pytest.raises(UsageError, match=f"hf://vprop/tiny/color.safetensors: sha256 mismatch: expected {blob.name}"):
        load_model("color", "hf://vprop/tiny/color.safetensors", cache_dir=tmp_path)


def test_weights_for_another_task_are_refused(tiny_color_weights):
    with pytest.raises(InputError, match="task"):
        load_model("hdr", str(tiny_color_weights))


def test_weights_from_a_newer_vprop_are_refused_in_one_line(tmp_path, tiny_color_weights):
    import json

    from safetensors.torch import save_file

    from vprop.models.hub import read_weights_file

    tensors, meta = read_weights_file(tiny_color_weights)
    config = json.loads(meta["vprop_config"])
    newer = tmp_path / "newer.safetensors"
    save_file(tensors, str(newer), {**meta, "vprop_config": json.dumps({**config, "memory_bank": {"frames": 8}})})
    with pytest.raises(InputError, match="newer vprop .*memory_bank"):
        load_model("color", str(newer))
