"""The report's numbers about runs: which runs count, per-group summaries, and the predictions and learning
curves the plots draw (the paired comparisons are :mod:`seti.report.comparison`).

Every validation AUROC here is :func:`seti.metrics.auc_score` of a run's val_predictions.csv, the file the
paired tests read; metrics.json's ``best_val_auroc`` (torchmetrics, the checkpoint monitor) is kept in
results.csv only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from seti.metrics import auc_score
from seti.report.sweep import aug_sort_key, load_epoch_curve, load_predictions, model_sort_key

__all__ = [
    "BASELINE_AUG",
    "REFERENCE_MODELS",
    "SUMMARY_COLUMNS",
    "Predictions",
    "sorted_groups",
    "panel_groups",
    "usable_runs",
    "summarise",
    "roc_panels",
    "curve_panels",
]

BASELINE_AUG = "none"
REFERENCE_MODELS = {"dedoppler"}  # classical, non-learning baselines: shown as reference rows
#: columns of summary.csv: one row per (data, model, aug); val_auroc is AUROC of val_predictions.csv
SUMMARY_COLUMNS = [
    "data",
    "model",
    "aug",
    "mean_val_auroc",
    "std_val_auroc",
    "n",
    "folds",
    "seeds",
    "mean_test_auroc",
    "std_test_auroc",
    "n_test",
    "mean_epochs",
    "mean_wall_time_s",
    "mean_train_samples_per_s",
    "max_peak_memory_mb",
    "reference",
]


def sorted_groups(keys: Sequence[tuple]) -> list[tuple]:
    """Sort (data, model[, aug]) keys: data alphabetically, models naturally, augs none/light/strong."""

    def key(k: tuple) -> tuple:
        out = (str(k[0]), model_sort_key(k[1]))
        return out + (aug_sort_key(k[2]),) if len(k) > 2 else out

    return sorted(keys, key=key)


class Predictions:
    """Loads each run's val_predictions.csv once; a bad file becomes a listed problem, not a crash."""

    def __init__(self) -> None:
        self._cache: dict[str, pd.DataFrame | None] = {}
        self.problems: list[str] = []

    def get(self, row: pd.Series) -> pd.DataFrame | None:
        path = row["predictions_path"]
        if not isinstance(path, str):
            return None
        if path not in self._cache:
            try:
                self._cache[path] = load_predictions(path)
            except (OSError, ValueError) as exc:
                self.problems.append(f"{row['run_name']}: cannot use val_predictions.csv: {exc}")
                self._cache[path] = None
        return self._cache[path]

    def auroc(self, row: pd.Series) -> float:
        """AUROC of the run's val_predictions.csv (seti.metrics); NaN without a usable two-class file."""
        df = self.get(row)
        if df is None or df["target"].nunique() < 2:
            return math.nan
        return auc_score(df["target"], df["pred"])


def usable_runs(runs: pd.DataFrame, preds: Predictions) -> pd.DataFrame:
    """Finished, non-duplicate runs whose val_predictions.csv scores: the ones every number comes from.

    Adds ``val_auroc``, the AUROC of that file: the same implementation and the same file as the paired
    tests, so the table and the tests cannot disagree (torchmetrics' ``best_val_auroc`` can, in the 7th digit).
    """
    if runs.empty:
        return runs.assign(val_auroc=pd.Series(dtype=float))
    ok = (runs["status"] == "finished") & runs["duplicate_of"].isna()
    ok &= runs["model"].notna() & runs["aug"].notna()
    out = runs[ok].copy()
    out["data"] = out["data"].fillna("?")
    out["val_auroc"] = [preds.auroc(r) for _, r in out.iterrows()]
    return out[out["val_auroc"].notna()]


def summarise(used: pd.DataFrame) -> pd.DataFrame:
    """One row per (data, model, aug) of the usable runs (summary.csv), in report order."""
    rows = []
    for (data, model, aug), g in used.groupby(["data", "model", "aug"], sort=False):
        auc = g["val_auroc"].astype(float)
        test = g["test_auroc"].astype(float).dropna()
        rows.append(
            {
                "data": data,
                "model": model,
                "aug": aug,
                "mean_val_auroc": auc.mean(),
                "std_val_auroc": auc.std(ddof=1) if len(auc) > 1 else math.nan,
                "n": len(auc),
                "folds": ",".join(str(v) for v in sorted(g["fold"].dropna().unique())),
                "seeds": ",".join(str(v) for v in sorted(g["seed"].dropna().unique())),
                "mean_test_auroc": test.mean() if len(test) else math.nan,
                "std_test_auroc": test.std(ddof=1) if len(test) > 1 else math.nan,
                "n_test": len(test),
                "mean_epochs": g["epochs"].astype(float).mean(),
                "mean_wall_time_s": g["wall_time_s"].astype(float).mean(),
                "mean_train_samples_per_s": g["train_samples_per_s"].astype(float).mean(),
                "max_peak_memory_mb": g["peak_memory_mb"].astype(float).max(),
                "reference": model in REFERENCE_MODELS,
            }
        )
    df = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    if df.empty:
        return df
    order = sorted_groups(list(zip(df["data"], df["model"], df["aug"])))
    return df.set_index(["data", "model", "aug"]).loc[order].reset_index()


def panel_groups(used: pd.DataFrame) -> list[tuple]:
    """The (data, model) groups of the runs, in report order."""
    return sorted_groups(list(used[["data", "model"]].drop_duplicates().itertuples(index=False)))


def roc_panels(used: pd.DataFrame, preds: Predictions) -> list[tuple[tuple, list[tuple[str, pd.DataFrame, int]]]]:
    """Per (data, model): each aug's validation predictions pooled over its runs (out-of-fold), with the
    number of runs pooled; augs without predictions or with a single class are left out."""
    panels = []
    for data, model in panel_groups(used):
        sel = used[(used["data"] == data) & (used["model"] == model)]
        lines = []
        for aug in sorted(sel["aug"].unique(), key=aug_sort_key):
            frames = [p for _, r in sel[sel["aug"] == aug].iterrows() if (p := preds.get(r)) is not None]
            if not frames:
                continue
            pooled = pd.concat(frames, ignore_index=True)
            if pooled["target"].nunique() < 2:
                continue
            lines.append((aug, pooled, len(frames)))
        if lines:
            panels.append(((data, model), lines))
    return panels


def curve_panels(used: pd.DataFrame) -> list[tuple[tuple, list[tuple[str, pd.DataFrame]]]]:
    """Per (data, model): every run's validation AUROC per epoch (from its CSV log) with the run's aug."""
    panels = []
    for data, model in panel_groups(used):
        sel = used[(used["data"] == data) & (used["model"] == model)]
        lines = []
        for _, r in sel.iterrows():
            if not isinstance(r["metrics_csv_path"], str):
                continue
            curve = load_epoch_curve(r["metrics_csv_path"])
            if not curve.empty:
                lines.append((r["aug"], curve))
        if lines:
            panels.append(((data, model), lines))
    return panels
