"""Fast PyTorch path of the 3-way propagation, with a hand-written backward.

Only plain tensor ops, so it runs on any device: it is the CPU kernel of ``vprop::propagate`` and the
fallback on CUDA when Triton is missing or fails its self-check.

Speed comes from the layout, not from clever maths. The tensors are copied once to *scan-major*
``(S, B, C, R)`` (S: the scanned axis, R: the rows the gates link), so that a column is one contiguous
block and each step is three in-place ``addcmul_`` into a preallocated output. The backward is the
transposed recurrence run in reverse (one more loop of three ``addcmul_``), after which every gradient
is a vectorised expression over all columns at once. Autograd through the reference loop records ~15
ops per column; see benchmarks/bench_propagate.py for the difference.
"""
import torch
from torch import Tensor

from .naive import DIRECTIONS


def _horizontal(direction: str) -> bool:
    return direction in ("l2r", "r2l")


def _reverse(direction: str) -> bool:
    # r2l and b2t walk the scan axis backwards instead of flipping the data, which saves a copy.
    return direction in ("r2l", "b2t")


def to_scan_major(t: Tensor, direction: str) -> Tensor:
    """(B, C, H, W) -> contiguous (S, B, C, R): (W, B, C, H) for l2r/r2l, (H, B, C, W) for t2b/b2t."""
    b, c, h, w = t.shape
    if _horizontal(direction):
        # Written as a 2-D transpose, which PyTorch copies in cache-friendly tiles (2-3x faster than permute).
        return t.reshape(-1, w).t().contiguous().view(w, b, c, h)
    return t.permute(2, 0, 1, 3).contiguous()


def from_scan_major(t: Tensor, direction: str) -> Tensor:
    """Inverse of :func:`to_scan_major` (contiguous, so that every kernel returns the same strides)."""
    s, b, c, r = t.shape
    if _horizontal(direction):
        return t.reshape(s, -1).t().contiguous().view(b, c, r, s)
    return t.permute(1, 2, 0, 3).contiguous()


def _valid_gates(g: Tensor, reverse: bool) -> Tensor:
    """Zero the gates that link to nothing: j=0 on the first row, j=2 on the last, all of the first column."""
    g = g.clone()
    g[:, :, 0, 0] = 0
    g[:, :, 2, -1] = 0
    g[-1 if reverse else 0] = 0  # the scan starts there: y = x
    return g


def _steps(num_columns: int, reverse: bool):
    """(column, previous column) pairs in scan order, the start column excluded."""
    if reverse:
        return [(i, i + 1) for i in range(num_columns - 2, -1, -1)]
    return [(i, i - 1) for i in range(1, num_columns)]


def _columns(*tensors: Tensor) -> list[tuple[Tensor, ...]]:
    return [t.unbind(0) for t in tensors]


def scan_fwd(x: Tensor, g: Tensor, reverse: bool) -> Tensor:
    """Scan-major forward. x: (S, B, C, R), g: (S, B, 3, R). Returns y like x, in x's memory layout."""
    g = _valid_gates(g, reverse)
    y = (1 - g.sum(2, keepdim=True)) * x  # the part of every column that does not depend on the last one
    # Row t is fed by rows t-1 (g_up), t (g_mid) and t+1 (g_down) of the previous column. The per-column views
    # are made in one unbind() each: at a few microseconds per op, indexing inside the loop would double its cost.
    g_up, g_mid, g_down = _columns(g[:, :, 0:1, 1:], g[:, :, 1:2], g[:, :, 2:3, :-1])
    ys, below, above = _columns(y, y[..., 1:], y[..., :-1])  # below: rows 1..R-1, above: rows 0..R-2
    for i, p in _steps(x.shape[0], reverse):
        ys[i].addcmul_(g_mid[i], ys[p])
        below[i].addcmul_(g_up[i], above[p])
        above[i].addcmul_(g_down[i], below[p])
    return y


def scan_bwd(dy: Tensor, x: Tensor, g: Tensor, y: Tensor, reverse: bool) -> tuple[Tensor, Tensor]:
    """Scan-major backward: (dL/dx, dL/dg) from dL/dy and the forward's inputs and output."""
    g = _valid_gates(g, reverse)
    g_up, g_mid, g_down = _columns(g[:, :, 0:1, 1:], g[:, :, 1:2], g[:, :, 2:3, :-1])
    # d becomes the total derivative dL/dy: a column's own output gradient plus what flows back through every
    # later column. Each link "row t <- row t' of the previous column" is walked in the other direction.
    d = dy.clone()
    ds, d_below, d_above = _columns(d, d[..., 1:], d[..., :-1])
    for i, p in reversed(_steps(x.shape[0], reverse)):
        ds[p].addcmul_(g_mid[i], ds[i])
        d_above[p].addcmul_(g_up[i], d_below[i])
        d_below[p].addcmul_(g_down[i], d_above[i])
    dx = (1 - g.sum(2, keepdim=True)) * d

    # dL/dg_j[t] = sum_C d[t] * (linked row of the previous column - x[t]); gates are shared by the channels.
    num_columns = x.shape[0]
    cur, prev = (slice(0, num_columns - 1), slice(1, None)) if reverse else (slice(1, None), slice(0, num_columns - 1))
    d_cur, y_prev = d[cur], y[prev]
    d_dot_x = (d_cur * x[cur]).sum(2)
    dg = torch.zeros_like(g)
    dg[cur, :, 0, 1:] = (d_cur[..., 1:] * y_prev[..., :-1]).sum(2) - d_dot_x[..., 1:]
    dg[cur, :, 1] = (d_cur * y_prev).sum(2) - d_dot_x
    dg[cur, :, 2, :-1] = (d_cur[..., :-1] * y_prev[..., 1:]).sum(2) - d_dot_x[..., :-1]
    return dx, dg


