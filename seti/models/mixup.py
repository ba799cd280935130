"""Batch mixup as one callable built from ``cfg.aug.mixup`` (like timm's ``Mixup``), applied by the model.

It acts on whole batches of images, after either data path (DataLoader workers or the device), so it
lives with the model, not the data. The pipeline instantiates it and hands it to the model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

MIXUP_LABEL_RULES = ("max", "mix")
MIXUP_TARGET = "seti.models.mixup.Mixup"


class Mixup:
    """Mix a batch with a shuffled copy of itself: weight ~ Beta(alpha, alpha), on a share ``p`` of batches.

    ``label``: ``max`` (a mix holding any needle is positive, the competition's rule) or ``mix`` (the
    usual convex combination). ``off_last_fraction``: the final share of epochs trained without mixup,
    so the model ends on clean inputs.
    """

    def __init__(self, alpha: float = 0.0, p: float = 0.0, label: str = "max", off_last_fraction: float = 0.2) -> None:
        if float(alpha) < 0:
            raise ValueError(f"aug.mixup.alpha must be >= 0, got {alpha}")
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"aug.mixup.p must be in [0, 1], got {p}")
        if label not in MIXUP_LABEL_RULES:
            raise ValueError(f"aug.mixup.label must be one of {list(MIXUP_LABEL_RULES)}, got {label!r}")
        if not 0.0 <= float(off_last_fraction) <= 1.0:
            raise ValueError(f"aug.mixup.off_last_fraction must be in [0, 1], got {off_last_fraction}")
        self.alpha, self.p, self.label = float(alpha), float(p), label
        self.off_last_fraction = float(off_last_fraction)

    @property
    def enabled(self) -> bool:
        return self.alpha > 0 and self.p > 0

    def settings(self) -> dict[str, Any]:
        """Plain values (stored in checkpoints, which load with ``weights_only=True``)."""
        return {"alpha": self.alpha, "p": self.p, "label": self.label, "off_last_fraction": self.off_last_fraction}

    def active(self, epoch: int | None = None, max_epochs: int | None = None) -> bool:
        """Enabled, and not in the final ``off_last_fraction`` of ``max_epochs`` (unknown length: on)."""
        if not self.enabled:
            return False
        if epoch is None or max_epochs is None or max_epochs < 0:
            return True
        return epoch < math.ceil(max_epochs * (1 - self.off_last_fraction))

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, epoch: int | None = None, max_epochs: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the (possibly) mixed batch and its labels; unchanged when inactive or not drawn."""
        if not self.active(epoch, max_epochs) or torch.rand(()) >= self.p:
            return x, y
        lam = torch.distributions.Beta(self.alpha, self.alpha).sample().to(x.device)
        perm = torch.randperm(x.shape[0], device=x.device)
        mixed = lam.to(x.dtype) * x + (1 - lam.to(x.dtype)) * x[perm]
        if self.label == "max":
            return mixed, torch.maximum(y, y[perm])
        return mixed, lam.to(y.dtype) * y + (1 - lam.to(y.dtype)) * y[perm]

    def __repr__(self) -> str:
        return f"Mixup({', '.join(f'{k}={v!r}' for k, v in self.settings().items())})"


def build_mixup(spec: Mapping | DictConfig | Mixup | None) -> Mixup:
    """``cfg.aug.mixup`` -> :class:`Mixup`. A spec without ``_target_`` (older configs) means this class."""
    if isinstance(spec, Mixup):
        return spec
    if spec is None:
        return Mixup()
    plain = OmegaConf.to_container(spec, resolve=True) if isinstance(spec, DictConfig) else dict(spec)
    target = plain.pop("_target_", MIXUP_TARGET)
    if target == MIXUP_TARGET:
        try:
            return Mixup(**plain)
        except TypeError as err:
            raise ValueError(f"aug.mixup has an unknown key: {err}") from err
    from hydra.utils import instantiate

    built = instantiate({"_target_": target, **plain})
    if not callable(built):
        raise ValueError(
            f"aug.mixup._target_={target} built {type(built).__name__}, which is not callable as mixup(x, y)"
        )
    return built
