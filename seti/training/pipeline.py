"""One training run, start to finish: what ``train.py`` does for each job of a run or sweep.

data -> model -> Trainer.fit -> best checkpoint's validation predictions -> metrics.json. Every output
lands in the run directory atomically; a failure is recorded there before it propagates, so a sweep
lists it and the other jobs go on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import shutil
import signal
import threading
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
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from seti.atomic import atomic_write_csv, atomic_write_json, atomic_write_text
from seti.checkpoints import AtomicCheckpointIO, load_checkpoint_file
from seti.config import check_config, job_dirname
from seti.data.layout import TEST_LABELS_CSV
from seti.inference.engine import predict_probabilities
from seti.metrics import auroc_or_nan
from seti.models.mixup import build_mixup
from seti.rundir import METRICS_JSON, SKIPPED_CSV, VAL_PREDICTIONS_CSV, checkpoint_path, read_metrics
from seti.runtime import on_cuda, resolve_benchmark, resolve_precision
from seti.training import ddp
from seti.training.devices import acquire_gpu, job_share

log = logging.getLogger(__name__)


class ThroughputMeter(Callback):
    """Training samples per second by wall clock, validation excluded.

    The clock runs from each epoch's first training batch (DataLoader start-up excluded) to the epoch's
    end or the next validation, so it includes what a user waits for: loading, the host-to-device copy
    and the device-side transforms (``on_after_batch_transfer``), not only the optimiser step. The GPU is
    synchronised only when the clock stops, never per step.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget what was measured so far (benchmarks call it after their warm-up steps)."""
        self.samples, self.seconds, self._since = 0, 0.0, None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._since is None:
            self._since = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.samples += int(batch[0].shape[0]) * trainer.world_size

    def on_validation_start(self, trainer, pl_module) -> None:
        self._stop(pl_module)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._stop(pl_module)

    def _stop(self, pl_module) -> None:
        if self._since is None:
            return
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        self.seconds += time.perf_counter() - self._since
        self._since = None

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds else float("nan")


class ConfigInCheckpoint(Callback):
    """Store the run's resolved config in every checkpoint, so inference rebuilds the same preprocessing."""

    def __init__(self, config: dict) -> None:
        self.config = config

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint["seti_config"] = self.config


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """``auto`` resumes from this run's last.ckpt when a previous attempt left one.

    The file is read once here (``weights_only=True``), so a truncated or planted checkpoint is refused
    before any training with a message naming it and the way out, not deep inside Lightning.
    """
    if ckpt_path in (None, "null", ""):
        return None
    if ckpt_path == "auto":
        last = output_dir / "checkpoints" / "last.ckpt"
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


def run_name_and_group() -> tuple[str, str | None]:
    """A job is named like its sweep directory (its overrides) and grouped by the sweep directory."""
    if not HydraConfig.initialized():
        return "run", None
    hc = HydraConfig.get()
    exclude = list(hc.job.config.override_dirname.exclude_keys or [])
    name = job_dirname(list(hc.overrides.task), exclude)
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
            loggers.append(
                factory(
                    **kwargs,
                    name=name,
                    group=group,
                    tags=[
                        f"model={cfg.model.name}",
                        f"aug={cfg.aug.name}",
                        f"data={cfg.data.source}",
                        f"fold={cfg.data.fold}",
                    ],
                    run_config=OmegaConf.to_container(cfg, resolve=True),
                )
            )
        else:
            loggers.append(instantiate(spec))
    return loggers


def build_callbacks(cfg: DictConfig, has_logger: bool) -> list[Callback]:
    callbacks = []
    for spec in (cfg.get("callbacks") or {}).values():
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