def propagate_fwd(x: Tensor, gates: Tensor, direction: str) -> Tensor:
    """Forward of one direction. x: (B, C, H, W), gates: (B, 3, H, W) -> y: (B, C, H, W), contiguous."""
    y = scan_fwd(to_scan_major(x, direction), to_scan_major(gates, direction), _reverse(direction))
    return from_scan_major(y, direction)


def propagate_bwd(grad: Tensor, x: Tensor, gates: Tensor, y: Tensor, direction: str) -> tuple[Tensor, Tensor]:
    """Backward of one direction: (dL/dx, dL/dgates) given dL/dy and the forward's inputs and output."""
    dx, dg = scan_bwd(*(to_scan_major(t, direction) for t in (grad, x, gates, y)), _reverse(direction))
    return from_scan_major(dx, direction), from_scan_major(dg, direction)


def propagate_4dir_fwd(x: Tensor, gates: Tensor) -> Tensor:
    """All four directions on the same x. gates: (B, 12, H, W), 3 per direction in DIRECTIONS order.

    Returns (B, 4, C, H, W).
    """
    return torch.stack([propagate_fwd(x, g, d) for g, d in zip(gates.split(3, dim=1), DIRECTIONS)], dim=1)


def propagate_4dir_bwd(grad: Tensor, x: Tensor, gates: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Backward of :func:`propagate_4dir_fwd`; x feeds all four scans, so its gradient is their sum."""
    dxs, dgs = zip(*(propagate_bwd(grad[:, k], x, g, y[:, k], d)
                     for k, (g, d) in enumerate(zip(gates.split(3, dim=1), DIRECTIONS))))
    return torch.stack(dxs).sum(0), torch.cat(dgs, dim=1)


def propagate_4dir_max_fwd(x: Tensor, gates: Tensor) -> Tensor:
    """The node-wise max of the four scans, ``propagate_4dir_fwd(x, gates).amax(1)``, equal to it, for inference.

    1.1-1.3x faster than that on CPU, 1.6-1.8x for channels-last inputs (benchmarks/bench_propagate.py, B=4,
    C=32, 64x64 and 128x128, one thread): x and the gates are copied once per axis instead of once per
    direction, to scan-major with the channels innermost, (S, B, R, C), which :func:`scan_fwd` takes as an
    (S, B, C, R) view; from channels-last, the network's layout on CPU, that copy moves whole pixel vectors
    instead of transposing every value. The max is taken pairwise as the scans finish, instead of stacking four
    outputs and reducing over a middle axis (a slow reduction in PyTorch). Returns (B, C, H, W), channels-last.
    """
    pixels, pixel_gates = x.permute(0, 2, 3, 1), gates.permute(0, 2, 3, 1)     # (B, H, W, C), (B, H, W, 12)
    out = None
    # (l2r, r2l) scan W, rows H; (t2b, b2t) scan H, rows W: the permutation from (B, H, W, .) to (S, B, R, .)
    for axis, order in ((DIRECTIONS[:2], (2, 0, 1, 3)), (DIRECTIONS[2:], (1, 0, 2, 3))):
        first = DIRECTIONS.index(axis[0])
        x_s = pixels.permute(order).contiguous().transpose(2, 3)
        g_s = pixel_gates[..., 3 * first : 3 * first + 6].permute(order).contiguous().transpose(2, 3)
        best = None
        for k, direction in enumerate(axis):
            y = scan_fwd(x_s, g_s[:, :, 3 * k : 3 * k + 3], _reverse(direction))
            best = y if best is None else torch.maximum(best, y, out=best)
        best = best.transpose(2, 3).permute(*(order.index(d) for d in range(4)))     # back to (B, H, W, C)
        out = best.contiguous() if out is None else torch.maximum(out, best, out=out)
    return out.permute(0, 3, 1, 2)


class PropagateFunction(torch.autograd.Function):
    """Autograd wrapper that keeps the scan-major tensors for the backward instead of permuting them twice."""

    @staticmethod
    def forward(ctx, x: Tensor, gates: Tensor, direction: str) -> Tensor:
        reverse = _reverse(direction)
        x_s, g_s = to_scan_major(x, direction), to_scan_major(gates, direction)
        y_s = scan_fwd(x_s, g_s, reverse)
        ctx.save_for_backward(x_s, g_s, y_s)
        ctx.direction = direction
        return from_scan_major(y_s, direction)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x_s, g_s, y_s = ctx.saved_tensors
        d = ctx.direction
        dx, dg = scan_bwd(to_scan_major(grad, d), x_s, g_s, y_s, _reverse(d))
        return from_scan_major(dx, d), from_scan_major(dg, d), None


def propagate(x: Tensor, gates: Tensor, direction: str) -> Tensor:
    """Differentiable fast path; no argument checks (see :func:`vprop.ops.propagate`)."""
    return PropagateFunction.apply(x, gates, direction)


def propagate_4dir(x: Tensor, gates: Tensor) -> Tensor:
    """Differentiable four-direction fast path. gates: (B, 12, H, W) -> (B, 4, C, H, W)."""
    return torch.stack([propagate(x, g, d) for g, d in zip(gates.split(3, dim=1), DIRECTIONS)], dim=1)
