"""The 3-way linear propagation of the Switchable Temporal Propagation Network (Liu et al., ECCV 2018, eq. 5).

Implementations, all equal to the readable reference :mod:`vprop.ops.naive`:

``"naive"``   the reference itself: a Python loop over columns, differentiated by autograd.
``"cpu"``     scan-major PyTorch path with a hand-written backward (:mod:`vprop.ops.cpu`); any device.
``"triton"``  Triton kernels (:mod:`vprop.ops.triton_kernels`): one launch per pass for all four directions.

By default the custom ops ``vprop::propagate`` / ``vprop::propagate_4dir`` pick by device: the ``"cpu"``
path on CPU, Triton on CUDA when it imports and passes a self-check (else the ``"cpu"`` path). The
``impl`` argument, or else the environment variable ``VPROP_PROPAGATE_IMPL`` (read at every call),
forces one of them.
"""
import os

import torch
from torch import Tensor, nn

from . import _library, cpu, naive  # noqa: F401  (_library registers the vprop:: ops)
from .naive import DIRECTIONS

__all__ = ["DIRECTIONS", "IMPLS", "Propagate", "propagate", "propagate_4dir", "propagate_4dir_max"]

IMPLS = ("auto", "naive", "cpu", "triton")
IMPL_ENV_VAR = "VPROP_PROPAGATE_IMPL"


def propagate(x: Tensor, gates: Tensor, direction: str, impl: str | None = None) -> Tensor:
    """Propagate x along one direction through 3-way gates.

    Args:
        x: (B, C, H, W) floating-point tensor.
        gates: (B, 3, H, W), shared by the C channels. They are used as given: normalising them (the paper
            keeps sum_j |g_j| <= 1 for stability) is the caller's job.
        direction: ``"l2r"``, ``"r2l"``, ``"t2b"`` or ``"b2t"``.
        impl: ``"auto"`` (default), ``"naive"``, ``"cpu"`` or ``"triton"``; when None, the environment variable
            ``VPROP_PROPAGATE_IMPL`` decides, and ``"auto"`` when it is unset or empty.

    Returns:
        y shaped like x, with x's dtype.

    For ``"l2r"`` the columns are scanned left to right: ``y[..., 0] = x[..., 0]`` and, for i >= 1 and every
    row t, with j in {0, 1, 2} linking row t to row t + j - 1 of the previous column::

        y[t, i] = (1 - sum_j g_j[t, i]) * x[t, i] + sum_j g_j[t, i] * y[t + j - 1, i - 1]

    where a link to a row outside the image does not exist: its gate counts in neither sum. ``"r2l"`` is
    ``"l2r"`` on x and gates flipped along W, ``"t2b"`` is ``"l2r"`` with H and W swapped and ``"b2t"`` is
    ``"t2b"`` flipped along H (the results are mapped back). The scan runs in float32, or float64 for float64
    inputs, also under autocast.

    Example::

        >>> x = torch.randn(1, 8, 32, 48)
        >>> gates = torch.softmax(torch.randn(1, 3, 32, 48), dim=1) * 0.9
        >>> propagate(x, gates, "l2r").shape
        torch.Size([1, 8, 32, 48])

    Raises:
        ValueError: on a bad direction or impl, or shapes that do not match.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; expected one of {DIRECTIONS}")
    _check_inputs(x, gates, 3)
    return _dispatch("propagate", impl, x, gates, direction)


def propagate_4dir(x: Tensor, gates: Tensor, impl: str | None = None) -> Tensor:
    """Run :func:`propagate` in all four directions on the same x.

    Args:
        x: (B, C, H, W).
        gates: (B, 12, H, W): three channels per direction, in the order l2r, r2l, t2b, b2t (``DIRECTIONS``).
        impl: as for :func:`propagate`.

    Returns:
        (B, 4, C, H, W), ``[:, k]`` being ``propagate(x, gates[:, 3 * k : 3 * k + 3], DIRECTIONS[k])``.
        The Triton path computes the four scans in one kernel launch (and one for their backward).
    """
    _check_inputs(x, gates, 12)
    return _dispatch("propagate_4dir", impl, x, gates)


def propagate_4dir_max(x: Tensor, gates: Tensor, impl: str | None = None) -> Tensor:
    """``propagate_4dir(x, gates, impl).amax(dim=1)``: the four scans merged by node-wise max-pooling, (B, C, H, W).

    In eager CPU inference (no gradient to record, not compiling), with ``impl`` "auto" or "cpu", a fused path
    gives the same values faster (:func:`vprop.ops.cpu.propagate_4dir_max_fwd`); elsewhere it is the expression
    above.
    """
    if not _eager_cpu_inference(x, gates) or _resolve_impl(impl) not in ("auto", "cpu"):
        return propagate_4dir(x, gates, impl).amax(dim=1)
    _check_inputs(x, gates, 12)
    x_dtype = x.dtype
    x, gates = _to_compute_dtype(x, gates)
    with torch.autocast("cpu", enabled=False):
        return cpu.propagate_4dir_max_fwd(x, gates).to(x_dtype)


class Propagate(nn.Module):
    """Module form of :func:`propagate` in a fixed direction: ``forward(x, gates)``. See :func:`propagate`."""

    def __init__(self, direction: str, impl: str | None = None):
        super().__init__()
        if direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {direction!r}; expected one of {DIRECTIONS}")
        self.direction = direction
        self.impl = impl

    def forward(self, x: Tensor, gates: Tensor) -> Tensor:
        return propagate(x, gates, self.direction, self.impl)

    def extra_repr(self) -> str:
        return f"direction={self.direction!r}" + (f", impl={self.impl!r}" if self.impl else "")


def _dispatch(op: str, impl: str | None, x: Tensor, gates: Tensor, *args) -> Tensor:
    """Run the implementation of ``op`` ("propagate" or "propagate_4dir") that ``impl`` picks, in the compute
    dtype, the result cast back to x's dtype. Each module names its functions after the op."""
    impl = _resolve_impl(impl)
    x_dtype = x.dtype
    x, gates = _to_compute_dtype(x, gates)
    with torch.autocast(x.device.type, enabled=False):
        if impl == "naive":
            fn = getattr(naive, op)
        elif impl == "cpu" or (impl == "auto" and x.device.type not in ("cpu", "cuda")):
            fn = getattr(cpu, op)
        elif impl == "triton":
            fn = getattr(_triton_kernels(), op)
        elif _eager_cpu_inference(x, gates):
            fn = getattr(cpu, op + "_fwd")     # the custom op's own CPU kernel
        else:
            fn = getattr(torch.ops.vprop, op)
        return fn(x, gates, *args).to(x_dtype)


