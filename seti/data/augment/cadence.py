"""Augmentation: cadence-aware transforms on the raw six panels, then albumentations on the image.

Two stages because they act on different things. Cadence transforms know which panels are ON target and
change the label when the physics says so (a signal moved to the OFF positions is no longer ET). Image
transforms (flips, shifts, masking) act on the preprocessed (H, W, C) float32 image and keep the label.
Mixup acts on whole batches, so it is a callable the pipeline builds from ``aug.mixup`` and hands to the
model (:mod:`seti.models.mixup`). With ``data.transforms=device`` the same config runs batched on the
training device instead (:mod:`seti.data.device_transforms`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import albumentations as A
import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from seti.data.layout import OFF_PANELS, ON_PANELS
from seti.models.mixup import Mixup, build_mixup


@dataclass
class CadenceAugment:
    """Label-aware transforms on a (6, 273, 256) cadence; each has its own probability.

    - ``shuffle_off_p``: permute the OFF panels among themselves (label kept: they hold no ET signal).
    - ``swap_on_off_p``: exchange the ON and OFF panels; whatever signal the ON panels held is now in
      OFF positions, so the label becomes 0.
    - ``inject_needle_p``: on a negative, draw a setigen-style needle into the ON panels (label -> 1):
      multiplies positives, the scarce class.
    """

    shuffle_off_p: float = 0.0
    swap_on_off_p: float = 0.0
    inject_needle_p: float = 0.0
    needle: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("shuffle_off_p", "swap_on_off_p", "inject_needle_p"):
            value = getattr(self, name)
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"aug.cadence.{name} must be a probability in [0, 1], got {value}")
        self._needle_params = None
        if self.inject_needle_p > 0:
            from seti.data.synthetic import SyntheticParams

            try:
                self._needle_params = SyntheticParams(**dict(self.needle))
            except TypeError as err:
                raise ValueError(f"aug.cadence.needle has an unknown key: {err}") from err

    @property
    def needle_params(self):
        """The injected needles' :class:`seti.data.synthetic.SyntheticParams` (None without injection)."""
        return self._needle_params

    @property
    def active(self) -> bool:
        return max(self.shuffle_off_p, self.swap_on_off_p, self.inject_needle_p) > 0

    def __call__(self, cadence: np.ndarray, target: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """Return a transformed float32 copy and its (possibly new) label."""
        cadence = cadence.astype(np.float32, copy=True)
        if self.inject_needle_p and target == 0 and rng.random() < self.inject_needle_p:
            from seti.data.synthetic import inject_needle

            cadence = inject_needle(cadence, rng, self._needle_params, panels=ON_PANELS)
            target = 1
        if self.shuffle_off_p and rng.random() < self.shuffle_off_p:
            cadence[list(OFF_PANELS)] = cadence[list(rng.permutation(OFF_PANELS))]
        if self.swap_on_off_p and rng.random() < self.swap_on_off_p:
            on, off = list(ON_PANELS), list(OFF_PANELS)
            cadence[on + off] = cadence[off + on]
            target = 0
        return cadence, target


def build_image_augment(transforms: list | None) -> A.Compose | None:
    """Instantiate the ``aug.image`` list of albumentations ``_target_`` configs into a strict Compose.

    ``strict=True`` turns a misspelt argument (albumentations 2.x renamed many) into an error instead of
    a warning that silently disables the transform.
    """
    if not transforms:
        return None
    built = []
    for index, spec in enumerate(transforms):
        try:
            transform = instantiate(spec)
            A.Compose([transform], strict=True)  # rejects arguments the transform silently ignores
            built.append(transform)
        except Exception as err:  # noqa: BLE001 - re-raised with the config position
            raise ValueError(f"aug.image[{index}] ({_target_of(spec)}) could not be built: {err}") from err
    return A.Compose(built, strict=True)


def build_augment(aug_cfg: DictConfig | dict | None) -> tuple[CadenceAugment | None, A.Compose | None, Mixup]:
    """The three parts of an ``aug`` config: cadence transforms, image transforms, the mixup callable."""
    if aug_cfg is None:
        return None, None, Mixup()
    cfg = check_aug_keys(aug_cfg)
    cadence = build_cadence_augment(cfg)
    image = build_image_augment(cfg.get("image"))
    return cadence, image, build_mixup(cfg.get("mixup"))


def check_aug_keys(aug_cfg: DictConfig | dict) -> DictConfig:
    cfg = OmegaConf.create(aug_cfg) if isinstance(aug_cfg, dict) else aug_cfg
    known = {"name", "cadence", "image", "mixup"}
    unknown = set(cfg.keys()) - known
    if unknown:
        raise ValueError(f"aug config has unknown key(s) {sorted(unknown)}; expected {sorted(known)}")
    return cfg


def build_cadence_augment(aug_cfg: DictConfig | dict | None) -> CadenceAugment | None:
    """``aug.cadence`` -> :class:`CadenceAugment`, or None when every probability is 0."""
    if aug_cfg is None:
        return None
    cfg = check_aug_keys(aug_cfg)
    try:
        cadence = CadenceAugment(**_plain(cfg.get("cadence")))
    except TypeError as err:
        raise ValueError(f"aug.cadence has an unknown key: {err}") from err
    return cadence if cadence.active else None


def _plain(node: Any) -> dict:
    if node is None:
        return {}
    if isinstance(node, DictConfig):
        return OmegaConf.to_container(node, resolve=True)
    return dict(node)


def _target_of(spec: Any) -> str:
    try:
        return str(spec.get("_target_", "?"))
    except AttributeError:
        return "?"
