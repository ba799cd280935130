"""Per-sample random draws for batched transforms: which samples a transform hits, and random integers.

Shared by the cadence and the image transforms so "probability p, drawn per sample" means one thing.
"""

from __future__ import annotations

import torch


def chosen(p: float, batch: int, device: torch.device) -> torch.Tensor:
    """Which samples of the batch a transform with probability ``p`` applies to."""
    return torch.rand(batch, device=device) < p


def randint(low: torch.Tensor | int, high: torch.Tensor | int, size: tuple[int, ...], device) -> torch.Tensor:
    """Integers uniform in [low, high] inclusive (broadcast), like ``random.randint``."""
    low_t = torch.as_tensor(low, device=device)
    high_t = torch.as_tensor(high, device=device)
    span = (high_t - low_t + 1).clamp_min(1)
    return low_t + (torch.rand(size, device=device) * span).floor().long().clamp_max(span - 1)
