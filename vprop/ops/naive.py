"""Readable reference of the 3-way linear propagation (paper eq. 5). The spec every fast path is tested against."""
import torch

DIRECTIONS = ("l2r", "r2l", "t2b", "b2t")


def propagate_l2r(x: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
    """Left-to-right scan. x: (B, C, H, W); gates: (B, 3, H, W), gate j links row t to row t + j - 1 of the previous column."""
    _, _, height, width = x.shape
    columns = [x[..., 0]]
    for i in range(1, width):
        prev = columns[-1]                                   # (B, C, H)
        g = gates[..., i]                                    # (B, 3, H)
        zero_row = torch.zeros_like(prev[..., :1])
        # Neighbours above / level / below; rows outside the image contribute nothing and their gate is dropped.
        up = torch.cat([zero_row, prev[..., :-1]], dim=-1)
        down = torch.cat([prev[..., 1:], zero_row], dim=-1)
        valid = torch.ones_like(g)
        valid[:, 0, 0] = 0
        valid[:, 2, height - 1] = 0
        g = g * valid
        mixed = g[:, 0:1] * up + g[:, 1:2] * prev + g[:, 2:3] * down
        columns.append((1 - g.sum(1, keepdim=True)) * x[..., i] + mixed)
    return torch.stack(columns, dim=-1)


def to_l2r(t: torch.Tensor, direction: str) -> torch.Tensor:
    """View a tensor so that `direction` becomes a left-to-right scan (an involution: apply it again to undo)."""
    if direction == "l2r":
        return t
    if direction == "r2l":
        return t.flip(-1)
    if direction == "t2b":
        return t.transpose(-1, -2)
    if direction == "b2t":
        return t.flip(-2).transpose(-1, -2)
    raise ValueError(f"unknown direction {direction!r}; expected one of {DIRECTIONS}")


def from_l2r(t: torch.Tensor, direction: str) -> torch.Tensor:
    if direction == "b2t":
        return t.transpose(-1, -2).flip(-2)
    return to_l2r(t, direction)


def propagate(x: torch.Tensor, gates: torch.Tensor, direction: str) -> torch.Tensor:
    """Reference `propagate`: any direction, differentiable through autograd."""
    return from_l2r(propagate_l2r(to_l2r(x, direction), to_l2r(gates, direction)), direction)


def propagate_4dir(x: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
    """Reference `propagate_4dir`: the four directions on the same x, stacked as (B, 4, C, H, W).

    gates: (B, 12, H, W), three channels per direction in DIRECTIONS order.
    """
    return torch.stack([propagate(x, gates[:, 3 * k:3 * k + 3], d) for k, d in enumerate(DIRECTIONS)], dim=1)
