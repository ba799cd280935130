"""``CadenceClassifier``: a timm backbone with one logit, trained with BCE (or focal) and mixup.

Validation and test AUROC come from torchmetrics on sigmoid probabilities; the best validation AUROC is
tracked as its own metric. The run's per-id validation predictions are computed after fit by the pipeline.

Launch overhead (a small EfficientNet step at batch 16 is bound by kernel launches on a big GPU):
``channels_last`` (NHWC) and ``compile`` (``torch.compile`` of the backbone) take ``auto``, resolved in
:meth:`setup` from the device the trainer runs on: channels_last on CUDA, off on CPU; compile likewise.

Compiled shapes are static (``dynamic=False``: inductor's fastest kernels, no symbolic sizes). Training
batches already have one shape (the train loader drops its last partial batch), and an evaluation batch
smaller than the largest seen (the last one of a validation or test set) is padded to that size in
:meth:`forward` and the pad rows dropped: in eval mode every row is scored independently, so a smaller
last batch costs one padded forward pass instead of a recompile.

Hybrid (``model.hybrid``): the classical drift search (:class:`seti.models.drift_search.DriftSearch`) runs
on the full-resolution input and a linear head adds its scores to the CNN's logit; the CNN sees the input
area-resized per panel to ``hybrid.cnn_size``. The search needs fine time and frequency resolution (a needle
is a few channels wide), the CNN does not, so each gets the resolution it needs from one image.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics import MaxMetric
from torchmetrics.classification import BinaryAUROC
from torchvision.ops import sigmoid_focal_loss

from seti.models.backbone import create_backbone
from seti.models.drift_search import DriftSearch
from seti.models.hybrid import FeatureCache, check_cnn_size, panel_resize
from seti.models.mixup import Mixup, build_mixup
from seti.models.scoring import pad_rows
from seti.runtime import check_switch, resolve_switch

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
        mixup: Mixup | dict | None = None,
        channels_last: bool | str = "auto",
        compile: bool | str = False,
        name: str | None = None,
        hybrid: dict | None = None,
    ) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"model.loss must be one of {list(LOSSES)}, got {loss!r}")
        self.channels_last_setting = check_switch(channels_last, "model.channels_last")
        self.compile_setting = check_switch(compile, "model.compile")
        self.mixup = build_mixup(mixup)
        settings = self.mixup.settings() if hasattr(self.mixup, "settings") else {"repr": repr(self.mixup)}
        # Plain values only: checkpoints must load with torch.load(weights_only=True).
        self.save_hyperparameters(
            {
                "backbone": dict(backbone),
                "in_chans": int(in_chans),
                "loss": loss,
                "focal_gamma": float(focal_gamma),
                "mixup": settings,
                "channels_last": channels_last,
                "compile": compile,
                "name": name,
                "hybrid": dict(hybrid) if hybrid else None,
            }
        )
        self.drift, self.head, self.cnn_size, use_cnn = None, None, None, True
        if hybrid:
            settings = dict(hybrid)
            self.cnn_size = check_cnn_size(settings.pop("cnn_size", None))
            use_cnn = bool(settings.pop("cnn", True))
            self.drift = DriftSearch(**settings)
            self.head = torch.nn.Linear(self.drift.num_features, 1)
            with torch.no_grad():  # start from the classical score itself: the CNN then learns what it misses
                self.head.weight.zero_()
                self.head.weight[0, 0] = 1.0
                self.head.bias.zero_()
            self.features = FeatureCache()
        # the ablation model.hybrid.cnn=false builds no CNN (unused parameters would break DDP)
        self.net = create_backbone(in_chans=in_chans, **backbone) if use_cnn else None
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.loss_name, self.focal_gamma = loss, float(focal_gamma)
        self.channels_last = False
        self.compiled = False
        self.eval_batch = 0  # the largest evaluation batch seen: smaller ones are padded to it when compiled
        if channels_last is True or compile is True:
            self.apply_launch_settings(torch.device("cpu"))  # explicit settings hold without a trainer too
        self.val_auroc = BinaryAUROC()
        self.val_auroc_best = MaxMetric()
        self.test_auroc = BinaryAUROC()

    # ---- launch settings ------------------------------------------------------------------------
    def apply_launch_settings(self, device: torch.device) -> None:
        """Resolve ``auto`` for ``device`` (on on CUDA) and apply channels_last / torch.compile once.

        ``compile`` wraps the backbone's call in place (``nn.Module.compile``), so state_dict keys and
        checkpoints are unchanged (no ``_orig_mod.`` prefix: a compiled run's checkpoint loads strictly into
        an uncompiled model, and the other way round). Called by :meth:`setup`; inference code may call it
        with its device.
        """
        if self.net is None:
            return
        cuda = torch.device(device).type == "cuda"
        want_nhwc = resolve_switch(self.channels_last_setting, cuda)
        if want_nhwc and not self.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
            self.channels_last = True
        want_compile = resolve_switch(self.compile_setting, cuda)
        if want_compile and not self.compiled:
            self.net.compile(dynamic=False)
            self.compiled = True

    def setup(self, stage: str) -> None:
        if self._trainer is not None:
            self.apply_launch_settings(self.trainer.strategy.root_device)

    # ---- forward / loss -------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drift is None:
            return self.cnn_logits(x)
        search = self.head(self.features(x, self.drift).to(self.head.weight.dtype)).squeeze(1)
        if self.net is None:
            return search
        return search + self.cnn_logits(x if self.cnn_size is None else panel_resize(x, self.cnn_size))

    def cnn_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's one logit per row (padded for a compiled evaluation, channels last if set)."""
        n = x.shape[0]
        if self.compiled and not self.training:
            x = self.pad_eval_batch(x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x).squeeze(1)[:n]

    def pad_eval_batch(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` padded with copies of its last row to the largest evaluation batch seen, so the compiled
        backbone sees one evaluation shape (the caller drops the pad rows)."""
        self.eval_batch = max(self.eval_batch, x.shape[0])
        return pad_rows(x, self.eval_batch)

    def loss_fn(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.loss_name == "focal":
            return sigmoid_focal_loss(logits, target, gamma=self.focal_gamma, reduction="mean")
        return F.binary_cross_entropy_with_logits(logits, target)

    # ---- steps ----------------------------------------------------------------------------------
    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y, _ = batch
        max_epochs = self.trainer.max_epochs if self._trainer is not None else None
        x, y = self.mixup(x, y, epoch=self.current_epoch, max_epochs=max_epochs)
        loss = self.loss_fn(self(x), y)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=x.shape[0])
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y, _ = batch
        logits = self(x)
        probs = torch.sigmoid(logits.float()).detach()
        self.log("val/loss", self.loss_fn(logits, y), on_epoch=True, sync_dist=True, batch_size=x.shape[0])
        self.val_auroc.update(probs, y.long())

    def on_validation_epoch_end(self) -> None:
        auroc = self.val_auroc.compute()
        self.log("val/auroc", auroc, prog_bar=True)
        self.val_auroc.reset()
        if not self.trainer.sanity_checking:
            self.val_auroc_best.update(auroc)
            self.log("val/auroc_best", self.val_auroc_best.compute(), prog_bar=True)

    def test_step(self, batch, batch_idx: int) -> None:
        x, y, _ = batch
        probs = torch.sigmoid(self(x).float()).detach()
        self.test_auroc.update(probs, y.long())
        self.log("test/auroc", self.test_auroc, on_epoch=True)

    # ---- optimisation ---------------------------------------------------------------------------
    def configure_optimizers(self):
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer, total_steps=int(self.trainer.estimated_stepping_batches))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
