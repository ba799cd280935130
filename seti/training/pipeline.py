"""One training run, start to finish: what ``train.py`` does for each job of a run or sweep.

Read :func:`train` top to bottom: config checked, data and model built, Trainer.fit, the best checkpoint's
validation predictions, the test stage, metrics.json. Its parts are built by :mod:`.builders`, scored by
:mod:`.evaluation`, and recorded by :mod:`.record`, which also writes a failure or an interruption to the
run directory before it propagates, so a sweep lists it and its other jobs go on.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from seti.atomic import atomic_write_csv
from seti.checkpoints import load_checkpoint_file
from seti.config import check_config
from seti.metrics import auroc_or_nan
from seti.rundir import VAL_PREDICTIONS_CSV, RunMetrics, checkpoint_path, read_metrics
from seti.runtime import on_cuda
from seti.training import ddp
from seti.training.batch_probe import choose_batch
from seti.training.builders import build_callbacks, build_data_and_model, build_loggers, build_trainer, place_job
from seti.training.callbacks import ConfigInCheckpoint, ThroughputMeter
from seti.training.evaluation import (
    best_checkpoint_callback,
    peak_memory_mb,
    should_test,
    validation_predictions,
    write_skipped,
)
from seti.training.history import merge_csv_logs, set_aside_csv_log
from seti.training.identity import (
    ON_CONFIG_CHANGE,
    config_hash,
    differences,
    identity_or_none,
    read_stored,
    refusal,
    restore_hydra,
    store,
)
from seti.training.loggers import log_report_media
from seti.training.provenance import provenance
from seti.training.record import RunRecord, recorded_run
from seti.training.runlock import RunDirBusy, RunDirLock
from seti.training.watchdog import watch_launcher

__all__ = ["train", "describe", "resolve_ckpt_path"]

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict:
    """Run one job; returns its metrics.json as a dict. A failure is recorded in metrics.json, then raised.

    The job first takes the run directory's lock (one process per run, :mod:`.runlock`) and matches the run
    already there by its config (:mod:`.identity`): a finished one with the same config is skipped, one made
    with another config is refused. SIGTERM/SIGINT are recorded as ``interrupted`` and end the process with
    128 + signal; the printed command (with this run's ``hydra.run.dir``) resumes from checkpoints/last.ckpt.
    """
    output_dir = Path(cfg.paths.output_dir).resolve()
    if not ddp.is_rank_zero():  # DDP ranks > 0: rank 0 owns and checked the directory
        return _run(cfg, output_dir, None)
    with watch_launcher():  # launcher=gpus: this worker dies with the sweep that started it
        return _owned_run(cfg, output_dir)


def _owned_run(cfg: DictConfig, output_dir: Path) -> dict:
    lock = RunDirLock(output_dir)
    try:
        lock.acquire()
    except RunDirBusy:
        restore_hydra(output_dir)
        raise
    try:
        existing = read_metrics(output_dir)
        flat = identity_or_none(cfg)
        changes = _config_changes(cfg, output_dir, existing, flat)
        if cfg.get("skip_finished", True) and existing is not None and existing.finished:
            restore_hydra(output_dir)
            log.info("skipping %s: already finished with this config (skip_finished=false to train again)", output_dir)
            return existing.to_dict()
        return _run(cfg, output_dir, (flat, changes))
    finally:
        lock.release()


def _config_changes(cfg: DictConfig, output_dir: Path, existing: RunMetrics | None, flat: dict | None) -> list[str]:
    """Keys that differ from the config of the finished or resumable run in ``output_dir`` ([] when it is
    fresh or the same); refused unless ``on_config_change=force``."""
    policy = cfg.get("on_config_change", "refuse")
    if policy not in ON_CONFIG_CHANGE:
        raise ValueError(f"on_config_change must be one of {list(ON_CONFIG_CHANGE)}, got {policy!r}")
    finished = existing is not None and existing.finished
    resumable = cfg.get("ckpt_path") == "auto" and checkpoint_path(output_dir, "last").is_file()
    stored = read_stored(output_dir) if (finished or resumable) and flat is not None else None
    changes = differences(stored, flat) if stored is not None else []
    if changes and policy != "force":
        restore_hydra(output_dir)
        raise refusal(output_dir, changes, "finished" if finished else "resumable")
    if changes:
        log.warning("on_config_change=force: continuing %s with a changed config: %s", output_dir, "; ".join(changes))
    return changes


def _run(cfg: DictConfig, output_dir: Path, identity_and_changes: tuple | None) -> dict:
    record = RunRecord(output_dir, describe(cfg, output_dir))
    with recorded_run(record) as resources:
        if identity_and_changes is not None and identity_and_changes[0] is not None:
            flat, changes = identity_and_changes
            record.metrics.config_hash, record.metrics.config_changes = config_hash(flat), changes
            stored = read_stored(output_dir)
            if stored is None or changes or stored != flat:  # fresh start, forced change, or an older run
                output_dir.mkdir(parents=True, exist_ok=True)
                store(output_dir, flat, record.metrics.config_hash)
        _train(cfg, record, resources)
    return record.metrics.to_dict()


def _train(cfg: DictConfig, record: RunRecord, resources) -> None:
    output_dir, metrics = record.output_dir, record.metrics
    check_config(cfg)
    metrics.fold, metrics.num_folds, metrics.seed = int(cfg.data.fold), int(cfg.data.num_folds), int(cfg.seed)
    output_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(int(cfg.seed), workers=True)
    placement, slot = place_job(cfg, metrics)  # launcher=gpus: a GPU slot and a share of the CPUs
    if slot is not None:
        resources.callback(slot.release)
    batch = choose_batch(cfg, *_batch_device(cfg, placement), jobs_per_gpu=metrics.jobs_per_gpu or 1)
    if batch.source != "config":  # data.batch_size=auto: the run (its checkpoints, W&B) records the batch used
        OmegaConf.update(cfg, "data.batch_size", batch.batch)
        if batch.eval_batch is not None:
            OmegaConf.update(cfg, "data.eval_batch_size", batch.eval_batch)
    datamodule, model = build_data_and_model(cfg)
    metrics.batch_size, metrics.batch_source, metrics.lr = batch.batch, batch.source, getattr(model, "lr_used", None)
    trainable = any(p.requires_grad for p in model.parameters())

    # Everything that can be refused is refused before the first step: a checkpoint to resume from,
    # the data (generated if synthetic, headers checked) and, when a test stage will run, the test files.
    resume_from = resolve_ckpt_path(cfg.get("ckpt_path"), output_dir) if trainable else None
    if ddp.is_rank_zero():
        datamodule.prepare_data()
    will_test = should_test(cfg, datamodule)
    if will_test:
        datamodule.setup("test")

    record.loggers = build_loggers(cfg, {"batch_size": batch.batch, "batch_source": batch.source, "lr": metrics.lr})
    meter = ThroughputMeter()
    extra_callbacks = [meter, ConfigInCheckpoint(OmegaConf.to_container(cfg, resolve=True))]
    if trainable and ddp.is_rank_zero():
        record.start_clock(resumed=resume_from is not None)
        extra_callbacks.append(record.clock)
        set_aside_csv_log(output_dir)
    callbacks = [*build_callbacks(cfg, has_logger=bool(record.loggers)), *extra_callbacks]
    trainer = build_trainer(cfg, record.loggers, callbacks, placement)

    ddp.prepare_ddp_relaunch()
    if trainable:
        trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
    else:
        trainer.validate(model, datamodule=datamodule)
        # A model with nothing to train (the dedoppler baseline) still leaves checkpoints/best.ckpt with its
        # config, so predict.py takes it like any other run.
        trainer.save_checkpoint(checkpoint_path(output_dir, "best"), weights_only=False)
    if not trainer.is_global_zero:
        return
    if trainable:
        merge_csv_logs(output_dir)

    # The best checkpoint's validation predictions: the run's result, and what the report compares.
    checkpoint = best_checkpoint_callback(trainer) if trainable else None
    best_path = checkpoint.best_model_path if checkpoint is not None else ""
    predictions = validation_predictions(model, datamodule, best_path, trainer)
    atomic_write_csv(output_dir / VAL_PREDICTIONS_CSV, predictions, fsync=True)
    predictions_auroc = auroc_or_nan(predictions.target, predictions.pred)
    best_score = checkpoint.best_model_score if checkpoint is not None else None
    last_logged = trainer.callback_metrics.get("val/auroc")
    metrics.best_val_auroc = float(best_score) if best_score is not None else predictions_auroc
    metrics.last_val_auroc = float(last_logged) if last_logged is not None else predictions_auroc
    metrics.val_auroc_of_predictions = predictions_auroc
    metrics.best_checkpoint = best_path or (str(checkpoint_path(output_dir, "best")) if not trainable else None)
    metrics.epochs = int(trainer.current_epoch) if trainable else 0
    metrics.train_samples_per_s = meter.samples_per_s
    metrics.precision = str(trainer.precision)
    metrics.peak_memory_mb = peak_memory_mb(model.device)
    metrics.eval_batch_size = datamodule.eval_batch_size
    metrics.num_val = len(predictions)
    metrics.num_train = len(datamodule.train_set) if datamodule.train_set is not None else 0
    metrics.cadences_per_s = getattr(model, "cadences_per_s", None)

    # Training is done and recorded: what follows can only add warnings, never fail the run.
    if will_test:
        try:
            results = trainer.test(
                model, datamodule=datamodule, ckpt_path=best_path or None, verbose=False, weights_only=True
            )
            metrics.test_auroc = float(results[0]["test/auroc"]) if results else None
        except Exception as err:  # noqa: BLE001 - recorded, the trained model stands
            record.warn("test stage", err)
    metrics.skipped = write_skipped(output_dir, datamodule)
    record.finish("finished")
    try:
        log_report_media(record.loggers, predictions, datamodule)
    except Exception as err:  # noqa: BLE001
        record.warn("W&B media (ROC curve, sample images)", err)
        record.write()
    log.info("finished: best val AUROC %.4f -> %s", metrics.best_val_auroc, output_dir)


def _batch_device(cfg: DictConfig, placement: dict) -> tuple[bool, int]:
    """(trains on CUDA, the CUDA device index) for :func:`choose_batch`: this rank's (DDP; LOCAL_RANK) entry of
    the device list (the job's GPU under launcher=gpus, or ``trainer.devices=[i, ...]``), else that rank's GPU."""
    cuda = on_cuda(str(placement.get("accelerator", cfg.trainer.get("accelerator", "auto"))))
    rank = int(os.environ.get("LOCAL_RANK", 0))
    devices = placement.get("devices", cfg.trainer.get("devices"))
    devices = OmegaConf.to_container(devices) if OmegaConf.is_list(devices) else devices
    if isinstance(devices, list) and devices:
        return cuda, int(devices[rank] if rank < len(devices) else devices[0])
    return cuda, rank


def describe(cfg: DictConfig, output_dir: Path) -> RunMetrics:
    """The record of what runs, before anything can fail (read from the config as given)."""
    size = OmegaConf.select(cfg, "data.image_size", default=None)
    return RunMetrics(
        model=OmegaConf.select(cfg, "model.name", default=None),
        aug=OmegaConf.select(cfg, "aug.name", default=None),
        data=OmegaConf.select(cfg, "data.source", default=None),
        fold=OmegaConf.select(cfg, "data.fold", default=None),
        num_folds=OmegaConf.select(cfg, "data.num_folds", default=None),
        seed=cfg.get("seed"),
        experiment=cfg.get("experiment_name"),
        image_size=list(size) if OmegaConf.is_list(size) else size,
        max_epochs=OmegaConf.select(cfg, "trainer.max_epochs", default=None),
        run_dir=str(output_dir),
        overrides=list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else [],
        **provenance(),
    )


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """``auto`` resumes from this run's last.ckpt when a previous attempt left one.

    The file is read once here (``weights_only=True``), so a truncated or planted checkpoint is refused
    before any training with a message naming it and the way out, not deep inside Lightning.
    """
    if ckpt_path in (None, "null", ""):
        return None
    if ckpt_path == "auto":
        last = checkpoint_path(output_dir, "last")
        if not last.is_file():
            return None
        path = last
    else:
        path = Path(ckpt_path)
        if not path.is_file():
            raise FileNotFoundError(
                f"ckpt_path={ckpt_path} does not exist; use ckpt_path=auto to resume this run dir, or null"
            )
    load_checkpoint_file(path, purpose="resume")
    return str(path)