def _resolve_impl(impl: str | None) -> str:
    impl = impl or os.environ.get(IMPL_ENV_VAR) or "auto"
    if impl not in IMPLS:
        raise ValueError(f"unknown propagate impl {impl!r} (argument or ${IMPL_ENV_VAR}); expected one of {IMPLS}")
    return impl


def _eager_cpu_inference(x: Tensor, gates: Tensor) -> bool:
    """Whether the CPU kernel can be called directly instead of through the custom op. The op's first call imports
    torch._dynamo, seconds at the start of every run; eager inference needs neither the op's autograd nor its
    opacity to torch.compile."""
    needs_grad = torch.is_grad_enabled() and (x.requires_grad or gates.requires_grad)
    return x.device.type == "cpu" and not needs_grad and not torch.compiler.is_compiling()


def _check_inputs(x: Tensor, gates: Tensor, gate_channels: int) -> None:
    if x.dim() != 4:
        raise ValueError(f"x must be (B, C, H, W), got shape {tuple(x.shape)}")
    b, _, h, w = x.shape
    if h == 0 or w == 0:
        raise ValueError(f"x must have H, W >= 1, got shape {tuple(x.shape)}")
    if tuple(gates.shape) != (b, gate_channels, h, w):
        raise ValueError(f"gates must be (B, {gate_channels}, H, W) = {(b, gate_channels, h, w)} for x of shape "
                         f"{tuple(x.shape)}, got {tuple(gates.shape)}")
    if not (x.is_floating_point() and gates.is_floating_point()):
        raise ValueError(f"x and gates must be floating point, got {x.dtype} and {gates.dtype}")
    if x.device != gates.device:
        raise ValueError(f"x and gates must be on the same device, got {x.device} and {gates.device}")


def _to_compute_dtype(x: Tensor, gates: Tensor) -> tuple[Tensor, Tensor]:
    # A scan compounds rounding errors over hundreds of columns: never run it below float32.
    dtype = torch.promote_types(torch.promote_types(x.dtype, gates.dtype), torch.float32)
    return x.to(dtype), gates.to(dtype)


def _triton_kernels():
    try:
        from . import triton_kernels
    except ImportError as e:
        raise ImportError("impl='triton' needs Triton: pip install 'vprop[gpu]'") from e
    return triton_kernels
