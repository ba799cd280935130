"""Atomic writes of a run's outputs: a crash never leaves a half-written metrics.json or CSV."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from seti.atomic import atomic_write_text as _atomic_write_text

METRICS_JSON = "metrics.json"
VAL_PREDICTIONS_CSV = "val_predictions.csv"
SKIPPED_CSV = "skipped_ids.csv"


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Run outputs are few and precious: written atomically and fsynced."""
    return _atomic_write_text(path, text, fsync=True)


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
