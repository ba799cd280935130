"""One training run, start to finish: what ``train.py`` does for each job of a run or sweep.

data -> model -> Trainer.fit -> best checkpoint's validation predictions -> metrics.json. Every output
lands in the run directory atomically; a failure is recorded there before it propagates, so a sweep
lists it and the other jobs go on.
"""

from __future__ import annotations

import logging
import os
import resource
import time
import traceback
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_method, instantiate
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from seti.config import check_config
from seti.inference.engine import auto_precision, predict_probabilities
from seti.models.mixup import build_mixup
from seti.training import ddp
from seti.training.artifacts import (
    METRICS_JSON, SKIPPED_CSV, VAL_PREDICTIONS_CSV, atomic_write_csv, atomic_write_json, atomic_write_text, read_metrics,
)
from seti.training.devices import acquire_gpu, job_share

log = logging.getLogger(__name__)


class ThroughputMeter(Callback):
    """Training samples per second, timed over training batches only (validation excluded)."""

    def __init__(self) -> None:
        self.samples = 0
        self.seconds = 0.0
        self._start: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._start is not None:
            if torch.cuda.is_available() and pl_module.device.type == "cuda":
                torch.cuda.synchronize(pl_module.device)
            self.seconds += time.perf_counter() - self._start
            self.samples += int(batch[0].shape[0]) * trainer.world_size

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds else float("nan")


class ConfigInCheckpoint(Callback):
    """Store the run's resolved config in every checkpoint, so inference rebuilds the same preprocessing."""

    def __init__(self, config: dict) -> None:
        self.config = config

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint["seti_config"] = self.config


def resolve_precision(precision: Any, accelerator: str) -> Any:
    """``auto``: bf16-mixed on a GPU that supports it, 16-mixed on an older GPU, else 32-true."""
    return auto_precision(on_gpu=accelerator != "cpu") if precision == "auto" else precision


def on_cuda(accelerator: str) -> bool:
    """Whether a Trainer with this ``accelerator`` setting trains on a CUDA GPU."""
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def resolve_benchmark(benchmark: Any, accelerator: str) -> bool | None:
    """``trainer.benchmark``: ``auto`` turns cudnn's autotuner on on CUDA (every batch has the same size)."""
    if benchmark == "auto":
        return on_cuda(accelerator)
    if benchmark is None or benchmark is True or benchmark is False:
        return benchmark
    raise ValueError(f"trainer.benchmark must be true, false, auto or null, got {benchmark!r}")


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """``auto`` resumes from this run's last.ckpt when a previous attempt left one."""
    if ckpt_path in (None, "null", ""):
        return None
    if ckpt_path == "auto":
        last = output_dir / "checkpoints" / "last.ckpt"
        return str(last) if last.is_file() else None
    path = Path(ckpt_path)
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path} does not exist; use ckpt_path=auto to resume this run dir, or null")
    return str(path)


def run_name_and_group() -> tuple[str, str | None]:
    """A sweep job is named by its overrides and grouped by its sweep directory."""
    if not HydraConfig.initialized():
        return "run", None
    hc = HydraConfig.get()
    name = hc.job.override_dirname or "default"
    group = Path(hc.sweep.dir).name if ddp.in_multirun() else None
    return name, group


def build_loggers(cfg: DictConfig) -> list:
    name, group = run_name_and_group()
    loggers = []
    for key, spec in (cfg.get("logger") or {}).items():
        if spec is None:
            continue
        if key == "wandb":
            # Built by hand: the resolved config holds _target_ keys that instantiate() would build.
            kwargs = OmegaConf.to_container(spec, resolve=True)
            factory = get_method(kwargs.pop("_target_"))
            loggers.append(factory(
                **kwargs, name=name, group=group,
                tags=[f"model={cfg.model.name}", f"aug={cfg.aug.name}", f"data={cfg.data.source}", f"fold={cfg.data.fold}"],
                run_config=OmegaConf.to_container(cfg, resolve=True),
            ))
        else:
            loggers.append(instantiate(spec))
    return loggers


def build_callbacks(cfg: DictConfig, has_logger: bool) -> list[Callback]:
    callbacks = []
    for key, spec in (cfg.get("callbacks") or {}).items():
        if spec is None:
            continue
        callback = instantiate(spec)
        if isinstance(callback, LearningRateMonitor) and not has_logger:
            continue
        callbacks.append(callback)
    return callbacks


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def is_rank_zero() -> bool:
    return int(os.environ.get("LOCAL_RANK", 0)) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0


