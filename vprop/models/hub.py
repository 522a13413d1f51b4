"""Weights files: safetensors with the architecture in the metadata, so a file alone rebuilds its model.

Where weights come from, in order: an explicit path; ``hf://ORG/REPO[@REVISION]/FILE`` through huggingface_hub
(its cache, ``HF_HUB_OFFLINE=1`` honoured); else the file shipped in the package for the task
(:mod:`vprop.models.registry`). A shipped or hub file is loaded only if its sha256 is the one recorded for it: the
registry's for a shipped file, the hub's (the name of the LFS blob in the cache) for a hub file. No pickle is ever
loaded.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from vprop.errors import InputError, UsageError
from vprop.io.atomic import atomic_path
from vprop.models.registry import SHIPPED, shipped_dir
from vprop.models.tpn import SwitchableTPN, TPNConfig

log = logging.getLogger("vprop")

SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def save_weights(model: SwitchableTPN, path: Path, metadata: dict | None = None, half: bool = True) -> None:
    """Write ``model`` with its config and free-form metadata (task, data, steps, metrics) to a safetensors file."""
    tensors = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
               for k, v in model.state_dict().items()}
    meta = {"vprop_config": model.cfg.to_json(), "vprop_meta": json.dumps(metadata or {}, sort_keys=True)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def read_weights_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and raw metadata of a safetensors file; one-line errors for a missing or damaged one."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such weights file")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}
    except Exception as e:  # safetensors raises several types for damaged files
        raise InputError(path, f"not a readable safetensors file ({e})") from None


def load_weights_file(path: Path, device: str = "cpu") -> tuple[SwitchableTPN, dict]:
    """Rebuild the model of a weights file; every key must match (no silent partial loads)."""
    tensors, meta = read_weights_file(path)
    if "vprop_config" not in meta:
        raise InputError(path, "safetensors file without a vprop model config")
    try:
        config = TPNConfig.from_json(meta["vprop_config"])
    except ValueError as e:
        raise InputError(path, f"written by a newer vprop ({e}): upgrade vprop to use it") from None
    model = SwitchableTPN(config)
    expected = model.state_dict()
    missing, unexpected = set(expected) - set(tensors), set(tensors) - set(expected)
    if missing or unexpected:
        raise InputError(path, f"weights do not match the model (missing {sorted(missing)[:3]}, "
                               f"unexpected {sorted(unexpected)[:3]})")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})
    return model.to(device).eval(), json.loads(meta.get("vprop_meta", "{}"))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_sha256(path: Path, expected: str, name: str | None = None) -> Path:
    """``path`` itself if its content has the digest ``expected``, else a one-line error naming ``name`` (the URI
    it came from) or else ``path``."""
    actual = sha256(path)
    if actual != expected:
        problem = f"sha256 mismatch: expected {expected}, got {actual} (damaged or replaced)"
        raise UsageError(name, problem) if name else InputError(path, problem)
    return path


def shipped_weights(task: str) -> Path:
    """The file shipped for ``task``, checked against the registry's sha256."""
    if task not in SHIPPED:
        raise UsageError(task, f"no shipped weights; known tasks: {', '.join(sorted(SHIPPED))}")
    path = shipped_dir() / SHIPPED[task].file
    if not path.is_file():
        raise InputError(path, "shipped weights file missing: the installation is incomplete, reinstall vprop")
    return check_sha256(path, SHIPPED[task].sha256)


def hub_sha256(local: Path) -> str | None:
    """The sha256 the hub gave for a cached file: huggingface_hub names an LFS file's blob by it (the snapshot
    entry is a link to the blob). None where the cache holds a copy instead (no symlinks) or a non-LFS file."""
    blob = Path(local).resolve()
    return blob.name if blob.parent.name == "blobs" and SHA256_HEX.fullmatch(blob.name) else None


def parse_hf_uri(uri: str) -> tuple[str, str, str | None]:
    """``hf://org/repo[@revision]/path/in/repo.safetensors`` -> (repo_id, filename, revision)."""
    rest = uri[len("hf://"):]
    parts = rest.split("/")
    if len(parts) < 3 or not all(parts):
        raise UsageError(uri, "expected hf://ORG/REPO[@REVISION]/FILE")
    org, repo, filename = parts[0], parts[1], "/".join(parts[2:])
    revision = None
    if "@" in repo:
        repo, revision = repo.split("@", 1)
    return f"{org}/{repo}", filename, revision


def fetch_hf(uri: str, cache_dir: Path | None = None, expected_sha256: str | None = None) -> Path:
    """Resolve a hub URI to a local file through huggingface_hub's cache (offline mode uses only the cache),
    downloading it when it is not there. Its sha256 is checked against the hub's, and ``expected_sha256``."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    repo_id, filename, revision = parse_hf_uri(uri)
    log.info("weights: %s (revision %s) from the Hugging Face Hub cache or network", uri, revision or "main")
    try:
        local = Path(hf_hub_download(repo_id, filename, revision=revision, cache_dir=cache_dir))
    except LocalEntryNotFoundError:
        raise UsageError(uri, "not in the local Hugging Face cache and the hub cannot be reached "
                              "(offline?); download it once with network access") from None
    except Exception as e:
        raise UsageError(uri, f"cannot fetch from the Hugging Face Hub ({type(e).__name__}: {e})") from None
    recorded = hub_sha256(local)
    if recorded is None and expected_sha256 is None:
        log.warning("%s: the cache holds no sha256 for this file (not an LFS file, or a cache without "
                    "symlinks); it is loaded unverified", uri)
    for expected in {recorded, expected_sha256} - {None}:
        check_sha256(local, expected, uri)
    return local


def resolve_weights(task: str, weights: str | None = None, cache_dir: Path | None = None) -> Path:
    if weights:
        return fetch_hf(weights, cache_dir) if weights.startswith("hf://") else Path(weights)
    return shipped_weights(task)


def load_model(task: str, weights: str | None = None, device: str = "cpu", cache_dir: Path | None = None
               ) -> tuple[SwitchableTPN, dict]:
    """The model for ``task``: explicit weights (path or hf:// URI) or the shipped default."""
    model, meta = load_weights_file(resolve_weights(task, weights, cache_dir), device)
    if model.cfg.task != task:
        problem = f"weights are for task {model.cfg.task!r}, not {task!r}"
        if weights and not weights.startswith("hf://"):
            raise InputError(weights, problem)
        raise UsageError(weights or task, problem)   # a hub URI, or the shipped weights of the wrong task
    return model, meta
