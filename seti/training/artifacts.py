"""Atomic writes of a run's outputs: a crash never leaves a half-written metrics.json or CSV."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

METRICS_JSON = "metrics.json"
VAL_PREDICTIONS_CSV = "val_predictions.csv"
SKIPPED_CSV = "skipped_ids.csv"


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write to a temporary file in the same directory, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_csv(path: str | Path, frame: pd.DataFrame) -> Path:
    return atomic_write_text(path, frame.to_csv(index=False))


def read_metrics(run_dir: str | Path) -> dict | None:
    """The run's metrics.json, or None if it has none (or it is unreadable)."""
    path = Path(run_dir) / METRICS_JSON
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
