"""The dedoppler baseline as a LightningModule, so it runs through the same validation, test, report and
predict paths as the CNNs (``model=dedoppler``) and appears in every report as a reference row. Its run
saves ``checkpoints/best.ckpt`` (no weights, its config), from which predict.py rebuilds it like any model."""

from __future__ import annotations

import time

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics.classification import BinaryAUROC

from seti.baselines.dedoppler import DedopplerScorer
from seti.data.layout import CADENCE_SHAPE


class DedopplerModule(L.LightningModule):
    """No parameters, no training: ``forward`` returns ``score / scale`` as a logit.

    The dedoppler score is an S/N difference (unbounded); dividing by ``scale`` keeps sigmoid
    probabilities away from 0/1 in float32 so strong detections stay ranked (AUROC is unaffected).
    Expects raw cadences: conf/model_input/dedoppler.yaml sets data.layout=channels, panels=all,
    image_size=[273,256], background=none, clip=null. ``in_chans`` and ``mixup`` are what train.py passes
    every model; mixup is unused, since nothing is trained.
    """

    def __init__(
        self,
        scorer: dict | None = None,
        scale: float = 10.0,
        name: str = "dedoppler",
        in_chans: int = 6,
        mixup: object | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters({"scorer": dict(scorer or {}), "scale": float(scale), "name": name})
        self.scorer = DedopplerScorer(**dict(scorer or {}))
        self.scale = float(scale)
        if in_chans != CADENCE_SHAPE[0]:
            raise ValueError(
                "model=dedoppler needs all six raw panels as channels (data.panels=all, data.layout=channels, as "
                f"conf/model_input/dedoppler.yaml sets them), got in_chans={in_chans}"
            )
        self.val_auroc = BinaryAUROC()
        self.test_auroc = BinaryAUROC()
        self.cadences_scored = 0
        self.seconds = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != CADENCE_SHAPE:
            raise ValueError(
                f"model=dedoppler needs raw (6, 273, 256) cadences, got {tuple(x.shape[1:])}: "
                "keep the data settings that conf/model_input/dedoppler.yaml sets (drop data.image_size=... overrides)"
            )
        start = time.perf_counter()
        scores = self.scorer(x.detach().cpu().numpy())
        self.seconds += time.perf_counter() - start
        self.cadences_scored += len(scores)
        return torch.from_numpy(scores).to(x.device, torch.float32) / self.scale

    @property
    def cadences_per_s(self) -> float:
        return self.cadences_scored / self.seconds if self.seconds else float("nan")

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y, _ = batch
        logits = self(x)
        self.log("val/loss", F.binary_cross_entropy_with_logits(logits, y), on_epoch=True, batch_size=len(y))
        self.val_auroc.update(torch.sigmoid(logits), y.long())
        self.log("val/auroc", self.val_auroc, on_epoch=True)

    def test_step(self, batch, batch_idx: int) -> None:
        x, y, _ = batch
        self.test_auroc.update(torch.sigmoid(self(x)), y.long())
        self.log("test/auroc", self.test_auroc, on_epoch=True)

    def configure_optimizers(self):
        return None
