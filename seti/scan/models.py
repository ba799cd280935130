"""The scan's one adapter to seti.inference: checkpoints to members, and a batch of windows to each
member's probability. Members, their preprocessing groups, batching on the device, precision, flip TTA
and the blend are the inference package's; nothing is re-implemented here, so this is the only module to
follow that package when its signatures change."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seti.inference import blend, find_checkpoints, group_by_preprocessing, load_members, model_stack


@dataclass
class ScanModel:
    """Loaded members and, per distinct preprocessing, the stack of models that share it."""

    members: list
    groups: list[tuple[Any, torch.nn.Module]]
    group_members: list[list]

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.members]

    @property
    def configs(self) -> list[tuple[str, dict]]:
        return [(m.name, m.config) for m in self.members]

    def describe(self) -> list[dict]:
        return [
            {
                "name": m.name,
                "checkpoint": str(m.spec.ckpt_path),
                "model": m.config["model"]["_target_"],
                "preprocessing": {
                    "panels": m.preprocess.panels,
                    "layout": m.preprocess.layout,
                    "background": m.preprocess.background,
                    "image_size": list(m.preprocess.image_size),
                    "clip": None if m.preprocess.clip is None else list(m.preprocess.clip),
                },
            }
            for m in self.members
        ]


def load_model(ckpt: str | Path, checkpoint: str = "best") -> ScanModel:
    """Every checkpoint behind ``ckpt`` (a file, a run, a sweep), loaded before anything is scanned."""
    members = load_members(find_checkpoints(ckpt, checkpoint))
    groups = group_by_preprocessing(members)
    return ScanModel(
        members=members,
        groups=[(preprocess, model_stack([m.model for m in group])) for preprocess, group in groups.items()],
        group_members=list(groups.values()),
    )


def score_windows(
    model: ScanModel,
    cadences: torch.Tensor,
    device: torch.device,
    precision: str,
    tta: str,
    channels_last: bool | str,
) -> np.ndarray:
    """(N, 6, 273, 256) float32 cadences -> (N, members) probabilities, in ``model.names`` order, through
    predict.py's own batched path (one preprocessing per group, every member of a group in one pass)."""
    from seti.inference.engine import score_cadences  # predict.py's scoring loop, over one in-memory batch

    index = torch.arange(len(cadences))
    _, probs, _ = score_cadences(model.groups, [(cadences, index)], device, precision, tta, channels_last)
    out = np.empty((len(cadences), len(model.members)), dtype=np.float64)
    columns = {m.name: j for j, m in enumerate(model.members)}
    for group, group_probs in zip(model.group_members, probs):
        group_probs = group_probs.reshape(len(cadences), len(group))
        for k, member in enumerate(group):
            out[:, columns[member.name]] = group_probs[:, k]
    return out


def blend_scores(scores: np.ndarray, method: str) -> np.ndarray:
    """(windows, members) -> (windows,): the inference package's blend (mean, or rank over all windows)."""
    return blend(scores, method)
