"""``torch.library`` registration: ``vprop::propagate`` and ``vprop::propagate_4dir`` plus their backward ops.

Custom ops keep the kernels opaque to ``torch.compile`` and let the dispatcher pick the kernel by device:
the scan-major PyTorch path (:mod:`.cpu`) on CPU, the Triton kernels on CUDA. The backward is an op too,
so compiled graphs see one call for each direction of the pass.

On CUDA, Triton is used only if it imports and, on first use of each device, agrees with the reference
on a small random problem. Otherwise the PyTorch path, which runs on CUDA tensors as well, takes over
after a one-line warning.
"""
import functools
import warnings

import torch
from torch import Tensor

from . import cpu, naive
from .naive import DIRECTIONS


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; expected one of {DIRECTIONS}")


def _no_kernel(name: str, t: Tensor):
    return NotImplementedError(f"vprop::{name} has no kernel for {t.device.type} tensors; "
                               f"use vprop.ops.propagate(..., impl='cpu') there")


@functools.cache
def triton_usable(device: torch.device) -> bool:
    """Whether the Triton kernels run on `device` and agree with the reference (checked once per device)."""
    try:
        from . import triton_kernels
    except ImportError:
        return False  # Triton is optional
    try:
        # Runs inside an op kernel, where autograd records nothing: the backward is checked against the
        # hand-written PyTorch backward, itself tested against autograd through the reference.
        gen = torch.Generator(device=device).manual_seed(0)
        x = torch.randn(2, 3, 11, 7, device=device, generator=gen)
        gates = torch.rand(2, 12, 11, 7, device=device, generator=gen) * 0.6 - 0.2
        grad = torch.randn(2, 4, 3, 11, 7, device=device, generator=gen)
        y = triton_kernels.propagate_fwd_4dir(x, gates)
        got = (y, *triton_kernels.propagate_bwd_4dir(grad, x, gates, y))
        y = naive.propagate_4dir(x, gates)
        want = (y, *cpu.propagate_4dir_bwd(grad, x, gates, y))
        bad = [name for name, a, b in zip(("y", "dx", "dgates"), got, want)
               if not torch.allclose(a, b, rtol=1e-4, atol=1e-4)]
        if bad:
            raise RuntimeError(f"{', '.join(bad)} differ from the reference")
    except Exception as e:  # a broken Triton install must not take the model down with it
        msg = " ".join(str(e).split())[:300]
        warnings.warn(f"vprop: Triton propagation disabled on {device} ({type(e).__name__}: {msg}); "
                      f"using the PyTorch path", RuntimeWarning, stacklevel=2)
        return False
    return True


def _triton_for(x: Tensor):
    """The Triton kernels module if it should run on x, else None."""
    if x.dtype in (torch.float32, torch.float64) and triton_usable(x.device):
        from . import triton_kernels
        return triton_kernels
    return None


# ---- vprop::propagate ----

@torch.library.custom_op("vprop::propagate", mutates_args=())
def propagate(x: Tensor, gates: Tensor, direction: str) -> Tensor:
    """y = propagate(x (B, C, H, W), gates (B, 3, H, W), direction); see :func:`vprop.ops.propagate`."""
    raise _no_kernel("propagate", x)


@propagate.register_kernel("cpu")
def _propagate_cpu(x: Tensor, gates: Tensor, direction: str) -> Tensor:
    _check_direction(direction)
    return cpu.propagate_fwd(x, gates, direction)


@propagate.register_kernel("cuda")
def _propagate_cuda(x: Tensor, gates: Tensor, direction: str) -> Tensor:
    _check_direction(direction)
    tk = _triton_for(x)
    return tk.propagate_fwd(x, gates, direction) if tk else cpu.propagate_fwd(x, gates, direction)


@propagate.register_fake
def _(x: Tensor, gates: Tensor, direction: str) -> Tensor:
    return torch.empty_like(x, memory_format=torch.contiguous_format)


