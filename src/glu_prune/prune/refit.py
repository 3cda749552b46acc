"""Least-squares re-fit of down_proj after pruning (the `data` method).

The kept gate/up rows are unchanged, so the kept activations x_S are exactly what the pruned layer
computes on the same input: re-fitting the kept down_proj columns absorbs part of what the removed
neurons contributed.
"""

from __future__ import annotations

import torch

RIDGE = 1e-3  # relative to the mean activation energy of the kept neurons


def least_squares_down(down: torch.Tensor, gram: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """New down_proj weight [hidden, k] for the kept neurons S that minimises, over calibration
    tokens, ||D x - D' x_S||^2 (+ a small ridge): D' = D G[:, S] (G[S, S] + lambda I)^-1."""
    g = gram.double()
    g_ss = g[keep][:, keep]
    ridge = RIDGE * g_ss.diagonal().mean()
    rhs = g[keep] @ down.double().T  # [k, hidden] = G[S, :] D^T
    solution = torch.linalg.solve(g_ss + ridge * torch.eye(len(keep), dtype=g.dtype, device=g.device), rhs)
    return solution.T.to(down.dtype).contiguous()
