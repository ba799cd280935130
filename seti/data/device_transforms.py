"""The device data path (``data.transforms=device``): raw float16 batches -> model inputs on the training
device, in torch.

DataLoader workers then only read and pin raw cadences; the rest runs here on whole batches after they
reach the device: the cadence transforms (:meth:`CadenceAugment.batch
<seti.data.augment.cadence.CadenceAugment.batch>`, needles from a bank), the shared preprocessing
(:meth:`Preprocessor.batch <seti.data.preprocess.Preprocessor.batch>`) and the ``aug.image`` list
translated into batched torch ops (:mod:`seti.data.augment.image`). Which path a run takes is decided by
:func:`seti.runtime.resolve_transforms`. The same code runs on CPU tensors, which is how the tests check
it against the workers path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from seti.data.augment.cadence import CadenceAugment
from seti.data.augment.needles import BANK_DIR_KEY, NeedleBank, load_or_draw
from seti.data.preprocess import Preprocessor


class DeviceTransforms:
    """Raw float16 batches on the device -> model inputs, with the workers path's augmentations and labels."""

    def __init__(
        self,
        preprocess: Preprocessor,
        cadence: CadenceAugment | None = None,
        image_ops: list[Callable[[torch.Tensor], torch.Tensor]] | None = None,
        needles: NeedleBank | None = None,
    ) -> None:
        if cadence is not None and cadence.inject_needle_p > 0 and needles is None:
            raise ValueError("aug.cadence.inject_needle_p > 0 needs a needle bank on the device path")
        self.preprocess = preprocess
        self.cadence = cadence
        self.image_ops = list(image_ops or [])
        self.needles = needles

    def eval(self, cadences: torch.Tensor) -> torch.Tensor:
        """Validation, test and predict batches: preprocessing only."""
        return self.preprocess.batch(cadences)

    def train(self, cadences: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training batches: cadence transforms (labels follow), preprocessing, image transforms."""
        if self.cadence is not None:
            cadences, targets = self.cadence.batch(cadences, targets, self.needles)
        images = self.preprocess.batch(cadences)
        for op in self.image_ops:
            images = op(images)
        return images, targets


def build_device_transforms(
    preprocess: Preprocessor,
    cadence: CadenceAugment | None,
    image_ops: list[Callable[[torch.Tensor], torch.Tensor]],
    bank_dir: str | Path | None,
    bank_size: int,
    bank_seed: int = 0,
) -> DeviceTransforms:
    """The built transforms plus, when they inject needles, the bank (loaded or drawn here, once)."""
    needles = None
    if cadence is not None and cadence.inject_needle_p > 0:
        if not bank_dir:
            raise ValueError(f"{BANK_DIR_KEY} is not set: the device path keeps its needle bank there")
        needles = NeedleBank(load_or_draw(bank_dir, cadence.needle_params, bank_size, bank_seed))
    return DeviceTransforms(preprocess, cadence, image_ops, needles)


class PreprocessThen(torch.nn.Module):
    """``model(preprocess.batch(x))``: scores raw cadence batches with a model trained on the device path."""

    def __init__(self, preprocess: Preprocessor, model: torch.nn.Module) -> None:
        super().__init__()
        self.preprocess = preprocess
        self.model = model

    def forward(self, cadences: torch.Tensor) -> torch.Tensor:
        return self.model(self.preprocess.batch(cadences))
