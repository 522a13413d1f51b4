"""Training checkpoints without pickle: a checkpoint can come from anyone, and reading it must not run code.

One safetensors file holds every tensor: the model's (``model/NAME``), the optimiser's per-parameter state
(``optimizer/INDEX/NAME``) and the random generators' states (``rng/...``). Everything else (step, best score,
configs, the optimiser's hyper-parameters, the numpy generator's position, the gradient scaler) is JSON in the
file's metadata. One file, written under a temporary name and renamed: a kill mid-write leaves the previous
checkpoint whole, and tensors and bookkeeping can never come from two different saves.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from vprop.errors import InputError
from vprop.io.atomic import atomic_path

FORMAT = "vprop-checkpoint/1"
KEY = "vprop_checkpoint"


def _cpu(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu", copy=True).contiguous()     # a copy: safetensors refuses shared storage


def _refuse_pickle(path: Path) -> None:
    if path.suffix == ".pt":
        raise InputError(path, "a pickle (.pt) checkpoint is not loaded, since unpickling can run code: give a "
                               ".safetensors weights file or a run's checkpoint.safetensors")


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` (as ``Trainer.state()`` builds it; ``numpy_rng`` in numpy's dict form) to ``path``."""
    tensors = {f"model/{k}": _cpu(v) for k, v in state["model"].items()}
    optimizer_state = {}
    for index, entries in state["opt"]["state"].items():
        optimizer_state[index] = {}
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer/{index}/{name}"] = _cpu(value)
            else:
                optimizer_state[index][name] = value
    numpy_rng = state["numpy_rng"]
    tensors["rng/torch"] = _cpu(state["torch_rng"])
    tensors["rng/numpy"] = torch.from_numpy(numpy_rng["state"]["key"].astype(np.int64))
    numpy_rng = {**numpy_rng, "state": {"pos": numpy_rng["state"]["pos"]}}
    for i, cuda_state in enumerate(state.get("cuda_rng", [])):
        tensors[f"rng/cuda/{i}"] = _cpu(cuda_state)
    meta = {
        "format": FORMAT, "step": state["step"], "best": state["best"], "model_config": state["model_config"],
        "train_config": state["train_config"], "numpy_rng": numpy_rng, "scaler": state.get("scaler"),
        "optimizer": {"param_groups": state["opt"]["param_groups"], "state": optimizer_state},
    }
    with atomic_path(path) as tmp:
        # numpy scalars (a validation score) as the Python numbers they hold
        save_file(tensors, str(tmp), metadata={KEY: json.dumps(meta, default=lambda o: o.item())})


def load_checkpoint(path: Path) -> dict:
    """The state ``save_checkpoint`` wrote, in the same shape; one-line errors for anything else."""
    from vprop.models.hub import read_weights_file

    path = Path(path)
    _refuse_pickle(path)
    tensors, metadata = read_weights_file(path)
    if KEY not in metadata:
        raise InputError(path, "not a vprop training checkpoint (a weights file? use --init for those)")
    meta = json.loads(metadata[KEY])
    if meta.get("format") != FORMAT:
        raise InputError(path, f"checkpoint format {meta.get('format')!r}, this vprop reads {FORMAT!r}")

    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    optimizer_state = {}
    for index, entries in meta["optimizer"]["state"].items():        # JSON keys are strings; torch's are ints
        own = part(f"optimizer/{index}/")
        optimizer_state[int(index)] = {**entries, **own}
    numpy_rng = meta["numpy_rng"]
    numpy_rng["state"]["key"] = tensors["rng/numpy"].numpy().astype(np.uint32)
    cuda = part("rng/cuda/")
    return {
        "model": part("model/"), "step": meta["step"], "best": meta["best"],
        "opt": {"state": optimizer_state, "param_groups": meta["optimizer"]["param_groups"]},
        "model_config": meta["model_config"], "train_config": meta["train_config"],
        "torch_rng": tensors["rng/torch"], "numpy_rng": numpy_rng, "scaler": meta["scaler"],
        "cuda_rng": [cuda[str(i)] for i in range(len(cuda))],
    }


def model_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The model's tensors of a checkpoint or of a weights file (for ``--init``); never a pickle."""
    from vprop.models.hub import read_weights_file

    path = Path(path)
    _refuse_pickle(path)
    tensors, metadata = read_weights_file(path)
    if KEY in metadata:
        return {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
    return tensors
