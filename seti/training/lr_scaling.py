"""The learning rate actually used: the configured ``optimizer.lr`` is for ``optimizer.reference_batch``
and is scaled to the batch the run trains with by ``optimizer.lr_scaling``.

``linear`` (lr x batch / reference, Goyal et al. for SGD), ``sqrt`` (lr x sqrt(batch / reference), the usual
rule for Adam-family optimisers, whose update size is already normalised per parameter) or ``none``. At
the reference batch every rule returns ``lr`` itself, bit for bit, so a run at its reference batch trains
exactly as it did before scaling existed. The two keys are read here and never reach the optimizer.
"""

from __future__ import annotations

import math
from typing import Any

from omegaconf import DictConfig, OmegaConf

from seti.errors import SetiError

LR_SCALING = ("linear", "sqrt", "none")
SCALING_KEYS = ("reference_batch", "lr_scaling")


class LrScalingError(SetiError, ValueError):
    """``optimizer.reference_batch`` / ``optimizer.lr_scaling`` hold something unusable."""


def scaled_lr(lr: float, batch: int, reference_batch: int, rule: str) -> float:
    """``lr`` (given for ``reference_batch``) scaled to ``batch`` by ``rule``; exactly ``lr`` at the reference."""
    if rule not in LR_SCALING:
        raise LrScalingError(f"model.optimizer.lr_scaling must be one of {list(LR_SCALING)}, got {rule!r}")
    if isinstance(reference_batch, bool) or not isinstance(reference_batch, int) or reference_batch < 1:
        raise LrScalingError(
            f"model.optimizer.reference_batch must be an integer >= 1 (the batch the lr was tuned at), "
            f"got {reference_batch!r}"
        )
    if rule == "none" or batch == reference_batch:
        return lr
    ratio = batch / reference_batch
    return lr * (ratio if rule == "linear" else math.sqrt(ratio))


def with_batch_lr(model_cfg: DictConfig | dict, batch: int) -> tuple[DictConfig | dict, float | None]:
    """The model config with ``optimizer.lr`` scaled to ``batch`` and the scaling keys removed, and that lr.

    A model without an optimizer node (the dedoppler baseline) is returned as it is, with None.
    """
    config = OmegaConf.to_container(model_cfg, resolve=True) if isinstance(model_cfg, DictConfig) else dict(model_cfg)
    optimizer = config.get("optimizer")
    if not isinstance(optimizer, dict) or "lr" not in optimizer:
        return model_cfg, None
    optimizer = dict(optimizer)
    reference = optimizer.pop("reference_batch", None)
    rule = optimizer.pop("lr_scaling", "none")
    lr = _number(optimizer["lr"])
    used = lr if reference is None else scaled_lr(lr, int(batch), reference, str(rule))
    optimizer["lr"] = used
    config["optimizer"] = optimizer
    return config, used


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LrScalingError(f"model.optimizer.lr must be a number, got {value!r}")
    return value
