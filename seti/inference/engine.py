"""Plain batched inference: used for a run's validation predictions and by predict.py.

Outside the Trainer on purpose: it logs nothing (a second validation pass would overwrite the logged
metrics) and runs on one process.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch.utils.data import DataLoader


def auto_precision(on_gpu: bool) -> str:
    """What ``precision=auto`` means for training and inference alike: bf16 on a GPU that has it,
    fp16 on an older GPU, fp32 on the CPU."""
    if on_gpu and torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def autocast_for(device: torch.device, precision: str | None):
    """bf16/fp16 autocast where the precision asks for it, else a no-op."""
    precision = str(precision or "32")
    if "bf16" in precision:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    if precision.startswith("16") and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()


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
    if tta not in ("none", "flip"):
        raise ValueError(f"tta must be 'none' or 'flip', got {tta!r}")
    device = torch.device(device)
    was_training = model.training
    model.eval().to(device)
    indices, probs = [], []
    try:
        for x, _, index in loader:
            x = x.to(device, non_blocking=True)
            with autocast_for(device, precision):
                p = torch.sigmoid(model(x).float())
                if tta == "flip":
                    p = (p + torch.sigmoid(model(torch.flip(x, dims=[-1])).float())) / 2
            indices.append(index.cpu().numpy())
            probs.append(p.cpu().double().numpy())
    finally:
        model.train(was_training)
    if not indices:
        return np.empty(0, dtype=np.int64), np.empty(0)
    return np.concatenate(indices).astype(np.int64), np.concatenate(probs)