class Interrupted(BaseException):
    """SIGTERM or SIGINT arrived: unwinds the run (not an ``Exception``, so nothing swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


@contextlib.contextmanager
def signals_interrupt():
    """While a run is in progress, SIGTERM/SIGINT raise :class:`Interrupted` in the main thread.

    So a scheduler's SIGTERM (SLURM preemption, ``timeout``) ends the run at once, recorded as
    ``interrupted`` and resumable, and the process exits non-zero (128 + signal) instead of Lightning's
    status 0. Yields a dict whose ``signum`` is set once a signal arrived. Outside the main thread
    (a launcher's worker thread) it changes nothing.
    """
    state: dict[str, int | None] = {"signum": None}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return
    owner = os.getpid()

    def handler(signum, frame):
        if os.getpid() != owner:  # a forked DataLoader worker that inherited this handler
            os._exit(128 + signum)
        if state["signum"] is None:
            state["signum"] = signum
            raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield state
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def train(cfg: DictConfig) -> dict:
    """Run one job; returns its metrics dict. Raises after recording a failure in metrics.json.

    SIGTERM/SIGINT are recorded as ``interrupted`` and end the process with 128 + signal; the run
    resumes from checkpoints/last.ckpt when the same command runs again.
    """
    output_dir = Path(cfg.paths.output_dir).resolve()
    existing = read_metrics(output_dir)
    if cfg.get("skip_finished", True) and existing and existing.finished:
        log.info("skipping %s: already finished (skip_finished=false to train again)", output_dir)
        return existing.to_dict()
    with signals_interrupt() as received:
        return _train(cfg, output_dir, received)


def _train(cfg: DictConfig, output_dir: Path, received: dict) -> dict:
    started = time.time()
    summary: dict[str, Any] = {
        "status": "running",
        "error": None,
        "model": cfg.model.get("name"),
        "aug": cfg.aug.get("name"),
        "data": cfg.data.get("source"),
        "fold": cfg.data.get("fold"),
        "num_folds": cfg.data.get("num_folds"),
        "seed": cfg.get("seed"),
        "experiment": cfg.get("experiment_name"),
        "run_dir": str(output_dir),
        "overrides": list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else [],
        "warnings": [],
    }
    loggers: list = []
    gpu_lock = None
    clock: AttemptClock | None = None
    try:
        check_config(cfg)
        summary.update(fold=int(cfg.data.fold), num_folds=int(cfg.data.num_folds), seed=int(cfg.seed))
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
            summary.update(
                gpu=None if gpu_lock is None else gpu_lock.index,
                jobs_per_gpu=share.jobs_per_gpu,
                parallel_jobs=share.concurrent_jobs,
                num_workers=share.num_workers,
            )
        accelerator = trainer_overrides.get("accelerator", cfg.trainer.get("accelerator", "auto"))
        benchmark = resolve_benchmark(cfg.trainer.get("benchmark"), accelerator)
        datamodule = instantiate(cfg.data, aug=cfg.aug, _recursive_=False)
        mixup = build_mixup((cfg.get("aug") or {}).get("mixup"))  # the model applies it; data never sees it
        model = instantiate(cfg.model, in_chans=datamodule.in_chans, mixup=mixup, _convert_="partial")
        trainable = any(p.requires_grad for p in model.parameters())
        # Everything that can be refused is refused before the first step: a checkpoint to resume from,
        # the data (generated if synthetic, headers checked) and, when a test stage will run, the test files.
        resume_from = resolve_ckpt_path(cfg.get("ckpt_path"), output_dir) if trainable else None
        if is_rank_zero():
            datamodule.prepare_data()
        will_test = _should_test(cfg, datamodule)
        if will_test:
            datamodule.setup("test")
        loggers = build_loggers(cfg)
        callbacks = build_callbacks(cfg, has_logger=bool(loggers))
        meter = ThroughputMeter()
        if trainable and is_rank_zero():
            clock = AttemptClock(output_dir, resumed=resume_from is not None, started=started)
            set_aside_csv_log(output_dir)
        trainer: L.Trainer = instantiate(
            cfg.trainer,
            logger=loggers or False,
            callbacks=[
                *callbacks,
                meter,
                ConfigInCheckpoint(OmegaConf.to_container(cfg, resolve=True)),
                *([clock] if clock else []),
            ],
            plugins=[AtomicCheckpointIO()],
            precision=resolve_precision(cfg.trainer.get("precision", "auto"), on_cuda(accelerator)),
            benchmark=benchmark,
            **trainer_overrides,
        )
        ddp.prepare_ddp_relaunch()
        if trainable:
            trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
        else:
            trainer.validate(model, datamodule=datamodule)
            # A model with nothing to train (the dedoppler baseline) still leaves checkpoints/best.ckpt with its
            # config, so predict.py takes it like any other run.
            trainer.save_checkpoint(checkpoint_path(output_dir, "best"), weights_only=False)
        if not trainer.is_global_zero:
            return summary
        if trainable:
            merge_csv_logs(output_dir)
        checkpoint = best_checkpoint_callback(trainer) if trainable else None
        best_path = checkpoint.best_model_path if checkpoint is not None else ""
        saved = best_path or (str(checkpoint_path(output_dir, "best")) if not trainable else "")
        predictions = _validation_predictions(model, datamodule, best_path, trainer)
        atomic_write_csv(output_dir / VAL_PREDICTIONS_CSV, predictions, fsync=True)
        predictions_auroc = auroc_or_nan(predictions.target, predictions.pred)
        best_score = checkpoint.best_model_score if checkpoint is not None else None
        last_logged = trainer.callback_metrics.get("val/auroc")
        summary.update(
            best_val_auroc=float(best_score) if best_score is not None else predictions_auroc,
            last_val_auroc=float(last_logged) if last_logged is not None else predictions_auroc,
            val_auroc_of_predictions=predictions_auroc,
            best_checkpoint=saved or None,
            epochs=int(trainer.current_epoch) if trainable else 0,
            train_samples_per_s=meter.samples_per_s,
            precision=str(trainer.precision),
            peak_memory_mb=peak_memory_mb(model.device),
            num_val=len(predictions),
            num_train=len(datamodule.train_set) if datamodule.train_set is not None else 0,
        )
        if hasattr(model, "cadences_per_s"):
            summary["cadences_per_s"] = model.cadences_per_s
        # Training is done and recorded: what follows can only add warnings, never fail the run.
        if will_test:
            try:
                results = trainer.test(
                    model, datamodule=datamodule, ckpt_path=best_path or None, verbose=False, weights_only=True
                )
                summary["test_auroc"] = float(results[0]["test/auroc"]) if results else None
            except Exception as err:  # noqa: BLE001 - recorded, the trained model stands
                _warn(summary, "test stage", err)
        _write_skipped(output_dir, datamodule, summary)
        _finish_summary(summary, "finished", clock, started)
        atomic_write_json(output_dir / METRICS_JSON, summary, fsync=True)
        try:
            _log_report_media(loggers, predictions, datamodule)
        except Exception as err:  # noqa: BLE001
            _warn(summary, "W&B media (ROC curve, sample images)", err)
            atomic_write_json(output_dir / METRICS_JSON, summary, fsync=True)
        log.info("finished: best val AUROC %.4f -> %s", summary["best_val_auroc"], output_dir)
        return summary
    except BaseException as err:
        signum = received.get("signum") or (signal.SIGTERM if isinstance(err, SIGTERMException) else None)
        if signum is None and isinstance(err, KeyboardInterrupt):
            signum = signal.SIGINT
        if is_rank_zero():
            if signum is not None:
                summary.update(
                    status="interrupted",
                    error=(
                        f"interrupted by {signal.Signals(signum).name}; run the same command again to resume from "
                        "checkpoints/last.ckpt (ckpt_path=auto)"
                    ),
                )
            else:
                summary.update(status="failed", error=f"{type(err).__name__}: {err}")
            _finish_summary(summary, summary["status"], clock, started)
            output_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(output_dir / METRICS_JSON, summary, fsync=True)
            atomic_write_text(output_dir / "error.txt", traceback.format_exc(), fsync=True)
            log.error("run %s (%s); recorded in %s", summary["status"], summary["error"], output_dir / METRICS_JSON)
        _finish_wandb(loggers, exit_code=1)
        loggers = []
        if signum is not None:
            raise SystemExit(128 + int(signum)) from err
        raise
    finally:
        _finish_wandb(loggers, exit_code=0)
        ddp.teardown_ddp()
        if gpu_lock is not None:
            gpu_lock.release()


def _warn(summary: dict, step: str, err: BaseException) -> None:
    message = f"{step} failed after training finished: {type(err).__name__}: {err}"
    summary["warnings"].append(message)
    log.warning("%s (the run stays finished)", message)


def _finish_summary(summary: dict, status: str, clock: AttemptClock | None, started: float) -> None:
    """Status, wall time of this attempt and of all attempts, NaN -> null (JSON has no NaN)."""
    if clock is not None:
        clock.stop(status)
        attempts = clock.wall_times()
    else:
        attempts = [time.time() - started]
    summary.update(
        status=status,
        attempts=len(attempts),
        resumed=len(attempts) > 1,
        wall_time_s=float(sum(attempts)),
        wall_time_s_attempts=[float(t) for t in attempts],
    )
    for key, value in list(summary.items()):
        if isinstance(value, float) and value != value:
            summary[key] = None


def _write_skipped(output_dir: Path, datamodule, summary: dict) -> None:
    """Every cadence left out, whether refused up front or failing in a DataLoader worker: skipped_ids.csv."""
    rows = list(getattr(datamodule, "skipped", []))
    for name in ("train_set", "val_set", "test_set"):
        dataset = getattr(datamodule, name, None)
        if dataset is not None and hasattr(dataset, "failures"):
            rows += dataset.failures()
            if getattr(dataset, "skip_log", None) is not None:  # read: the temp folder has done its job
                shutil.rmtree(dataset.skip_log, ignore_errors=True)
    unique = list({(row["id"], row.get("split")): row for row in rows}.values())
    summary["skipped"] = len({row["id"] for row in unique})
    if unique:
        atomic_write_csv(output_dir / SKIPPED_CSV, pd.DataFrame(unique), fsync=True)


def best_checkpoint_callback(trainer: L.Trainer) -> ModelCheckpoint | None:
    """The ModelCheckpoint that tracks the best val AUROC (the one with a monitor; last.ckpt's has none)."""
    monitored = [c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint) and c.monitor]
    return monitored[0] if monitored else None


def _validation_predictions(model, datamodule, best_path: str, trainer: L.Trainer) -> pd.DataFrame:
    """The best checkpoint's probabilities for every validation id, computed without logging anything."""
    if best_path:
        model.load_state_dict(load_checkpoint_file(best_path)["state_dict"])
    loader = torch.utils.data.DataLoader(
        datamodule.val_set,
        batch_size=datamodule.eval_batch_size,
        shuffle=False,
        num_workers=datamodule.num_workers,
        multiprocessing_context=datamodule.multiprocessing_context,
        collate_fn=datamodule.val_set.collate,
    )
    device = trainer.strategy.root_device
    if datamodule.transforms == "device":
        from seti.data.device_transforms import PreprocessThen

        model = PreprocessThen(datamodule.preprocess, model)  # the loader yields raw cadences on this path
    indices, probs = predict_probabilities(model, loader, device=device, precision=str(trainer.precision))
    val = datamodule.val_set
    return pd.DataFrame({"id": [val.ids[i] for i in indices], "target": val.targets[indices], "pred": probs})


CSV_LOG = Path("csv") / "metrics.csv"
#: where earlier attempts' CSV logs wait until the run finishes: Lightning's CSVLogger starts a fresh
#: metrics.csv in every process, so each attempt's file is moved here before fit (on disk, not in memory:
#: any number of kill -9 and re-runs keeps all of them) and merged back after.
CSV_ATTEMPTS = Path("csv") / "attempts"


def set_aside_csv_log(output_dir: Path) -> None:
    """Move an earlier attempt's csv/metrics.csv to csv/attempts/metrics-<n>.csv (an atomic rename)."""
    current = output_dir / CSV_LOG
    if not current.is_file():
        return
    folder = output_dir / CSV_ATTEMPTS
    folder.mkdir(parents=True, exist_ok=True)
    numbers = [int(p.stem.split("-")[-1]) for p in folder.glob("metrics-*.csv") if p.stem.split("-")[-1].isdigit()]
    os.replace(current, folder / f"metrics-{max(numbers, default=0) + 1}.csv")


def merge_csv_logs(output_dir: Path) -> None:
    """csv/metrics.csv = every attempt's rows, oldest first; an attempt that resumed at epoch e replaces
    the earlier rows of epochs >= e (those epochs were trained again from last.ckpt)."""
    folder = output_dir / CSV_ATTEMPTS
    earlier = sorted(folder.glob("metrics-*.csv"), key=lambda p: int(p.stem.split("-")[-1])) if folder.is_dir() else []
    if not earlier:
        return
    current = output_dir / CSV_LOG
    merged: pd.DataFrame | None = None
    for path in [*earlier, *([current] if current.is_file() else [])]:
        try:
            frame = pd.read_csv(path)
        except (pd.errors.EmptyDataError, pd.errors.ParserError) as err:  # a file cut by a kill -9
            log.warning("ignoring unreadable CSV log %s: %s", path, err)
            continue
        if merged is not None and "epoch" in frame and frame["epoch"].notna().any() and "epoch" in merged:
            merged = merged[~(merged["epoch"] >= frame["epoch"].min())]
        merged = frame if merged is None else pd.concat([merged, frame], ignore_index=True)
    if merged is not None:
        atomic_write_csv(current, merged, fsync=True)
    for (
        path
    ) in earlier:  # the merged file holds them now; a kill before this line only leaves duplicates the next merge drops
        path.unlink(missing_ok=True)


ATTEMPTS_JSON = "attempts.json"


class AttemptClock(Callback):
    """Wall time of every process that trained this run dir, kept on disk in attempts.json.

    Each attempt's entry is rewritten at most every ``every_s`` seconds during training and at every
    epoch end, so even an attempt killed with -9 leaves its time (to within ``every_s``). A fresh start
    (nothing to resume from) begins a new list; a resume appends to it.
    """

    def __init__(self, output_dir: Path, resumed: bool, started: float, every_s: float = 10.0) -> None:
        self.path = Path(output_dir) / ATTEMPTS_JSON
        previous = self._read() if resumed else []
        self.started, self.every_s, self._written = started, every_s, 0.0
        self.entries = previous + [
            {"pid": os.getpid(), "started_unix": round(started, 3), "wall_time_s": 0.0, "status": "running"}
        ]
        self._write()

    def _read(self) -> list[dict]:
        try:
            data = json.loads(self.path.read_text())
            return [e for e in data.get("attempts", []) if isinstance(e, dict) and "wall_time_s" in e]
        except (FileNotFoundError, ValueError, AttributeError):
            return []

    def _write(self, status: str | None = None) -> None:
        self.entries[-1]["wall_time_s"] = round(time.time() - self.started, 3)
        if status is not None:
            self.entries[-1]["status"] = status
        atomic_write_json(self.path, {"attempts": self.entries}, fsync=True)
        self._written = time.time()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if time.time() - self._written >= self.every_s:
            self._write()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # The CSV logger keeps rows in memory for 100 steps: flush them now, before ModelCheckpoint (always
        # last in Lightning's callback order) writes last.ckpt, so a kill -9 after any finished epoch loses
        # no row that the resumed run will not write again.
        from lightning.pytorch.loggers import CSVLogger

        for logger in trainer.loggers:
            if isinstance(logger, CSVLogger):
                logger.save()
        self._write()

    def stop(self, status: str) -> None:
        self._write(status)

    def wall_times(self) -> list[float]:
        return [float(e["wall_time_s"]) for e in self.entries]


def _should_test(cfg: DictConfig, datamodule) -> bool:
    """``auto``: test when ROOT/test_labels.csv lists at least one cadence (an empty split is not scored)."""
    choice = cfg.get("test_after_fit", "auto")
    if choice == "auto":
        path = Path(datamodule.root) / TEST_LABELS_CSV
        if not path.is_file():
            return False
        try:
            return len(pd.read_csv(path)) > 0
        except pd.errors.EmptyDataError:
            return False
    return bool(choice)


def _log_report_media(loggers: list, predictions: pd.DataFrame, datamodule) -> None:
    """ROC curve and sample input images into W&B (when it is one of the loggers)."""
    from lightning.pytorch.loggers import WandbLogger

    for logger in loggers:
        if not isinstance(logger, WandbLogger):
            continue
        import wandb

        from seti.figures import roc_figure, sample_images

        run = logger.experiment
        run.log({"val/roc_curve": wandb.Image(roc_figure(predictions.target.to_numpy(), predictions.pred.to_numpy()))})
        count = getattr(logger, "seti_log_images", 0)
        if count and datamodule.train_set is not None:
            images = [wandb.Image(img, caption=cap) for img, cap in sample_images(datamodule.train_set, count)]
            run.log({"train/samples": images})


def _finish_wandb(loggers: list, exit_code: int) -> None:
    """Close this job's W&B run so the next sweep job starts its own."""
    from lightning.pytorch.loggers import WandbLogger

    if any(isinstance(logger, WandbLogger) for logger in loggers):
        import wandb

        if wandb.run is not None:
            wandb.finish(exit_code=exit_code)
