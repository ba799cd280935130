"""ROC AUC of saved predictions: the implementation that scores files.

Two AUROCs exist, and they differ in the 7th or 8th digit (float32 vs float64; 18 of the 20 committed CPU
study runs, by up to 7e-8):

* torchmetrics' ``BinaryAUROC`` scores the logged epochs during training (``val/auroc``): it is the
  checkpoint monitor, so it picks ``best.ckpt`` and gives metrics.json's ``best_val_auroc``;
* this module scores saved predictions: metrics.json's ``val_auroc_of_predictions`` (val_predictions.csv),
  predict.py's out-of-fold scores, the W&B ROC figure and every number of the report, whose paired tests
  read the same files.

Plain numpy (midranks, ties count 1/2, equal to ``sklearn.metrics.roc_auc_score``): importing it pulls in
neither scipy nor sklearn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


# ----------------------------------------------------------------------------- validation
def _check_labels(y_true) -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-D, got shape {y.shape}")
    if y.size == 0:
        raise ValueError("y_true is empty")
    if y.dtype == bool:
        y = y.astype(np.int8)
    try:
        yf = y.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"y_true must be numeric 0/1 labels: {exc}") from None
    if not np.all(np.isfinite(yf)):
        raise ValueError("y_true contains NaN or infinite values")
    bad = ~np.isin(yf, (0.0, 1.0))
    if bad.any():
        raise ValueError(f"y_true must contain only 0 and 1; found {np.unique(yf[bad])[:5].tolist()}")
    yb = yf.astype(bool)
    if yb.all() or not yb.any():
        raise ValueError("y_true must contain both classes (0 and 1): AUC is undefined with a single class")
    return yb


def _check_scores(scores, n: int, name: str) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {s.shape}")
    if s.shape[0] != n:
        raise ValueError(f"{name} has {s.shape[0]} values but y_true has {n}: lengths must match")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{name} contains NaN or infinite values ({int((~np.isfinite(s)).sum())} of {n})")
    return s


def _check_matrix(y_true, scores: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Return (bool labels, (k, N) float score matrix)."""
    y = _check_labels(y_true)
    if isinstance(scores, np.ndarray) and scores.ndim == 1:
        scores = [scores]
    rows = [_check_scores(s, y.shape[0], f"scores[{i}]") for i, s in enumerate(scores)]
    if not rows:
        raise ValueError("need at least one score vector")
    return y, np.vstack(rows)


def rankdata(a, axis: int = -1) -> np.ndarray:
    """Midranks (1-based, ties get the mean of their ranks) along ``axis``, like scipy's rankdata.

    Own implementation so importing this module does not pull in scipy.stats (seconds of CLI start).
    """
    x = np.moveaxis(np.asarray(a, dtype=np.float64), axis, -1)
    shape = x.shape
    x2 = x.reshape(-1, shape[-1])
    out = np.empty_like(x2)
    n = x2.shape[1]
    for i in range(x2.shape[0]):  # few rows (one per score vector)
        order = np.argsort(x2[i], kind="mergesort")
        xs = x2[i, order]
        starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
        ends = np.r_[starts[1:], n]
        out[i, order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return np.moveaxis(out.reshape(shape), -1, axis)


# ----------------------------------------------------------------------------- AUC / ROC
def auc_score(y_true, scores) -> float:
    """ROC AUC by midranks (Mann-Whitney), ties count 1/2; equals sklearn's roc_auc_score."""
    y, s = _check_matrix(y_true, [scores])
    m = int(y.sum())
    n = y.size - m
    ranks = rankdata(s[0])
    return float((ranks[y].sum() - m * (m + 1) / 2.0) / (m * n))


def roc_curve_points(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) at every distinct threshold, starting at (0, 0); for plotting without sklearn."""
    y, s = _check_matrix(y_true, [scores])
    s = s[0]
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    y_sorted = y[order]
    last_of_group = np.r_[np.diff(s_sorted) != 0, True]
    tps = np.cumsum(y_sorted)[last_of_group]
    fps = np.cumsum(~y_sorted)[last_of_group]
    tpr = np.r_[0.0, tps / y.sum()]
    fpr = np.r_[0.0, fps / (~y).sum()]
    return fpr, tpr


def auroc_or_nan(y_true, scores) -> float:
    """:func:`auc_score`, or NaN when the labels hold a single class (AUROC is undefined there)."""
    y = np.asarray(y_true)
    if y.size == 0 or len(np.unique(y)) < 2:
        return math.nan
    return auc_score(y, scores)
