"""Scoring a model: sigmoid probabilities of its logits, with flip TTA, over a whole loader.

Used by training for the best checkpoint's validation predictions and by predict.py for every batch, so a
probability means the same thing on both paths. Outside the Trainer on purpose: it logs nothing (a second
validation pass would overwrite the logged metrics) and runs on one process.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from seti.runtime import autocast_for

#: test-time augmentation: none | flip (the image and its frequency flip, probabilities averaged)
TTAS = ("none", "flip")


def check_tta(tta: str, key: str = "tta") -> str:
    """``tta`` if it is one of :data:`TTAS`, else a ValueError naming ``key``."""
    if tta not in TTAS:
        raise ValueError(f"{key} must be one of {list(TTAS)}, got {tta!r}")
    return tta


@torch.no_grad()
def predict_probabilities(
    model: torch.nn.Module,
    loader: DataLoader,
    device: torch.device | str = "cpu",
    precision: str | None = None,
    tta: str = "none",
) -> tuple[np.ndarray, np.ndarray]:
    """Return (dataset indices, probabilities) for every sample of ``loader``.

    ``tta="flip"`` averages the probabilities of the image and its frequency flip (the last axis).
    """
    check_tta(tta)
    device = torch.device(device)
    was_training = model.training
    model.eval().to(device)
    indices, probs = [], []
    try:
        for x, _, index in loader:
            x = x.to(device, non_blocking=True)
            with autocast_for(device, precision):
                p = probabilities(model, x, tta)
            indices.append(index.cpu().numpy())
            probs.append(p.cpu().double().numpy())
    finally:
        model.train(was_training)
    if not indices:
        return np.empty(0, dtype=np.int64), np.empty(0)
    return np.concatenate(indices).astype(np.int64), np.concatenate(probs)


def probabilities(model: torch.nn.Module, x: torch.Tensor, tta: str = "none") -> torch.Tensor:
    """Sigmoid of the model's logits (float32); ``tta="flip"`` averages them with those of the frequency flip
    (the last axis), computed in the same forward pass on the batch and its flip concatenated."""
    if tta == "flip":
        both = torch.cat([x, torch.flip(x, dims=[-1])])
        if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
            both = both.contiguous(memory_format=torch.channels_last)  # keep NHWC for the convolutions
        p = torch.sigmoid(model(both).float())
        return (p[: x.shape[0]] + p[x.shape[0] :]) / 2
    return torch.sigmoid(model(x).float())


def pad_rows(x: torch.Tensor, rows: int) -> torch.Tensor:
    """``x`` with copies of its last row appended up to ``rows`` rows (a real row, so no preprocessing or
    normalisation sees an all-zero input); ``x`` itself when it has that many already."""
    if x.shape[0] >= rows:
        return x
    return torch.cat([x, x[-1:].expand(rows - x.shape[0], *x.shape[1:])])
