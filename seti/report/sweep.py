"""Find the runs of one or more sweeps and load what they wrote.

A run directory is any directory below a sweep directory holding ``.hydra/config.yaml`` or
``metrics.json``. Runs that crashed before writing ``metrics.json`` (or wrote ``status: failed``) are
kept as rows with a status and an error, so a report can never silently drop them. File names and the
metrics record come from :mod:`seti.rundir`, the one description of a run directory.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seti.rundir import (
    CHECKPOINTS,
    CONFIG_YAML,
    CSV_LOG,
    HYDRA_DIR,
    METRICS_JSON,
    VAL_PREDICTIONS_CSV,
    MetricsFileError,
    RunMetrics,
    metrics_path,
    read_choices,
    read_config,
    read_metrics,
    read_overrides,
)

__all__ = [
    "RUN_COLUMNS",
    "REPORT_DIR_NAME",
    "find_run_dirs",
    "collect_runs",
    "load_predictions",
    "load_epoch_curve",
    "read_config",
    "model_sort_key",
    "aug_sort_key",
]

#: the config groups a run row names by their choice (``aug=light``), not by a config value
GROUP_KEYS = ("data", "model", "aug")
#: columns of :func:`collect_runs`, in order (results.csv uses the same)
RUN_COLUMNS = [
    "sweep_dir",
    "run_name",
    "status",
    "error",
    "data",
    "model",
    "aug",
    "fold",
    "num_folds",
    "seed",
    "experiment",
    "best_val_auroc",
    "last_val_auroc",
    "val_auroc",
    "test_auroc",
    "epochs",
    "wall_time_s",
    "attempts",
    "resumed",
    "wall_time_s_attempts",
    "resume_note",
    "train_samples_per_s",
    "peak_memory_mb",
    "batch_size",
    "lr",
    "image_size",
    "max_epochs",
    "overrides",
    "git_commit",
    "git_dirty",
    "versions",
    "machine",
    "has_predictions",
    "duplicate_of",
    "run_dir",
    "metrics_path",
    "predictions_path",
    "metrics_csv_path",
    "config_path",
]

_SKIP_DIR_NAMES = {"wandb", HYDRA_DIR, CHECKPOINTS, "__pycache__"}
#: the report's own folder below a sweep (compare.py's default output): never a run directory
REPORT_DIR_NAME = "report"
_AUG_ORDER = {"none": 0, "light": 1, "strong": 2}


# ----------------------------------------------------------------------------- ordering
def model_sort_key(name: object) -> tuple:
    """Natural model order: b0 < b1 < ... < b5 (< b10), then other names alphabetically."""
    text = str(name)
    match = re.fullmatch(r"b(\d+)", text)
    if match:
        return (0, int(match.group(1)), text)
    return (1, 0, text)


def aug_sort_key(name: object) -> tuple:
    """Aug order: none, light, strong, then others alphabetically."""
    text = str(name)
    return (_AUG_ORDER.get(text, len(_AUG_ORDER)), text)


# ----------------------------------------------------------------------------- discovery
def find_run_dirs(sweep_dir: str | Path) -> list[Path]:
    """Run directories under ``sweep_dir`` (the directory itself included), sorted by path.

    Skips the report output (``<sweep>/report``) and tool folders (wandb, checkpoints).
    """
    root = Path(sweep_dir)
    found: set[Path] = set()
    for marker in (Path(METRICS_JSON), CONFIG_YAML):
        for path in root.rglob(str(marker)):
            run_dir = path.parents[len(marker.parts) - 1]
            rel_parts = run_dir.relative_to(root).parts
            if any(part in _SKIP_DIR_NAMES for part in rel_parts):
                continue
            if rel_parts and rel_parts[0] == REPORT_DIR_NAME:
                continue
            found.add(run_dir)
    return sorted(found)


def _overrides_dict(overrides: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in overrides:
        if "=" not in item:
            continue
        key, value = item.split("=", 1)
        out[key.lstrip("+~")] = value
    return out


def _group_name(cfg: dict, group: str) -> Any:
    """Name of the chosen config-group option (``model: {name: b1, ...}`` or ``model: b1``)."""
    node = cfg.get(group)
    if isinstance(node, dict):
        for key in ("name", "_name_", "id"):
            if isinstance(node.get(key), (str, int)):
                return node[key]
        return None
    if isinstance(node, (str, int)):
        return node
    return None


def _last_error_line(run_dir: Path) -> str | None:
    """Last exception-looking line of the run's Hydra log (``<job>.log``), if any."""
    for log in sorted(run_dir.glob("*.log")):
        try:
            lines = log.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in reversed(lines):
            if re.search(r"(Error|Exception|Traceback|Killed|CUDA out of memory)", line):
                return line.strip()[:500]
    return None


