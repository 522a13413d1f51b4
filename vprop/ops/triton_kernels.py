"""Triton kernels of the 3-way propagation: one launch scans all four directions, one launch their backward.

One program owns one (direction, batch, channel) plane and walks its scan axis sequentially, holding a
whole column (all R rows of the cross-section) in registers. Row t of a column needs rows t-1 and t+1 of
the previous one, which other threads hold, so each step stores its column to global memory and the next
step reads the neighbours back after ``tl.debug_barrier()``; ``num_stages=1`` keeps the compiler from
pipelining those loads ahead of the store they depend on. Programs never share data, except the gate
gradients, which the channels of a batch accumulate with atomics.

Directions are addressed in place through strides (no flips or transposes in memory): a program turns
its direction code into the scan axis, the row axis and the walking order. Sizes are not specialised
(``do_not_specialize``) so a new video size only recompiles when the power-of-two block size changes.

Importing this module imports Triton; :mod:`vprop.ops` only does so on first use. To run the kernels on
CPU tensors, set ``TRITON_INTERPRET=1`` before this module is first imported.
"""
import contextlib

import torch
import triton
import triton.language as tl
from torch import Tensor

from .naive import DIRECTIONS

_SIZES = ["C", "H", "W", "stride_xb", "stride_xd", "stride_gb", "first_direction"]


