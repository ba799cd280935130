"""The run directory: every file a training run leaves, and the typed record of its outcome.

Training writes it, ``predict.py`` and the report read it; all three take the file names and the
``metrics.json`` fields from here, so a rename happens in one place::

    <run dir>/
      metrics.json             RunMetrics: status, scores, timing, settings (written atomically)
      val_predictions.csv      id, target, pred of the best checkpoint on the validation fold
      skipped_ids.csv          cadences left out (data.on_error=skip), when there were any
      error.txt                traceback of a failed or interrupted run
      attempts.json            wall time of every process that trained this run (resumes append)
      checkpoints/best.ckpt    best validation AUROC (the dedoppler's only checkpoint)
      checkpoints/last.ckpt    the resume point, rewritten every epoch
      csv/metrics.csv          per-epoch log (every attempt merged); csv/attempts/ holds earlier attempts
      .hydra/config.yaml       the composed config; overrides.yaml, hydra.yaml beside it
      .hydra-run/              the .hydra/ files as the run started (restored when a re-run is skipped or refused)
      run_config.yaml          the resolved config that makes the result, and its hash (metrics.json config_hash)
      .run.lock                flock held by the one process training the run (PID and host inside)
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seti.atomic import atomic_write_json
from seti.errors import SetiError

METRICS_JSON = "metrics.json"
VAL_PREDICTIONS_CSV = "val_predictions.csv"
SKIPPED_CSV = "skipped_ids.csv"
ERROR_TXT = "error.txt"
ATTEMPTS_JSON = "attempts.json"
CHECKPOINTS = "checkpoints"
CHECKPOINT_NAMES = ("best", "last")
CSV_LOG = Path("csv") / "metrics.csv"
#: where earlier attempts' CSV logs wait until the run finishes (Lightning's CSVLogger starts a fresh
#: metrics.csv in every process; they are merged back into csv/metrics.csv at the end)
CSV_ATTEMPTS = Path("csv") / "attempts"
HYDRA_DIR = ".hydra"
CONFIG_YAML = Path(HYDRA_DIR) / "config.yaml"
OVERRIDES_YAML = Path(HYDRA_DIR) / "overrides.yaml"
HYDRA_YAML = Path(HYDRA_DIR) / "hydra.yaml"
#: the config that makes the run's result, and its hash (seti.training.identity); never rewritten by Hydra
RUN_CONFIG_YAML = "run_config.yaml"
#: the .hydra/ files of the command that started the run, put back when a later command does not train it
HYDRA_KEPT = ".hydra-run"
STATUSES = ("running", "finished", "failed", "interrupted")


def checkpoint_path(run_dir: str | Path, which: str = "best") -> Path:
    """``checkpoints/best.ckpt`` or ``checkpoints/last.ckpt`` of a run."""
    if which not in CHECKPOINT_NAMES:
        raise ValueError(f"checkpoint must be one of {list(CHECKPOINT_NAMES)}, got {which!r}")
    return Path(run_dir) / CHECKPOINTS / f"{which}.ckpt"


@dataclass
class RunMetrics:
    """What ``metrics.json`` holds. Written at the end of every run (finished, failed or interrupted).

    Fields an older run did not write read as None; keys this class does not know are kept in ``extra``
    and written back, so reading and rewriting a file never loses anything.
    """

    status: str = "running"  # running | finished | failed | interrupted
    error: str | None = None  # why it failed or was interrupted, in one line
    warnings: list[str] = field(default_factory=list)  # steps after training that failed (test, W&B media)
    # what ran
    model: str | None = None
    aug: str | None = None
    data: str | None = None
    fold: int | None = None
    num_folds: int | None = None
    seed: int | None = None
    experiment: str | None = None
    image_size: list[int] | None = None
    max_epochs: int | None = None
    run_dir: str | None = None
    overrides: list[str] = field(default_factory=list)
    config_hash: str | None = None  # of run_config.yaml: what a re-run's config must match to resume or skip
    config_changes: list[str] = field(default_factory=list)  # "key: old -> new" accepted by on_config_change=force
    # which code, libraries and machine (seti.training.provenance)
    git_commit: str | None = None  # HEAD of the checkout seti ran from; None outside a git checkout
    git_dirty: bool | None = None  # tracked files differed from git_commit; None outside a git checkout
    versions: dict[str, str | None] | None = None  # torch, lightning, timm, albumentations, numpy
    machine: str | None = None  # CPU model, and "; <GPU name>" when one is visible
    # where it ran (launcher=gpus)
    gpu: int | None = None
    jobs_per_gpu: int | None = None
    parallel_jobs: int | None = None
    num_workers: int | None = None
    # what it trained with where the config says auto or scales it
    batch_size: int | None = None  # the training batch (data.batch_size, or what auto chose)
    batch_source: str | None = None  # config | cpu (auto on a CPU) | probe | cache (auto on CUDA)
    eval_batch_size: int | None = None  # the validation/test batch
    lr: float | None = None  # the peak lr used: model.optimizer.lr scaled from reference_batch (lr_scaling)
    # outcome
    best_val_auroc: float | None = None  # the best checkpoint's validation AUROC
    last_val_auroc: float | None = None  # the last validation's AUROC
    val_auroc_of_predictions: float | None = None  # recomputed from val_predictions.csv
    test_auroc: float | None = None  # when test_labels.csv lists cadences
    best_checkpoint: str | None = None
    epochs: int | None = None
    num_train: int | None = None
    num_val: int | None = None
    skipped: int | None = None  # distinct cadences left out (skipped_ids.csv)
    # cost
    precision: str | None = None
    train_samples_per_s: float | None = None
    cadences_per_s: float | None = None  # the dedoppler baseline's scoring rate
    peak_memory_mb: float | None = None
    attempts: int | None = None
    resumed: bool | None = None
    wall_time_s: float | None = None  # summed over all attempts
    wall_time_s_attempts: list[float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> RunMetrics:
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names}
        if known.get("warnings") is None:
            known.pop("warnings", None)
        for name in ("overrides", "config_changes"):
            if known.get(name) is None:
                known.pop(name, None)
        return cls(**known, extra=extra)

    def to_dict(self) -> dict:
        """JSON-ready: NaN becomes null (JSON has no NaN); ``extra`` keys are written at the top level."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        out = {**self.extra, **out}
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}

    @property
    def finished(self) -> bool:
        return self.status == "finished"


