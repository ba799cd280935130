"""Cadence-aware transforms on the raw six panels, with a per-sample and a batched entry point on one code.

They know which panels are ON target and change the label when the physics says so: a signal moved to the
OFF positions is no longer ET. :meth:`CadenceAugment.__call__` serves the DataLoader workers (one numpy
cadence, draws from the worker's numpy generator); :meth:`CadenceAugment.batch` serves the device path
(a torch batch, draws per sample with torch). Both only draw; :meth:`CadenceAugment.apply` does the work
for both, in torch, as :class:`~seti.data.preprocess.Preprocessor` serves both paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from seti.data.augment.draws import chosen
from seti.data.augment.needles import NeedleBank, draw_needle, inject_needles
from seti.data.layout import OFF_PANELS, ON_PANELS

#: the keys of an ``aug`` config
AUG_KEYS = ("name", "cadence", "image", "mixup")


@dataclass
class CadenceAugment:
    """Label-aware transforms on a (6, 273, 256) cadence; each has its own probability, drawn per sample.

    In this order:

    - ``inject_needle_p``: on a negative, add a setigen-style needle to the ON panels (label -> 1):
      multiplies positives, the scarce class (:mod:`seti.data.augment.needles`).
    - ``shuffle_off_p``: permute the OFF panels among themselves (label kept: they hold no ET signal).
    - ``swap_on_off_p``: exchange the ON and OFF panels; whatever signal the ON panels held is now in
      OFF positions, so the label becomes 0.
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

    def draw(self, target: int, rng: np.random.Generator) -> dict[str, Any] | None:
        """The transforms drawn for one cadence (workers path), from ``rng`` in the transforms' order (a fresh
        needle for an injection): keywords for :meth:`apply`, or None when nothing was drawn, so the caller
        may reuse the untouched cadence's cached image."""
        inject = bool(self.inject_needle_p and target == 0 and rng.random() < self.inject_needle_p)
        needles = torch.from_numpy(draw_needle(rng, self._needle_params)[None]) if inject else None
        off_order = None
        if self.shuffle_off_p and rng.random() < self.shuffle_off_p:
            off_order = torch.as_tensor(rng.permutation(OFF_PANELS))[None]
        swap = bool(self.swap_on_off_p and rng.random() < self.swap_on_off_p)
        if not (inject or swap) and off_order is None:
            return None
        return {
            "inject": torch.tensor([inject]),
            "needles": needles,
            "off_order": off_order,
            "swap": torch.tensor([swap]),
        }

    def apply_drawn(self, cadence: np.ndarray, target: int, drawn: dict[str, Any] | None) -> tuple[np.ndarray, int]:
        """One cadence with the transforms of :meth:`draw`: a transformed float32 copy and its (new) label."""
        out, targets = self.apply(
            torch.from_numpy(np.asarray(cadence, dtype=np.float32))[None],
            torch.tensor([float(target)]),
            **(drawn or {}),
        )
        return out[0].numpy(), int(targets[0])

    def __call__(self, cadence: np.ndarray, target: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """One cadence (workers path): :meth:`draw` then :meth:`apply_drawn`."""
        return self.apply_drawn(cadence, target, self.draw(target, rng))

    def batch(
        self, cadences: torch.Tensor, targets: torch.Tensor, needles: NeedleBank | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A (B, 6, 273, 256) batch (device path): per-sample torch draws, needles picked from the bank."""
        device, size = cadences.device, len(cadences)
        inject = swap = off_order = picked = None
        if self.inject_needle_p > 0:
            if needles is None:
                raise ValueError("aug.cadence.inject_needle_p > 0 needs a needle bank on the device path")
            inject = (targets == 0) & chosen(self.inject_needle_p, size, device)
            picked = needles.pick(int(inject.sum()), device)
        if self.shuffle_off_p > 0:
            shuffle = chosen(self.shuffle_off_p, size, device)
            off = torch.tensor(OFF_PANELS, device=device)
            permuted = off[torch.rand(size, len(off), device=device).argsort(dim=1)]
            off_order = torch.where(shuffle[:, None], permuted, off.expand(size, -1))
        if self.swap_on_off_p > 0:
            swap = chosen(self.swap_on_off_p, size, device)
        return self.apply(cadences, targets, inject=inject, needles=picked, off_order=off_order, swap=swap)

    @staticmethod
    def apply(
        cadences: torch.Tensor,
        targets: torch.Tensor,
        *,
        inject: torch.Tensor | None = None,
        needles: torch.Tensor | None = None,
        off_order: torch.Tensor | None = None,
        swap: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The drawn transforms on a float32 copy: injection into ``inject`` (-> 1, one of ``needles`` each),
        then the OFF panels reordered to ``off_order`` (B, 3) (label kept), then ON/OFF swapped where ``swap``
        (-> 0). Both panel moves are one gather."""
        x = cadences.float()
        targets = targets.clone()
        if inject is not None and bool(inject.any()):
            x = inject_needles(x, inject, needles)
            targets[inject] = 1
        order = torch.arange(6, device=x.device).repeat(len(x), 1)
        off = torch.tensor(OFF_PANELS, device=x.device)
        if off_order is not None:
            order[:, off] = off_order.to(x.device)
        if swap is not None and bool(swap.any()):
            on_off = torch.tensor(ON_PANELS + OFF_PANELS, device=x.device)
            off_on = torch.tensor(OFF_PANELS + ON_PANELS, device=x.device)
            order[:, on_off] = torch.where(swap[:, None], order[:, off_on], order[:, on_off])
            targets[swap] = 0
        if off_order is not None or (swap is not None and bool(swap.any())):
            x = x.gather(1, order[:, :, None, None].expand_as(x))
        elif x.data_ptr() == cadences.data_ptr():
            x = x.clone()  # a copy, never the caller's array
        return x, targets


def check_aug_keys(aug_cfg: DictConfig | dict) -> DictConfig:
    """The ``aug`` config as a DictConfig, refused when it has a key this project does not read."""
    cfg = OmegaConf.create(aug_cfg) if isinstance(aug_cfg, dict) else aug_cfg
    unknown = set(cfg.keys()) - set(AUG_KEYS)
    if unknown:
        raise ValueError(f"aug config has unknown key(s) {sorted(unknown)}; expected {sorted(AUG_KEYS)}")
    return cfg


def build_cadence_augment(cfg: DictConfig) -> CadenceAugment | None:
    """``aug.cadence`` (of a checked ``aug`` config) -> :class:`CadenceAugment`, or None when every
    probability is 0."""
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