_RESTORE_MARK = "Restoring states from the checkpoint path"  # Lightning's line when a fit resumes


def _resume_info(record: RunMetrics | None, run_dir: Path) -> tuple[int | None, bool | None, str | None, str | None]:
    """(attempts, resumed, per-attempt wall times, note) from metrics.json, or for older runs without
    those keys from the run's logs (Lightning says where it restored from); None when unknown."""
    if record is None:
        return None, None, None, None
    attempts = _int_or_none(record.attempts)
    walls = record.wall_time_s_attempts
    walls_text = "+".join(f"{_num(w):.0f}" for w in walls) if isinstance(walls, list) and walls else None
    if record.resumed is not None:
        resumed = bool(record.resumed)
        return attempts, resumed, walls_text, ("wall time summed over all attempts" if resumed else None)
    for log in sorted(run_dir.glob("*.log")):
        try:
            if _RESTORE_MARK in log.read_text(errors="replace"):
                return (
                    attempts,
                    True,
                    walls_text,
                    (
                        f"older run (no 'resumed' in metrics.json); {log.name} shows a resume: its wall time covers the last process only"
                    ),
                )
        except OSError:
            continue
    return attempts, None, walls_text, None


def _num(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _config_value(cfg: dict, dotted: str) -> Any:
    """The value at a known config path (``data.fold``), None where the run's config lacks it."""
    node: Any = cfg
    for key in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _provenance(record: RunMetrics | None) -> dict:
    """Which code and machine made the run (metrics.json's git_commit, git_dirty, versions, machine), None
    where the run predates these keys; ``versions`` as one ``name=version`` string, sorted."""

    def field(name: str) -> Any:  # a RunMetrics field in newer code, an unknown key kept in ``extra`` in older
        if record is None:
            return None
        value = getattr(record, name, None)
        return value if value is not None else record.extra.get(name)

    versions = field("versions")
    if isinstance(versions, dict):
        versions = " ".join(f"{k}={versions[k]}" for k in sorted(versions))
    dirty = field("git_dirty")
    return {
        "git_commit": field("git_commit") or None,
        "git_dirty": dirty if isinstance(dirty, bool) else None,
        "versions": versions or None,
        "machine": field("machine") or None,
    }


def _describe_run(
    run_dir: Path, sweep_dir: Path, factor: str | None = None, where: dict[str, str] | None = None
) -> dict | None:
    """The run's row (:data:`RUN_COLUMNS`), or None when ``where`` is given and the run does not match it."""
    cfg = read_config(run_dir)
    overrides = read_overrides(run_dir)
    ov = _overrides_dict(overrides)
    choices = read_choices(run_dir)
    record: RunMetrics | None = None
    status, error = "missing", None
    try:
        record = read_metrics(run_dir, strict=True)
    except MetricsFileError as exc:  # the row names the run directory; the message says what is wrong
        status, error = "failed", f"unreadable {METRICS_JSON}: {exc.__cause__ or exc}"
    if record is not None:
        status = str(record.status or "unknown")
        error = record.error
    elif error is None:
        hint = _last_error_line(run_dir)
        error = f"no {METRICS_JSON} (the run crashed, was killed or is still running)"
        if hint:
            error += f"; last error in log: {hint}"
    if status not in ("finished", "failed", "missing") and error is None:
        error = f"unexpected status {status!r} in {METRICS_JSON}"

    def group(name: str) -> Any:
        """A config-group choice (data, model, aug): the record's, else the override, else Hydra's recorded
        choice, and only then the group's own ``name`` key (which may be a timm name, not ``b1``)."""
        recorded = getattr(record, name, None)
        if recorded is not None:
            return recorded
        if name in ov:
            return ov[name]
        if name in choices:
            return choices[name]
        return _group_name(cfg, name)

    def setting(name: str, config_path: str) -> Any:
        """A setting the record holds (newer runs) or, for older or crashed runs, the config at a known path."""
        recorded = getattr(record, name, None)
        return recorded if recorded is not None else _config_value(cfg, config_path)

    def level(key: str) -> Any:
        """A dotted key's value as the sweep set it: the override's text, else the resolved config's."""
        return ov.get(key, _config_value(cfg, key))

    if where:  # a config group (data, model, aug) matches its choice's name, any other key its level
        for key, wanted in where.items():
            if _spelled(group(key) if key in GROUP_KEYS else level(key)) != wanted:
                return None

    attempts, resumed, walls_text, resume_note = _resume_info(record, run_dir)
    metrics_file = metrics_path(run_dir)
    preds = run_dir / VAL_PREDICTIONS_CSV
    metrics_csv = run_dir / CSV_LOG
    if not metrics_csv.is_file():
        csv_dir = run_dir / CSV_LOG.parent
        alt = sorted(csv_dir.glob(f"**/{CSV_LOG.name}")) if csv_dir.is_dir() else []
        metrics_csv = alt[-1] if alt else metrics_csv
    try:
        run_name = str(run_dir.relative_to(sweep_dir)) or "."
    except ValueError:
        run_name = run_dir.name
    image_size = setting("image_size", "data.image_size")
    if isinstance(image_size, list):
        image_size = "x".join(str(v) for v in image_size)
    experiment = record.experiment if record is not None else None
    row = {
        "sweep_dir": str(sweep_dir),
        "run_name": run_name,
        "status": status,
        "error": None if error is None else str(error),
        "data": group("data"),
        "model": group("model"),
        "aug": group("aug"),
        "fold": _int_or_none(setting("fold", "data.fold")),
        "num_folds": _int_or_none(setting("num_folds", "data.num_folds")),
        "seed": _int_or_none(setting("seed", "seed")),
        "experiment": experiment if experiment is not None else choices.get("experiment"),
        "best_val_auroc": _num(record.best_val_auroc if record else None),
        "last_val_auroc": _num(record.last_val_auroc if record else None),
        "val_auroc": math.nan,  # the report's one validation AUROC, scored from val_predictions.csv by analysis
        "test_auroc": _num(record.test_auroc if record else None),
        "epochs": _int_or_none(record.epochs if record else None),
        "wall_time_s": _num(record.wall_time_s if record else None),
        "attempts": attempts,
        "resumed": resumed,
        "wall_time_s_attempts": walls_text,
        "resume_note": resume_note,
        "train_samples_per_s": _num(record.train_samples_per_s if record else None),
        "peak_memory_mb": _num(record.peak_memory_mb if record else None),
        "batch_size": _int_or_none(setting("batch_size", "data.batch_size")),
        "lr": _num(setting("lr", "model.optimizer.lr")),
        "image_size": image_size,
        "max_epochs": _int_or_none(setting("max_epochs", "trainer.max_epochs")),
        "overrides": " ".join((record.overrides if record else None) or overrides),
        **_provenance(record),
        "has_predictions": preds.is_file(),
        "duplicate_of": None,
        "run_dir": str(run_dir),
        "metrics_path": str(metrics_file) if metrics_file.is_file() else None,
        "predictions_path": str(preds) if preds.is_file() else None,
        "metrics_csv_path": str(metrics_csv) if metrics_csv.is_file() else None,
        "config_path": str(run_dir / CONFIG_YAML) if cfg else None,
    }
    if factor:  # compare.py --factor KEY: KEY's level takes the aug's place as the compared factor
        value = _spelled(group(factor)) if factor in GROUP_KEYS else level(factor)
        row["aug"] = None if value is None else f"{factor}={value}"
        if factor in GROUP_KEYS and factor != "aug":  # --factor model: runs of different models are paired
            row[factor] = f"any {factor}"
    for key in (*GROUP_KEYS, "experiment"):
        if row[key] is not None:
            row[key] = str(row[key])
    if row["status"] == "finished" and not math.isfinite(row["best_val_auroc"]):
        row["error"] = "finished but best_val_auroc is missing or not a number"
    return row


def parse_where(items: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings (``--where``) as a dict; a string without ``=`` or with an empty key is refused."""
    where = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--where takes KEY=VALUE (e.g. aug=none, data.background=robust), got {item!r}")
        where[key.strip()] = value.strip()
    return where


def _spelled(value: Any) -> str | None:
    """A config value as ``--where`` spells it: a list as ``[a,b]`` (no spaces), None kept."""
    if isinstance(value, list):
        return "[" + ",".join(str(v) for v in value) + "]"
    return None if value is None else str(value)


def collect_runs(
    sweep_dirs: str | Path | Sequence[str | Path], factor: str | None = None, where: dict[str, str] | None = None
) -> pd.DataFrame:
    """One row per run directory of the given sweeps (columns :data:`RUN_COLUMNS`).

    ``status`` is ``finished``, ``failed`` or ``missing`` (a run directory without metrics.json).
    When several finished runs share (data, model, aug, fold, seed) -- a sweep re-run or two sweeps
    passed together -- only the newest (metrics.json mtime) is used; the others get ``duplicate_of``
    set to the kept run's directory, so nothing is double counted and nothing disappears.
    ``factor`` (a dotted config key, e.g. ``data.batch_size``): the ``aug`` column holds ``KEY=value`` instead,
    so runs that differ by that key are told apart and paired like augs.
    ``where`` (``{KEY: VALUE}``, :func:`parse_where`): only runs that match every pair (a config group by its
    choice, any other key by its override or config value), e.g. one arm of a two-factor sweep.
    Raises ``FileNotFoundError`` for a missing directory.
    """
    if isinstance(sweep_dirs, (str, Path)):
        sweep_dirs = [sweep_dirs]
    rows = []
    for sweep in sweep_dirs:
        root = Path(sweep)
        if not root.is_dir():
            raise FileNotFoundError(f"sweep directory {str(root)!r} does not exist or is not a directory")
        described = (_describe_run(run_dir, root, factor, where) for run_dir in find_run_dirs(root))
        rows.extend(row for row in described if row is not None)
    df = pd.DataFrame(rows, columns=RUN_COLUMNS)
    if df.empty:
        return df
    for col in ("fold", "num_folds", "seed", "epochs", "max_epochs", "attempts"):
        df[col] = df[col].astype("Int64")
    df["has_predictions"] = df["has_predictions"].astype(bool)

    fin = df[df["status"] == "finished"]
    key = ["data", "model", "aug", "fold", "seed"]
    mtimes = fin["metrics_path"].map(lambda p: Path(p).stat().st_mtime if p else 0.0)
    for _, group in fin.assign(_mtime=mtimes).groupby(key, dropna=False, sort=False):
        if len(group) > 1:
            newest = group["_mtime"].idxmax()
            for idx in group.index:
                if idx != newest:
                    df.at[idx, "duplicate_of"] = df.at[newest, "run_dir"]
    return df


# ----------------------------------------------------------------------------- per-run files
def load_predictions(path: str | Path) -> pd.DataFrame:
    """A run's ``val_predictions.csv`` (or its run dir) as ``id, target, pred``, validated.

    Raises ``ValueError`` naming the file if columns are missing, ids repeat, targets are not 0/1 or
    predictions are not finite -- a silent bad file would corrupt every paired comparison.
    """
    path = Path(path)
    if path.is_dir():
        path = path / VAL_PREDICTIONS_CSV
    df = pd.read_csv(path, dtype={"id": str})
    missing = {"id", "target", "pred"} - set(df.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}; expected id,target,pred")
    df = df[["id", "target", "pred"]]
    if df["id"].duplicated().any():
        dup = df.loc[df["id"].duplicated(), "id"].iloc[0]
        raise ValueError(f"{path}: id {dup!r} appears more than once")
    target = pd.to_numeric(df["target"], errors="coerce")
    if not target.isin([0, 1]).all():
        raise ValueError(f"{path}: target must be 0 or 1 in every row")
    pred = pd.to_numeric(df["pred"], errors="coerce").to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(pred)):
        raise ValueError(f"{path}: pred has {int((~np.isfinite(pred)).sum())} NaN/infinite/non-numeric values")
    return pd.DataFrame({"id": df["id"].to_numpy(), "target": target.astype(np.int8).to_numpy(), "pred": pred})


def load_epoch_curve(metrics_csv: str | Path, column: str = "val/auroc") -> pd.DataFrame:
    """``epoch, value`` of one logged metric from a Lightning CSVLogger file (last value per epoch).

    Returns an empty frame if the file or column is absent: a learning-curve plot should not fail
    the whole report.
    """
    try:
        df = pd.read_csv(metrics_csv)
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return pd.DataFrame(columns=["epoch", "value"])
    if column not in df.columns or "epoch" not in df.columns:
        return pd.DataFrame(columns=["epoch", "value"])
    df = df[["epoch", column]].apply(pd.to_numeric, errors="coerce").dropna()
    df = df.groupby("epoch", as_index=False).last().rename(columns={column: "value"})
    return df.sort_values("epoch").reset_index(drop=True)
