"""``CadenceClassifier``: a timm backbone with one logit, trained with BCE (or focal) and mixup.

Validation and test AUROC come from torchmetrics on sigmoid probabilities; the best validation AUROC is
tracked as its own metric. Validation predictions are kept per id so a run can write them to disk.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any, Callable

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics import MaxMetric
from torchmetrics.classification import BinaryAUROC
from torchvision.ops import sigmoid_focal_loss

from seti.data.augment import MixupSettings
from seti.models.backbone import create_backbone

LOSSES = ("bce", "focal")


class CadenceClassifier(L.LightningModule):
    def __init__(
        self,
        backbone: dict,
        in_chans: int,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        loss: str = "bce",
        focal_gamma: float = 2.0,
        mixup: MixupSettings | dict | None = None,
        channels_last: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"model.loss must be one of {list(LOSSES)}, got {loss!r}")
        if isinstance(mixup, dict):
            mixup = MixupSettings(**mixup)
        self.mixup = mixup or MixupSettings()
        # Plain values only: checkpoints must load with torch.load(weights_only=True).
        self.save_hyperparameters(
            {"backbone": dict(backbone), "in_chans": int(in_chans), "loss": loss, "focal_gamma": float(focal_gamma),
             "mixup": asdict(self.mixup), "channels_last": bool(channels_last), "name": name}
        )
        self.net = create_backbone(in_chans=in_chans, **backbone)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.loss_name, self.focal_gamma = loss, float(focal_gamma)
        self.channels_last = bool(channels_last)
        if self.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.val_auroc = BinaryAUROC()
        self.val_auroc_best = MaxMetric()
        self.test_auroc = BinaryAUROC()
        self._val_outputs: list[torch.Tensor] = []
        self.val_predictions: torch.Tensor | None = None  # (N, 3): index, target, probability

    # ---- forward / loss -------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x).squeeze(1)

    def loss_fn(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.loss_name == "focal":
            return sigmoid_focal_loss(logits, target, gamma=self.focal_gamma, reduction="mean")
        return F.binary_cross_entropy_with_logits(logits, target)

    def mixup_active(self) -> bool:
        if not self.mixup.enabled:
            return False
        max_epochs = self.trainer.max_epochs if self._trainer is not None else None
        if max_epochs is None or max_epochs < 0:
            return True
        return self.current_epoch < math.ceil(max_epochs * (1 - self.mixup.off_last_fraction))

    def apply_mixup(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mix the batch with a shuffled copy; label by ``max`` (any needle -> positive) or ``mix``."""
        if torch.rand(()) >= self.mixup.p:
            return x, y
        lam = torch.distributions.Beta(self.mixup.alpha, self.mixup.alpha).sample().to(x.device)
        perm = torch.randperm(x.shape[0], device=x.device)
        x = lam * x + (1 - lam) * x[perm]
        y = torch.maximum(y, y[perm]) if self.mixup.label == "max" else lam * y + (1 - lam) * y[perm]
        return x, y

    # ---- steps ----------------------------------------------------------------------------------
    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y, _ = batch
        if self.mixup_active():
            x, y = self.apply_mixup(x, y)
        loss = self.loss_fn(self(x), y)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=x.shape[0])
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y, index = batch
        logits = self(x)
        probs = torch.sigmoid(logits.float()).detach()
        self.log("val/loss", self.loss_fn(logits, y), on_epoch=True, sync_dist=True, batch_size=x.shape[0])
        self.val_auroc.update(probs, y.long())
        self._val_outputs.append(torch.stack([index.to(probs), y.to(probs), probs], dim=1).cpu())

    def on_validation_epoch_start(self) -> None:
        self._val_outputs = []

    def on_validation_epoch_end(self) -> None:
        auroc = self.val_auroc.compute()
        self.log("val/auroc", auroc, prog_bar=True)
        self.val_auroc.reset()
        if not self.trainer.sanity_checking:
            self.val_auroc_best.update(auroc)
            self.log("val/auroc_best", self.val_auroc_best.compute(), prog_bar=True)
        self.val_predictions = self._gather_outputs()

    def test_step(self, batch, batch_idx: int) -> None:
        x, y, _ = batch
        probs = torch.sigmoid(self(x).float()).detach()
        self.test_auroc.update(probs, y.long())
        self.log("test/auroc", self.test_auroc, on_epoch=True)

    def predict_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        x, _, index = batch
        return torch.stack([index.to(torch.float64), torch.sigmoid(self(x).double())], dim=1)

    # ---- optimisation ---------------------------------------------------------------------------
    def configure_optimizers(self):
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer, total_steps=int(self.trainer.estimated_stepping_batches))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # ---- helpers --------------------------------------------------------------------------------
    def _gather_outputs(self) -> torch.Tensor:
        local = torch.cat(self._val_outputs) if self._val_outputs else torch.empty(0, 3)
        if self.trainer.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            parts: list[torch.Tensor | None] = [None] * self.trainer.world_size
            torch.distributed.all_gather_object(parts, local)
            local = torch.cat([p for p in parts if p is not None])
        return local