@torch.library.custom_op("vprop::propagate_backward", mutates_args=())
def propagate_backward(grad: Tensor, x: Tensor, gates: Tensor, y: Tensor, direction: str) -> tuple[Tensor, Tensor]:
    """(dL/dx, dL/dgates) of ``vprop::propagate`` from dL/dy, its inputs and its output y."""
    raise _no_kernel("propagate_backward", x)


@propagate_backward.register_kernel("cpu")
def _propagate_backward_cpu(grad, x, gates, y, direction):
    return cpu.propagate_bwd(grad, x, gates, y, direction)


@propagate_backward.register_kernel("cuda")
def _propagate_backward_cuda(grad, x, gates, y, direction):
    tk = _triton_for(x)
    return (tk or cpu).propagate_bwd(grad, x, gates, y, direction)


@propagate_backward.register_fake
def _(grad, x, gates, y, direction):
    return (torch.empty_like(x, memory_format=torch.contiguous_format),
            torch.empty_like(gates, memory_format=torch.contiguous_format))


def _setup_propagate(ctx, inputs, output):
    x, gates, direction = inputs
    ctx.save_for_backward(x, gates, output)
    ctx.direction = direction


def _backward_propagate(ctx, grad):
    x, gates, y = ctx.saved_tensors
    dx, dgates = torch.ops.vprop.propagate_backward(grad, x, gates, y, ctx.direction)
    return dx, dgates, None


propagate.register_autograd(_backward_propagate, setup_context=_setup_propagate)


# ---- vprop::propagate_4dir ----

@torch.library.custom_op("vprop::propagate_4dir", mutates_args=())
def propagate_4dir(x: Tensor, gates: Tensor) -> Tensor:
    """(B, 4, C, H, W) = the four directions of x (B, C, H, W) with gates (B, 12, H, W), 3 per direction."""
    raise _no_kernel("propagate_4dir", x)


@propagate_4dir.register_kernel("cpu")
def _propagate_4dir_cpu(x: Tensor, gates: Tensor) -> Tensor:
    return cpu.propagate_4dir_fwd(x, gates)


@propagate_4dir.register_kernel("cuda")
def _propagate_4dir_cuda(x: Tensor, gates: Tensor) -> Tensor:
    tk = _triton_for(x)
    return tk.propagate_fwd_4dir(x, gates) if tk else cpu.propagate_4dir_fwd(x, gates)


@propagate_4dir.register_fake
def _(x: Tensor, gates: Tensor) -> Tensor:
    B, C, H, W = x.shape
    return x.new_empty(B, 4, C, H, W)


@torch.library.custom_op("vprop::propagate_4dir_backward", mutates_args=())
def propagate_4dir_backward(grad: Tensor, x: Tensor, gates: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """(dL/dx, dL/dgates) of ``vprop::propagate_4dir``."""
    raise _no_kernel("propagate_4dir_backward", x)


@propagate_4dir_backward.register_kernel("cpu")
def _propagate_4dir_backward_cpu(grad, x, gates, y):
    return cpu.propagate_4dir_bwd(grad, x, gates, y)


@propagate_4dir_backward.register_kernel("cuda")
def _propagate_4dir_backward_cuda(grad, x, gates, y):
    tk = _triton_for(x)
    return tk.propagate_bwd_4dir(grad, x, gates, y) if tk else cpu.propagate_4dir_bwd(grad, x, gates, y)


@propagate_4dir_backward.register_fake
def _(grad, x, gates, y):
    return (torch.empty_like(x, memory_format=torch.contiguous_format),
            torch.empty_like(gates, memory_format=torch.contiguous_format))


def _setup_propagate_4dir(ctx, inputs, output):
    ctx.save_for_backward(*inputs, output)


def _backward_propagate_4dir(ctx, grad):
    return torch.ops.vprop.propagate_4dir_backward(grad, *ctx.saved_tensors)


propagate_4dir.register_autograd(_backward_propagate_4dir, setup_context=_setup_propagate_4dir)
