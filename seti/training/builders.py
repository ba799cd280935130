"""Small instantiate helpers: the run's parts built from their ``_target_`` configs.

Each takes the composed config and returns Lightning objects; none trains anything. The pipeline calls
them in order, so ``pipeline.train`` reads as the recipe and these as its ingredients.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_method, instantiate
from lightning.pytorch.callbacks import Callback, LearningRateMonitor
from omegaconf import DictConfig, OmegaConf

from seti.checkpoints import AtomicCheckpointIO
from seti.config import job_dirname, model_arguments
from seti.models.mixup import build_mixup
from seti.rundir import RunMetrics
from seti.runtime import on_cuda, resolve_benchmark, resolve_precision
from seti.training import ddp
from seti.training.devices import GpuSlot, acquire_gpu, job_share
from seti.training.lr_scaling import with_batch_lr
from seti.training.provenance import provenance

log = logging.getLogger(__name__)


def build_data_and_model(cfg: DictConfig) -> tuple[L.LightningDataModule, L.LightningModule]:
    """The datamodule (``data`` + ``aug``) and the model, which takes the data's channel count and applies
    mixup itself (the data never sees it). ``data.batch_size`` must be an integer here (``auto`` is resolved
    by :func:`seti.training.batch_probe.choose_batch` first); the optimizer's lr is scaled to it
    (:mod:`.lr_scaling`) and kept as ``model.lr_used``."""
    datamodule = instantiate(cfg.data, aug=cfg.aug, _recursive_=False)
    mixup = build_mixup((cfg.get("aug") or {}).get("mixup"))
    model_cfg, lr = with_batch_lr(model_arguments(cfg.model), datamodule.batch_size)
    model = instantiate(model_cfg, in_chans=datamodule.in_chans, mixup=mixup, _convert_="partial")
    model.lr_used = lr
    return datamodule, model


def run_name_and_group() -> tuple[str, str | None]:
    """A job is named like its sweep directory (its overrides) and grouped by the sweep directory."""
    if not HydraConfig.initialized():
        return "run", None
    hc = HydraConfig.get()
    exclude = list(hc.job.config.override_dirname.exclude_keys or [])
    name = job_dirname(list(hc.overrides.task), exclude)
    group = Path(hc.sweep.dir).name if ddp.in_multirun() else None
    return name, group


def build_loggers(cfg: DictConfig, used: dict | None = None) -> list:
    """Every logger of the ``logger`` group; W&B's gets the run's name, group, tags and resolved config, plus
    ``used``: what the run trains with where the config says ``auto`` or scales it (batch, lr)."""
    name, group = run_name_and_group()
    loggers = []
    for key, spec in (cfg.get("logger") or {}).items():
        if spec is None:
            continue
        if key != "wandb":
            loggers.append(instantiate(spec))
            continue
        # Built by hand: the resolved config holds _target_ keys that instantiate() would build.
        kwargs = OmegaConf.to_container(spec, resolve=True)
        factory = get_method(kwargs.pop("_target_"))
        tags = [f"model={cfg.model.name}", f"aug={cfg.aug.name}", f"data={cfg.data.source}", f"fold={cfg.data.fold}"]
        run_config = {**OmegaConf.to_container(cfg, resolve=True), **provenance(), "used": dict(used or {})}
        loggers.append(factory(**kwargs, name=name, group=group, tags=tags, run_config=run_config))
    return loggers


def build_callbacks(cfg: DictConfig, has_logger: bool) -> list[Callback]:
    """Every callback of the ``callbacks`` group (null entries dropped; the LR monitor only with a logger)."""
    callbacks = []
    for spec in (cfg.get("callbacks") or {}).values():
        if spec is None:
            continue
        callback = instantiate(spec)
        if isinstance(callback, LearningRateMonitor) and not has_logger:
            continue
        callbacks.append(callback)
    return callbacks


def place_job(cfg: DictConfig, metrics: RunMetrics) -> tuple[dict[str, Any], GpuSlot | None]:
    """``launcher=gpus``: a slot of a GPU from the lock pool (or the CPU when none is free) and this job's
    share of the CPUs as DataLoader workers. Returns the Trainer settings it implies and the held slot;
    nothing to do under other launchers."""
    share = job_share(cfg)
    if share is None:
        return {}, None
    slot = acquire_gpu(share.jobs_per_gpu, OmegaConf.select(cfg, "launcher.lock_dir", default=None))
    if slot is None:
        placement: dict[str, Any] = {"accelerator": "cpu", "devices": 1}
    else:
        placement = {"accelerator": "gpu", "devices": [slot.index]}
        log.info("this job runs on GPU %d (slot %d of %d)", slot.index, slot.slot, share.jobs_per_gpu)
    OmegaConf.update(cfg, "data.num_workers", share.num_workers)
    metrics.gpu = None if slot is None else slot.index
    metrics.jobs_per_gpu, metrics.parallel_jobs, metrics.num_workers = (
        share.jobs_per_gpu,
        share.concurrent_jobs,
        share.num_workers,
    )
    return placement, slot


def build_trainer(cfg: DictConfig, loggers: list, callbacks: list[Callback], placement: dict[str, Any]) -> L.Trainer:
    """The Trainer of ``cfg.trainer`` with ``auto`` precision and cudnn benchmark resolved for where it runs,
    atomic checkpoint writes, and the job's placement (``launcher=gpus``) on top."""
    accelerator = placement.get("accelerator", cfg.trainer.get("accelerator", "auto"))
    return instantiate(
        cfg.trainer,
        logger=loggers or False,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        precision=resolve_precision(cfg.trainer.get("precision", "auto"), on_cuda(accelerator)),
        benchmark=resolve_benchmark(cfg.trainer.get("benchmark"), accelerator),
        **placement,
    )
