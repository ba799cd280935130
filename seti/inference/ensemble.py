"""One pass over the files for a whole ensemble, and the blend of its members' probabilities.

Workers load raw cadences; each batch is preprocessed on the device once per distinct preprocessing and
scored by all members that share it (see seti.inference.engine); their probabilities are blended by
mean or by rank.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seti.data.layout import CadenceDataError, cadence_path
from seti.data.preprocess import Preprocessor
from seti.inference.members import Member, group_by_preprocessing
from seti.inference.settings import BLENDS, PredictError, ScoringOptions, resolve_workers
from seti.runtime import cudnn_benchmark

log = logging.getLogger(__name__)


def model_stack(models: Sequence[Any]):
    """One module returning every member's logit, (B, N): a group's members score each batch together."""
    import torch

    class ModelStack(torch.nn.Module):
        def __init__(self, members: Sequence[torch.nn.Module]) -> None:
            super().__init__()
            self.members = torch.nn.ModuleList(members)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.stack([m(x).reshape(x.shape[0]) for m in self.members], dim=1)

    return ModelStack(models).eval()


def compile_members(members: Sequence[Member]) -> None:
    """``torch.compile`` each member's module in place, once (a member compiled before is left as it is):
    static shapes (``dynamic=False``), which the padded last batch keeps to one per preprocessing group.
    The compiling itself happens on the first batch, the pass's warm-up; members of one architecture
    share the compiled code."""
    for member in members:
        if getattr(member.model, "_compiled_call_impl", None) is None:
            member.model.compile(dynamic=False)


def check_files(root: Path, split: str, ids: Sequence[str], check: str = "header") -> None:
    """Every cadence behind ``ids`` must exist and look sane, checked up front: ``header`` reads each .npy
    header (fast), ``full`` loads every array (finds a NaN/inf behind a valid header)."""
    from seti.data.dataset import find_bad_files

    paths = [cadence_path(root, split, cadence_id) for cadence_id in ids]
    bad = find_bad_files(paths, full=check == "full")
    if bad:
        first = min(bad)
        missing = sum(1 for reason in bad.values() if reason.startswith("missing"))
        raise CadenceDataError(
            f"{len(bad)} of {len(ids)} {split} cadence(s) under {root / split} are unusable ({missing} missing); "
            f"first: id {ids[first]}: {bad[first]}. Check data.root and that the download is complete"
        )


def predict_ids(
    members: Sequence[Member],
    root: Path,
    split: str,
    ids: Sequence[str],
    options: ScoringOptions,
    *,
    stats: dict | None = None,
) -> pd.DataFrame:
    """Probabilities of every member for ``ids`` (rows in ``ids`` order): ``id`` + one column per member.

    One pass over the files for the whole ensemble: workers read raw cadences, and each batch is
    preprocessed once per preprocessing group (batched; on the device, or in the workers on a CPU, see
    ``options.transforms``) and scored by all of that group's members. ``stats``, if given, receives the
    pass's counts (batches, cadences read, pad rows, preprocessing groups, channels_last, transforms) and
    its timed phases (``seti.inference.engine.PASS_PHASES``).

    ``options.pad_last_batch`` pads the last batch to the batch size (one input shape for the models);
    ``options.compile`` compiles every member once (:func:`compile_members`).
    """
    from torch.utils.data import DataLoader

    from seti.inference.engine import (
        CollatePreprocessed,
        RawCadenceDataset,
        collate_raw,
        score_cadences,
    )
    from seti.runtime import resolve_transforms

    device = options.device
    frame = pd.DataFrame({"id": list(ids)})
    workers = resolve_workers(options.num_workers, len(ids), options.batch_size)
    groups = group_by_preprocessing(members)
    where = resolve_transforms(options.transforms, device)
    loader = DataLoader(
        RawCadenceDataset([cadence_path(root, split, cadence_id) for cadence_id in ids], options.check),
        batch_size=options.batch_size,
        shuffle=False,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        collate_fn=CollatePreprocessed(list(groups)) if where == "workers" else collate_raw,
    )
    if options.compile:
        compile_members(members)
    started = time.perf_counter()
    with cudnn_benchmark(device.type == "cuda"):  # a fixed input size per group: autotune once
        indices, probs, counts = score_cadences(
            [(preprocess, model_stack([m.model for m in group])) for preprocess, group in groups.items()],
            loader,
            device,
            options.precision,
            options.tta,
            options.channels_last,
            pad_to=options.batch_size if options.pad_last_batch else None,
        )
    seconds = time.perf_counter() - started
    for (preprocess, group), group_probs in zip(groups.items(), probs):
        out = np.full((len(ids), len(group)), np.nan)
        out[indices] = group_probs.reshape(len(indices), len(group))
        if np.isnan(out).any():
            raise RuntimeError(f"inference returned {int(np.isnan(out).any(axis=1).sum())} id(s) without a prediction")
        for j, member in enumerate(group):
            frame[member.name] = out[:, j]
        log.info("%s: %d model(s) with %s", split, len(group), _describe(preprocess))
    log.info(
        "%s: %d cadence(s) read once, preprocessed on the %s, scored by %d model(s) in %d preprocessing group(s) "
        "(tta=%s) in %.1f s: %.1f cadences/s",
        split,
        counts["cadences_read"],
        "device" if where == "device" else "workers",
        len(members),
        len(groups),
        options.tta,
        seconds,
        len(ids) / max(seconds, 1e-9),
    )
    if stats is not None:
        stats.update(counts, seconds=seconds, transforms=where, groups=len(groups))
    return frame[["id", *[m.name for m in members]]]


def _describe(p: Preprocessor) -> str:
    return f"panels={p.panels} layout={p.layout} background={p.background} size={list(p.image_size)}"


def rank01(values: np.ndarray) -> np.ndarray:
    """Ranks scaled to [0, 1] (ties share their mean rank): makes models of different calibration comparable."""
    n = len(values)
    if n <= 1:
        return np.full(n, 0.5)
    return (pd.Series(values).rank(method="average").to_numpy() - 1) / (n - 1)


def blend(predictions: np.ndarray, method: str = "mean") -> np.ndarray:
    """(ids, members) -> (ids,). One member is returned as is (its probabilities), whatever the method."""
    predictions = np.asarray(predictions, dtype=float)
    if predictions.ndim == 1:
        return predictions
    if predictions.shape[1] == 1:
        return predictions[:, 0]
    if method == "mean":
        return predictions.mean(axis=1)
    if method == "rank":
        return np.column_stack([rank01(predictions[:, j]) for j in range(predictions.shape[1])]).mean(axis=1)
    raise PredictError(f"blend must be one of {list(BLENDS)}, got {method!r}")
