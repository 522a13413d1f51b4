"""Shared inputs of the propagation tests (tests/ops/test_ops_*.py and triton_cases.py, which runs in its own
process and so cannot take them as fixtures)."""
import torch

from vprop.ops.naive import DIRECTIONS

# H != W both ways, single rows and columns, a single pixel.
SHAPES = [(2, 3, 5, 7), (1, 2, 8, 3), (1, 2, 1, 6), (1, 2, 6, 1), (1, 1, 1, 1)]

# Gates the op must ignore get this value: counted by mistake, they change the result by a lot.
POISON = 7.0


def ignored_gates(shape, direction: str) -> torch.Tensor:
    """Mask (B, 3, H, W) of the gates that link to nothing in `direction`.

    Gate 0 of the first row and gate 2 of the last row (rows being across the scan), and all gates of the
    column where the scan starts.
    """
    b, _, h, w = shape
    mask = torch.zeros(b, 3, h, w, dtype=torch.bool)
    if direction in ("l2r", "r2l"):
        mask[:, 0, 0, :] = True
        mask[:, 2, h - 1, :] = True
        mask[..., 0 if direction == "l2r" else w - 1] = True
    else:
        mask[:, 0, :, 0] = True
        mask[:, 2, :, w - 1] = True
        mask[:, :, 0 if direction == "t2b" else h - 1, :] = True
    return mask


def make_inputs(shape, directions=DIRECTIONS, dtype=torch.float64, seed=0, device="cpu"):
    """x (B, C, H, W) and gates (B, 3 * len(directions), H, W), the ignored gates poisoned, both leaves."""
    gen = torch.Generator().manual_seed(seed)
    b, _, h, w = shape
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    # Sum of |g| <= 1.2: the scan stays bounded, yet the gates are not normalised (not the op's job).
    gates = torch.rand(b, 3 * len(directions), h, w, generator=gen, dtype=torch.float64) * 0.6 - 0.2
    for k, direction in enumerate(directions):
        gates[:, 3 * k:3 * k + 3][ignored_gates(shape, direction)] = POISON
    return (x.to(device, dtype).requires_grad_(), gates.to(device, dtype).requires_grad_())


def value_and_grads(fn, x, gates, seed=1):
    """(y, dL/dx, dL/dgates) for L = <y, random weights>; unused inputs get zero gradients."""
    y = fn(x, gates)
    weights = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype).to(y.device)
    dx, dg = torch.autograd.grad(y, (x, gates), weights, materialize_grads=True)
    return y.detach(), dx, dg

