"""Deterministic stratified K-fold splits, so every job of a sweep validates on the same ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from seti.data.layout import CadenceDataError


def assign_folds(labels: pd.DataFrame, num_folds: int, seed: int) -> pd.Series:
    """Return a fold index (0..num_folds-1) per row of ``labels`` (columns id, target).

    Rows are sorted by id before splitting, so the assignment depends only on the set of ids, their
    labels, ``num_folds`` and ``seed``, never on the CSV's row order.
    """
    if num_folds < 2:
        raise CadenceDataError(f"data.num_folds must be >= 2, got {num_folds}")
    counts = labels["target"].value_counts()
    if len(counts) < 2:
        raise CadenceDataError(f"the labels hold only class {int(counts.index[0])}: stratified folds need both classes")
    smallest = int(counts.min())
    if smallest < num_folds:
        raise CadenceDataError(
            f"data.num_folds={num_folds} but the rarer class has only {smallest} cadence(s): "
            f"every fold needs at least one of each class; lower data.num_folds to <= {smallest}"
        )
    order = np.argsort(labels["id"].to_numpy(), kind="stable")
    splitter = StratifiedKFold(n_splits=num_folds, shuffle=True, random_state=seed)
    folds = np.empty(len(labels), dtype=np.int64)
    sorted_targets = labels["target"].to_numpy()[order]
    for fold, (_, val_idx) in enumerate(splitter.split(np.zeros(len(order)), sorted_targets)):
        folds[order[val_idx]] = fold
    return pd.Series(folds, index=labels.index, name="fold")


def split_fold(labels: pd.DataFrame, num_folds: int, fold: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, validation) tables for ``fold``; validation is that fold, train the rest."""
    if not 0 <= fold < num_folds:
        raise CadenceDataError(f"data.fold={fold} is outside 0..{num_folds - 1} (data.num_folds={num_folds})")
    folds = assign_folds(labels, num_folds, seed)
    val = labels[folds == fold].reset_index(drop=True)
    train = labels[folds != fold].reset_index(drop=True)
    return train, val