def train(cfg: DictConfig) -> dict:
    """Run one job; returns its metrics dict. Raises after recording a failure in metrics.json."""
    output_dir = Path(cfg.paths.output_dir).resolve()
    existing = read_metrics(output_dir)
    if cfg.get("skip_finished", True) and existing and existing.get("status") == "finished":
        log.info("skipping %s: already finished (skip_finished=false to train again)", output_dir)
        return existing
    started = time.time()
    summary: dict[str, Any] = {
        "status": "running", "error": None, "model": cfg.model.get("name"), "aug": cfg.aug.get("name"),
        "data": cfg.data.get("source"), "fold": int(cfg.data.fold), "num_folds": int(cfg.data.num_folds),
        "seed": int(cfg.seed), "experiment": cfg.get("experiment_name"), "run_dir": str(output_dir),
        "overrides": list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else [],
    }
    loggers: list = []
    gpu_lock = None
    try:
        check_config(cfg)
        output_dir.mkdir(parents=True, exist_ok=True)
        L.seed_everything(int(cfg.seed), workers=True)
        trainer_overrides: dict[str, Any] = {}
        share = job_share(cfg)  # launcher=gpus: a slot of a GPU from the lock pool, and a share of the CPUs
        if share is not None:
            gpu_lock = acquire_gpu(share.jobs_per_gpu)
            if gpu_lock is None:
                trainer_overrides.update(accelerator="cpu", devices=1)
            else:
                trainer_overrides.update(accelerator="gpu", devices=[gpu_lock.index])
                log.info("this job runs on GPU %d (slot %d of %d)", gpu_lock.index, gpu_lock.slot, share.jobs_per_gpu)
            OmegaConf.update(cfg, "data.num_workers", share.num_workers)
            summary.update(gpu=None if gpu_lock is None else gpu_lock.index, jobs_per_gpu=share.jobs_per_gpu,
                           parallel_jobs=share.concurrent_jobs, num_workers=share.num_workers)
        accelerator = trainer_overrides.get("accelerator", cfg.trainer.get("accelerator", "auto"))
        benchmark = resolve_benchmark(cfg.trainer.get("benchmark"), accelerator)
        datamodule = instantiate(cfg.data, aug=cfg.aug, _recursive_=False)
        mixup = build_mixup((cfg.get("aug") or {}).get("mixup"))  # the model applies it; data never sees it
        model = instantiate(cfg.model, in_chans=datamodule.in_chans, mixup=mixup, _convert_="partial")
        loggers = build_loggers(cfg)
        callbacks = build_callbacks(cfg, has_logger=bool(loggers))
        meter = ThroughputMeter()
        trainer: L.Trainer = instantiate(
            cfg.trainer, logger=loggers or False, callbacks=[*callbacks, meter, ConfigInCheckpoint(OmegaConf.to_container(cfg, resolve=True))],
            precision=resolve_precision(cfg.trainer.get("precision", "auto"), accelerator), benchmark=benchmark,
            **trainer_overrides,
        )
        trainable = any(p.requires_grad for p in model.parameters())
        ddp.prepare_ddp_relaunch()
        if trainable:
            resume_from = resolve_ckpt_path(cfg.get("ckpt_path"), output_dir)
            earlier_log = _read_csv_log(output_dir) if resume_from else None
            trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from)
        else:
            earlier_log = None
            trainer.validate(model, datamodule=datamodule)
        if not trainer.is_global_zero:
            return summary
        if earlier_log is not None:
            _merge_csv_log(output_dir, earlier_log)
        checkpoint = next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)), None)
        best_path = checkpoint.best_model_path if checkpoint is not None and trainable else ""
        predictions = _validation_predictions(model, datamodule, best_path, trainer)
        atomic_write_csv(output_dir / VAL_PREDICTIONS_CSV, predictions)
        if datamodule.skipped:
            atomic_write_csv(output_dir / SKIPPED_CSV, pd.DataFrame(datamodule.skipped))
        from sklearn.metrics import roc_auc_score

        predictions_auroc = float(roc_auc_score(predictions.target, predictions.pred))
        best_score = checkpoint.best_model_score if trainable and checkpoint is not None else None
        last_logged = trainer.callback_metrics.get("val/auroc")
        summary.update(
            best_val_auroc=float(best_score) if best_score is not None else predictions_auroc,
            last_val_auroc=float(last_logged) if last_logged is not None else predictions_auroc,
            val_auroc_of_predictions=predictions_auroc,
            best_checkpoint=best_path or None, epochs=int(trainer.current_epoch) if trainable else 0,
            train_samples_per_s=meter.samples_per_s, precision=str(trainer.precision),
            peak_memory_mb=peak_memory_mb(model.device), skipped=len(datamodule.skipped),
            num_val=len(predictions), num_train=len(datamodule.train_set) if datamodule.train_set is not None else 0,
        )
        if hasattr(model, "cadences_per_s"):
            summary["cadences_per_s"] = model.cadences_per_s
        if _should_test(cfg, datamodule):
            results = trainer.test(model, datamodule=datamodule, ckpt_path=best_path or None, verbose=False)
            summary["test_auroc"] = float(results[0]["test/auroc"]) if results else None
        summary.update(status="finished", wall_time_s=time.time() - started)
        summary = {k: (None if isinstance(v, float) and v != v else v) for k, v in summary.items()}  # NaN is not JSON
        atomic_write_json(output_dir / METRICS_JSON, summary)
        _log_report_media(loggers, predictions, datamodule)
        log.info("finished: best val AUROC %.4f -> %s", summary["best_val_auroc"], output_dir)
        return summary
    except BaseException as err:
        if is_rank_zero():
            summary.update(status="failed", error=f"{type(err).__name__}: {err}", wall_time_s=time.time() - started)
            output_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(output_dir / METRICS_JSON, summary)
            atomic_write_text(output_dir / "error.txt", traceback.format_exc())
            log.error("run failed (%s); recorded in %s", summary["error"], output_dir / METRICS_JSON)
        _finish_wandb(loggers, exit_code=1)
        loggers = []
        raise
    finally:
        _finish_wandb(loggers, exit_code=0)
        ddp.teardown_ddp()
        if gpu_lock is not None:
            gpu_lock.release()


