"""The per-epoch CSV log of a run across attempts.

Lightning's CSVLogger starts a fresh csv/metrics.csv in every process. So that a resumed run keeps the
epochs of every attempt, each attempt's file is set aside before fit (an atomic rename: any number of
kills and re-runs keeps all of them) and merged back after.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from seti.atomic import atomic_write_csv
from seti.rundir import CSV_ATTEMPTS, CSV_LOG

log = logging.getLogger(__name__)


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
    # The merged file holds them now; a kill before this loop only leaves duplicates the next merge drops.
    for path in earlier:
        path.unlink(missing_ok=True)
