"""Find the runs of one or more sweeps and load what they wrote.

A run directory is any directory below a sweep directory holding ``.hydra/config.yaml`` or
``metrics.json``. Runs that crashed before writing ``metrics.json`` (or wrote ``status: failed``) are
kept as rows with a status and an error, so a report can never silently drop them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

__all__ = [
    "RUN_COLUMNS",
    "find_run_dirs",
    "collect_runs",
    "load_predictions",
    "load_epoch_curve",
    "read_config",
    "model_sort_key",
    "aug_sort_key",
]

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
    "epochs",
    "wall_time_s",
    "attempts",
    "resumed",
    "wall_time_s_attempts",
    "resume_note",
    "train_samples_per_s",
    "peak_memory_mb",
    "image_size",
    "max_epochs",
    "overrides",
    "has_predictions",
    "duplicate_of",
    "run_dir",
    "metrics_path",
    "predictions_path",
    "metrics_csv_path",
    "config_path",
]

_SKIP_DIR_NAMES = {"wandb", ".hydra", "checkpoints", "__pycache__"}
_REPORT_DIR_NAME = "report"
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
    for marker in ("metrics.json", ".hydra/config.yaml"):
        for path in root.rglob(marker):
            run_dir = path.parent if marker == "metrics.json" else path.parent.parent
            rel_parts = run_dir.relative_to(root).parts
            if any(part in _SKIP_DIR_NAMES for part in rel_parts):
                continue
            if rel_parts and rel_parts[0] == _REPORT_DIR_NAME:
                continue
            found.add(run_dir)
    return sorted(found)


def read_config(run_dir: str | Path) -> dict:
    """The run's resolved-at-launch Hydra config (``.hydra/config.yaml``) as a dict, {} if absent."""
    path = Path(run_dir) / ".hydra" / "config.yaml"
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_overrides(run_dir: Path) -> list[str]:
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return []
    return [str(x) for x in data] if isinstance(data, list) else []