def _validation_predictions(model, datamodule, best_path: str, trainer: L.Trainer) -> pd.DataFrame:
    """The best checkpoint's probabilities for every validation id, computed without logging anything."""
    if best_path:
        state = torch.load(best_path, map_location="cpu", weights_only=True)["state_dict"]
        model.load_state_dict(state)
    loader = torch.utils.data.DataLoader(
        datamodule.val_set, batch_size=datamodule.eval_batch_size, shuffle=False, num_workers=datamodule.num_workers,
        multiprocessing_context=datamodule.multiprocessing_context,
    )
    device = trainer.strategy.root_device
    if getattr(datamodule, "device_transforms", None) is not None and datamodule.transforms == "device":
        from seti.data.device_transforms import PreprocessThen

        model = PreprocessThen(datamodule.preprocess, model)  # the loader yields raw cadences on this path
    indices, probs = predict_probabilities(model, loader, device=device, precision=str(trainer.precision))
    val = datamodule.val_set
    return pd.DataFrame({"id": [val.ids[i] for i in indices], "target": val.targets[indices], "pred": probs})


CSV_LOG = Path("csv") / "metrics.csv"


def _read_csv_log(output_dir: Path) -> pd.DataFrame | None:
    path = output_dir / CSV_LOG
    return pd.read_csv(path) if path.is_file() else None


def _merge_csv_log(output_dir: Path, earlier: pd.DataFrame) -> None:
    """A resumed run's CSV logger starts a fresh metrics.csv: put the epochs logged before the kill back."""
    path = output_dir / CSV_LOG
    latest = pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=earlier.columns)
    if "epoch" in latest and latest["epoch"].notna().any() and "epoch" in earlier:
        earlier = earlier[earlier["epoch"] < latest["epoch"].min()]
    atomic_write_csv(path, pd.concat([earlier, latest], ignore_index=True))


def _should_test(cfg: DictConfig, datamodule) -> bool:
    choice = cfg.get("test_after_fit", "auto")
    if choice == "auto":
        return (datamodule.root / "test_labels.csv").is_file()
    return bool(choice)


def _log_report_media(loggers: list, predictions: pd.DataFrame, datamodule) -> None:
    """ROC curve and sample input images into W&B (when it is one of the loggers)."""
    from lightning.pytorch.loggers import WandbLogger

    for logger in loggers:
        if not isinstance(logger, WandbLogger):
            continue
        import wandb

        from seti.reports_media import roc_figure, sample_images

        run = logger.experiment
        run.log({"val/roc_curve": wandb.Image(roc_figure(predictions.target.to_numpy(), predictions.pred.to_numpy()))})
        count = getattr(logger, "seti_log_images", 0)
        if count and datamodule.train_set is not None:
            images = [wandb.Image(img, caption=cap) for img, cap in sample_images(datamodule.train_set, count)]
            run.log({"train/samples": images})


def _finish_wandb(loggers: list, exit_code: int) -> None:
    """Close this job's W&B run so the next sweep job starts its own (FIELD_NOTES: W&B in sweeps)."""
    from lightning.pytorch.loggers import WandbLogger

    if any(isinstance(logger, WandbLogger) for logger in loggers):
        import wandb

        if wandb.run is not None:
            wandb.finish(exit_code=exit_code)