class MetricsFileError(SetiError, ValueError):
    """metrics.json exists but cannot be read: the message names the file."""


def metrics_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / METRICS_JSON


def read_metrics(run_dir: str | Path, strict: bool = False) -> RunMetrics | None:
    """The run's record; None when it has no metrics.json. An unreadable file is None, or with
    ``strict`` a :class:`MetricsFileError` naming it."""
    path = metrics_path(run_dir)
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("its top level is not a JSON object")
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        if strict:
            raise MetricsFileError(f"unreadable {path}: {err}") from err
        return None
    return RunMetrics.from_dict(data)


def write_metrics(run_dir: str | Path, metrics: RunMetrics) -> Path:
    """Atomically and fsynced: the one file a sweep's report trusts."""
    return atomic_write_json(metrics_path(run_dir), metrics.to_dict(), fsync=True)


def _read_yaml(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None


def read_config(run_dir: str | Path) -> dict:
    """The run's composed Hydra config (``.hydra/config.yaml``) as a dict, {} if absent or unreadable."""
    data = _read_yaml(Path(run_dir) / CONFIG_YAML)
    return data if isinstance(data, dict) else {}


def read_overrides(run_dir: str | Path) -> list[str]:
    """The command-line overrides Hydra recorded for the run (``.hydra/overrides.yaml``)."""
    data = _read_yaml(Path(run_dir) / OVERRIDES_YAML)
    return [str(x) for x in data] if isinstance(data, list) else []


def read_choices(run_dir: str | Path) -> dict[str, str]:
    """Config-group choices Hydra recorded (``hydra.runtime.choices``): ``{"model": "b1", "aug": "none", ...}``,
    defaults included, so a run that crashed before metrics.json still names its model."""
    data = _read_yaml(Path(run_dir) / HYDRA_YAML)
    try:
        choices = data["hydra"]["runtime"]["choices"]
    except (KeyError, TypeError):
        return {}
    return {str(k): str(v) for k, v in choices.items() if v is not None} if isinstance(choices, dict) else {}
