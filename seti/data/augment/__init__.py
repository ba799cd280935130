"""Augmentation, one home: cadence-aware transforms, image transforms, needle injection.

Two stages because they act on different things. Cadence transforms (:mod:`.cadence`) know which panels
are ON target and change the label when the physics says so; needle injection (:mod:`.needles`) is one of
them. Image transforms (:mod:`.image`) act on the preprocessed image and keep the label. Each module holds
its per-sample (DataLoader workers) and its batched (device path) form side by side. Mixup acts on whole
batches inside the model, so it is not built here (:mod:`seti.models.mixup`, from ``aug.mixup``).
"""

from __future__ import annotations

import albumentations as A
from omegaconf import DictConfig

from seti.data.augment.cadence import CadenceAugment, build_cadence_augment, check_aug_keys
from seti.data.augment.image import build_image_augment


def build_augment(aug_cfg: DictConfig | dict | None) -> tuple[CadenceAugment | None, A.Compose | None]:
    """The data layer's two parts of an ``aug`` config, checked once: cadence transforms and image transforms
    (either None when the config has none)."""
    if aug_cfg is None:
        return None, None
    cfg = check_aug_keys(aug_cfg)
    return build_cadence_augment(cfg), build_image_augment(cfg.get("image"))


__all__ = ["CadenceAugment", "build_augment", "build_cadence_augment", "build_image_augment", "check_aug_keys"]