def _read_choices(run_dir: Path) -> dict[str, str]:
    """Config-group choices Hydra recorded (``hydra.runtime.choices`` in ``.hydra/hydra.yaml``).

    The most reliable source of ``model=b1`` when metrics.json is missing: it holds defaults too,
    not just the command-line overrides, and the group's own ``name`` key may be a timm name.
    """
    path = run_dir / ".hydra" / "hydra.yaml"
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text())
        choices = data["hydra"]["runtime"]["choices"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return {}
    return {str(k): str(v) for k, v in choices.items() if v is not None} if isinstance(choices, dict) else {}


def _overrides_dict(overrides: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in overrides:
        if "=" not in item:
            continue
        key, value = item.split("=", 1)
        out[key.lstrip("+~")] = value
    return out


def _find_key(tree: Any, keys: Sequence[str]) -> Any:
    """First value of any of ``keys`` found breadth-first in a nested dict (configs move keys around)."""
    queue = [tree]
    while queue:
        node = queue.pop(0)
        if isinstance(node, dict):
            for key in keys:
                if key in node and not isinstance(node[key], dict):
                    return node[key]
            queue.extend(v for v in node.values() if isinstance(v, dict))
    return None


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


def _resume_info(metrics: dict, run_dir: Path) -> tuple[int | None, bool | None, str | None, str | None]:
    """(attempts, resumed, per-attempt wall times, note) from metrics.json, or for older runs without
    those keys from the run's logs (Lightning says where it restored from); None when unknown."""
    attempts = _int_or_none(metrics.get("attempts"))
    resumed = metrics.get("resumed")
    walls = metrics.get("wall_time_s_attempts")
    walls_text = "+".join(f"{_num(w):.0f}" for w in walls) if isinstance(walls, list) and walls else None
    if resumed is not None:
        resumed = bool(resumed)
        return attempts, resumed, walls_text, ("wall time summed over all attempts" if resumed else None)
    if not metrics:
        return attempts, None, walls_text, None
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


def _describe_run(run_dir: Path, sweep_dir: Path) -> dict:
    cfg = read_config(run_dir)
    overrides = _read_overrides(run_dir)
    ov = _overrides_dict(overrides)
    choices = _read_choices(run_dir)
    metrics_path = run_dir / "metrics.json"
    metrics: dict = {}
    status, error = "missing", None
    if metrics_path.is_file():
        try:
            metrics = json.loads(metrics_path.read_text())
            if not isinstance(metrics, dict):
                raise ValueError("top level is not a JSON object")
            status = str(metrics.get("status") or "unknown")
            error = metrics.get("error")
        except (OSError, ValueError) as exc:
            metrics, status, error = {}, "failed", f"unreadable metrics.json: {exc}"
    else:
        hint = _last_error_line(run_dir)
        error = "no metrics.json (the run crashed, was killed or is still running)"
        if hint:
            error += f"; last error in log: {hint}"
    if status not in ("finished", "failed", "missing") and error is None:
        error = f"unexpected status {status!r} in metrics.json"

    def pick(key: str, cfg_keys: Sequence[str], group: str | None = None) -> Any:
        if metrics.get(key) is not None:
            return metrics[key]
        for k, v in ov.items():
            if k == key or k.endswith("." + key):
                return v
        if group is not None and group in choices:
            return choices[group]
        if group is not None:
            name = _group_name(cfg, group)
            if name is not None:
                return name
        return _find_key(cfg, cfg_keys)

    attempts, resumed, walls_text, resume_note = _resume_info(metrics, run_dir)
    preds = run_dir / "val_predictions.csv"
    metrics_csv = run_dir / "csv" / "metrics.csv"
    if not metrics_csv.is_file():
        alt = sorted((run_dir / "csv").glob("**/metrics.csv")) if (run_dir / "csv").is_dir() else []
        metrics_csv = alt[-1] if alt else metrics_csv
    try:
        run_name = str(run_dir.relative_to(sweep_dir)) or "."
    except ValueError:
        run_name = run_dir.name
    image_size = _find_key(cfg, ("image_size", "img_size", "input_size"))
    if isinstance(image_size, list):
        image_size = "x".join(str(v) for v in image_size)
    row = {
        "sweep_dir": str(sweep_dir),
        "run_name": run_name,
        "status": status,
        "error": None if error is None else str(error),
        "data": pick("data", (), group="data"),
        "model": pick("model", (), group="model"),
        "aug": pick("aug", (), group="aug"),
        "fold": _int_or_none(pick("fold", ("fold",))),
        "num_folds": _int_or_none(pick("num_folds", ("num_folds", "n_folds", "folds"))),
        "seed": _int_or_none(pick("seed", ("seed",))),
        "experiment": metrics.get("experiment", choices.get("experiment")),
        "best_val_auroc": _num(metrics.get("best_val_auroc")),
        "last_val_auroc": _num(metrics.get("last_val_auroc")),
        "epochs": _int_or_none(metrics.get("epochs")),
        "wall_time_s": _num(metrics.get("wall_time_s")),
        "attempts": attempts,
        "resumed": resumed,
        "wall_time_s_attempts": walls_text,
        "resume_note": resume_note,
        "train_samples_per_s": _num(metrics.get("train_samples_per_s")),
        "peak_memory_mb": _num(metrics.get("peak_memory_mb")),
        "image_size": image_size,
        "max_epochs": _int_or_none(_find_key(cfg.get("trainer", {}), ("max_epochs",))),
        "overrides": " ".join(metrics.get("overrides") or overrides),
        "has_predictions": preds.is_file(),
        "duplicate_of": None,
        "run_dir": str(run_dir),
        "metrics_path": str(metrics_path) if metrics_path.is_file() else None,
        "predictions_path": str(preds) if preds.is_file() else None,
        "metrics_csv_path": str(metrics_csv) if metrics_csv.is_file() else None,
        "config_path": str(run_dir / ".hydra" / "config.yaml") if cfg else None,
    }
    for key in ("data", "model", "aug", "experiment"):
        if row[key] is not None:
            row[key] = str(row[key])
    if row["status"] == "finished" and not math.isfinite(row["best_val_auroc"]):
        row["error"] = "finished but best_val_auroc is missing or not a number"
    return row


def collect_runs(sweep_dirs: str | Path | Sequence[str | Path]) -> pd.DataFrame:
    """One row per run directory of the given sweeps (columns :data:`RUN_COLUMNS`).

    ``status`` is ``finished``, ``failed`` or ``missing`` (a run directory without metrics.json).
    When several finished runs share (data, model, aug, fold, seed) -- a sweep re-run or two sweeps
    passed together -- only the newest (metrics.json mtime) is used; the others get ``duplicate_of``
    set to the kept run's directory, so nothing is double counted and nothing disappears.
    Raises ``FileNotFoundError`` for a missing directory.
    """
    if isinstance(sweep_dirs, (str, Path)):
        sweep_dirs = [sweep_dirs]
    rows = []
    for sweep in sweep_dirs:
        root = Path(sweep)
        if not root.is_dir():
            raise FileNotFoundError(f"sweep directory {str(root)!r} does not exist or is not a directory")
        rows.extend(_describe_run(run_dir, root) for run_dir in find_run_dirs(root))
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
        path = path / "val_predictions.csv"
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