@triton.jit(do_not_specialize=_SIZES)
def _fwd_kernel(x_ptr, g_ptr, y_ptr, C, H, W, stride_xb, stride_xd, stride_gb, first_direction,
                BLOCK_R: tl.constexpr):
    plane = tl.program_id(0)  # b * C + c; on axis 0 because axes 1 and 2 are capped at 65535 programs
    slot = tl.program_id(1)  # which of this launch's directions
    direction = first_direction + slot  # index into DIRECTIONS: l2r, r2l, t2b, b2t
    horizontal = direction < 2
    reverse = direction % 2 == 1
    S = tl.where(horizontal, W, H)  # columns to scan
    R = tl.where(horizontal, H, W)  # rows per column
    step_s = tl.where(horizontal, 1, W)  # memory distance between neighbouring columns ...
    step_r = tl.where(horizontal, W, 1)  # ... and rows

    b = (plane // C).to(tl.int64)
    c = plane % C
    hw = H.to(tl.int64) * W
    x_base = x_ptr + b * stride_xb + slot * stride_xd + c * hw
    g_base = g_ptr + b * stride_gb + slot * 3 * hw
    y_base = y_ptr + ((b * tl.num_programs(1) + slot) * C + c) * hw

    rows = tl.arange(0, BLOCK_R)
    in_r = rows < R
    has_up = in_r & (rows >= 1)  # gate 0 links to row t-1
    has_down = rows + 1 < R  # gate 2 links to row t+1
    row_off = rows * step_r

    off = tl.where(reverse, S - 1, 0) * step_s + row_off
    y_prev = tl.load(x_base + off, mask=in_r, other=0.0)
    tl.store(y_base + off, y_prev, mask=in_r)
    for k in range(1, S):
        s = tl.where(reverse, S - 1 - k, k)
        off = s * step_s + row_off
        prev_off = tl.where(reverse, s + 1, s - 1) * step_s + row_off
        # Issued before the barrier: they do not depend on the previous column.
        xk = tl.load(x_base + off, mask=in_r, other=0.0)
        g0 = tl.load(g_base + off, mask=has_up, other=0.0)
        g1 = tl.load(g_base + hw + off, mask=in_r, other=0.0)
        g2 = tl.load(g_base + 2 * hw + off, mask=has_down, other=0.0)
        tl.debug_barrier()  # the previous column's store is visible to the threads that read it below
        up = tl.load(y_base + prev_off - step_r, mask=has_up, other=0.0)
        down = tl.load(y_base + prev_off + step_r, mask=has_down, other=0.0)
        y_prev = (1 - g0 - g1 - g2) * xk + g0 * up + g1 * y_prev + g2 * down
        tl.store(y_base + off, y_prev, mask=in_r)


@triton.jit(do_not_specialize=_SIZES)
def _bwd_kernel(dy_ptr, x_ptr, g_ptr, y_ptr, dx_ptr, dg_ptr, scratch_ptr, C, H, W, stride_xb, stride_xd,
                stride_gb, first_direction, BLOCK_R: tl.constexpr):
    # Same addressing as _fwd_kernel; dy, y and dx are laid out like y there, dg like the gates.
    plane = tl.program_id(0)
    slot = tl.program_id(1)
    direction = first_direction + slot
    horizontal = direction < 2
    reverse = direction % 2 == 1
    S = tl.where(horizontal, W, H)
    R = tl.where(horizontal, H, W)
    step_s = tl.where(horizontal, 1, W)
    step_r = tl.where(horizontal, W, 1)

    b = (plane // C).to(tl.int64)
    c = plane % C
    hw = H.to(tl.int64) * W
    x_base = x_ptr + b * stride_xb + slot * stride_xd + c * hw
    g_base = g_ptr + b * stride_gb + slot * 3 * hw
    dg_base = dg_ptr + b * stride_gb + slot * 3 * hw
    plane_off = ((b * tl.num_programs(1) + slot) * C + c) * hw
    dy_base, y_base, dx_base = dy_ptr + plane_off, y_ptr + plane_off, dx_ptr + plane_off
    # Two rows of scratch per program, used alternately: a step may overwrite one only after the barrier of
    # the step in between, by which time every thread has read it. This saves a second barrier per step.
    scratch = scratch_ptr + (slot * tl.num_programs(0) + plane).to(tl.int64) * 2 * BLOCK_R

    rows = tl.arange(0, BLOCK_R)
    in_r = rows < R
    has_up = in_r & (rows >= 1)
    has_down = rows + 1 < R
    row_off = rows * step_r

    # Walk the scan backwards. d is dL/dy of the current column, complete once the later columns are folded in.
    d = tl.load(dy_base + tl.where(reverse, 0, S - 1) * step_s + row_off, mask=in_r, other=0.0)
    for i in range(0, S - 1):
        s = tl.where(reverse, i, S - 1 - i)  # i-th column from the scan's end
        off = s * step_s + row_off
        prev_off = tl.where(reverse, s + 1, s - 1) * step_s + row_off
        xk = tl.load(x_base + off, mask=in_r, other=0.0)
        g0 = tl.load(g_base + off, mask=has_up, other=0.0)
        g1 = tl.load(g_base + hw + off, mask=in_r, other=0.0)
        g2 = tl.load(g_base + 2 * hw + off, mask=has_down, other=0.0)
        # The gates through which row t of the previous column feeds rows t+1 and t-1 of this one.
        g0_from_below = tl.load(g_base + off + step_r, mask=has_down, other=0.0)
        g2_from_above = tl.load(g_base + 2 * hw + off - step_r, mask=has_up, other=0.0)
        up = tl.load(y_base + prev_off - step_r, mask=has_up, other=0.0)
        mid = tl.load(y_base + prev_off, mask=in_r, other=0.0)
        down = tl.load(y_base + prev_off + step_r, mask=has_down, other=0.0)
        dy_prev = tl.load(dy_base + prev_off, mask=in_r, other=0.0)

        tl.store(dx_base + off, (1 - g0 - g1 - g2) * d, mask=in_r)
        # Gates are shared by the C channels, i.e. by C programs: accumulate their gradient atomically.
        tl.atomic_add(dg_base + off, d * (up - xk), mask=has_up)
        tl.atomic_add(dg_base + hw + off, d * (mid - xk), mask=in_r)
        tl.atomic_add(dg_base + 2 * hw + off, d * (down - xk), mask=has_down)

        buf = scratch + (i % 2) * BLOCK_R
        tl.store(buf + rows, d)
        tl.debug_barrier()  # d of the neighbouring rows, held by other threads, is now readable
        d_below = tl.load(buf + rows + 1, mask=has_down, other=0.0)
        d_above = tl.load(buf + rows - 1, mask=has_up, other=0.0)
        d = dy_prev + g1 * d + g0_from_below * d_below + g2_from_above * d_above
    tl.store(dx_base + tl.where(reverse, S - 1, 0) * step_s + row_off, d, mask=in_r)  # start column: y = x


def _config(height: int, width: int) -> dict:
    block = triton.next_power_of_2(max(height, width))
    # A step is latency-bound (a barrier and a round trip to L1/L2), so few elements per thread is enough.
    # FMA contraction is pinned (Triton 3.9 warns when it is left to its changing default).
    return dict(BLOCK_R=block, num_warps=max(1, min(8, block // 128)), num_stages=1, enable_fp_fusion=True)


def _device(t: Tensor):
    return torch.cuda.device(t.device) if t.is_cuda else contextlib.nullcontext()


def _check(x: Tensor, gates: Tensor) -> None:
    if x.dtype not in (torch.float32, torch.float64) or gates.dtype != x.dtype:
        raise TypeError(f"Triton propagation needs float32 or float64 x and gates of the same dtype, "
                        f"got {x.dtype} and {gates.dtype}")


def _x_strides(x: Tensor, num_dirs: int) -> tuple[int, int]:
    """(batch stride, direction stride) of x, which is (B, C, H, W) shared or (B, num_dirs, C, H, W)."""
    if x.dim() == 4:
        return x.stride(0), 0
    assert x.shape[1] == num_dirs, x.shape
    return x.stride(0), x.stride(1)


def _fwd(x: Tensor, gates: Tensor, first_direction: int, num_dirs: int) -> Tensor:
    _check(x, gates)
    x, gates = x.contiguous(), gates.contiguous()
    B, C, H, W = x.shape[0], *x.shape[-3:]
    y = x.new_empty(B, num_dirs, C, H, W)
    with _device(x):
        _fwd_kernel[(B * C, num_dirs)](x, gates, y, C, H, W, *_x_strides(x, num_dirs), gates.stride(0),
                                       first_direction, **_config(H, W))
    return y


def _bwd(grad: Tensor, x: Tensor, gates: Tensor, y: Tensor, first_direction: int,
         num_dirs: int) -> tuple[Tensor, Tensor]:
    _check(x, gates)
    grad, x, gates, y = (t.contiguous() for t in (grad, x, gates, y))
    B, C, H, W = x.shape[0], *x.shape[-3:]
    cfg = _config(H, W)
    dx = x.new_empty(B, num_dirs, C, H, W)
    dg = torch.zeros_like(gates)
    scratch = x.new_empty(num_dirs * B * C, 2, cfg["BLOCK_R"])
    with _device(x):
        _bwd_kernel[(B * C, num_dirs)](grad, x, gates, y, dx, dg, scratch, C, H, W,
                                       *_x_strides(x, num_dirs), gates.stride(0), first_direction, **cfg)
    return (dx.sum(1) if x.dim() == 4 else dx), dg


def propagate_fwd_4dir(x4: Tensor, gates4: Tensor) -> Tensor:
    """Forward of the four directions in one launch.

    x4: (B, C, H, W) shared by the directions, or (B, 4, C, H, W) one per direction in DIRECTIONS order;
    gates4: (B, 12, H, W), 3 per direction in the same order. Returns (B, 4, C, H, W).
    """
    return _fwd(x4, gates4, 0, 4)


def propagate_bwd_4dir(grad: Tensor, x4: Tensor, gates4: Tensor, y4: Tensor) -> tuple[Tensor, Tensor]:
    """Backward of :func:`propagate_fwd_4dir` in one launch: (dL/dx4, dL/dgates4).

    dL/dx4 has the shape of x4 (a shared x gets the sum over the directions).
    """
    return _bwd(grad, x4, gates4, y4, 0, 4)


def propagate_fwd(x: Tensor, gates: Tensor, direction: str) -> Tensor:
    """Forward of one direction. x: (B, C, H, W), gates: (B, 3, H, W) -> (B, C, H, W)."""
    return _fwd(x, gates, DIRECTIONS.index(direction), 1).squeeze(1)


def propagate_bwd(grad: Tensor, x: Tensor, gates: Tensor, y: Tensor, direction: str) -> tuple[Tensor, Tensor]:
    """Backward of one direction: (dL/dx, dL/dgates)."""
    return _bwd(grad.unsqueeze(1), x, gates, y.unsqueeze(1), DIRECTIONS.index(direction), 1)


class PropagateFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, gates: Tensor, direction: str) -> Tensor:
        y = propagate_fwd(x, gates, direction)
        ctx.save_for_backward(x, gates, y)
        ctx.direction = direction
        return y

    @staticmethod
    def backward(ctx, grad: Tensor):
        dx, dg = propagate_bwd(grad, *ctx.saved_tensors, ctx.direction)
        return dx, dg, None


class Propagate4dirFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x4: Tensor, gates4: Tensor) -> Tensor:
        y4 = propagate_fwd_4dir(x4, gates4)
        ctx.save_for_backward(x4, gates4, y4)
        return y4

    @staticmethod
    def backward(ctx, grad: Tensor):
        return propagate_bwd_4dir(grad, *ctx.saved_tensors)


def propagate(x: Tensor, gates: Tensor, direction: str) -> Tensor:
    """Differentiable single-direction Triton path; no argument checks (see :func:`vprop.ops.propagate`)."""
    return PropagateFunction.apply(x, gates, direction)


def propagate_4dir(x4: Tensor, gates4: Tensor) -> Tensor:
    """Differentiable four-direction Triton path: (B, C, H, W) and (B, 12, H, W) -> (B, 4, C, H, W)."""
    return Propagate4dirFunction.apply(x4, gates4)
