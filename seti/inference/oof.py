"""Out-of-fold predictions: each run's predictions on its own validation fold, the honest estimate of the
ensemble's test score (``oof=true``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from seti.data.layout import LABELS_CSV
from seti.inference.ensemble import check_files, predict_ids, rank01
from seti.inference.members import Member
from seti.inference.settings import PredictError, ScoringOptions
from seti.metrics import auroc_or_nan
from seti.rundir import VAL_PREDICTIONS_CSV, checkpoint_path

log = logging.getLogger(__name__)


def out_of_fold(
    members: Sequence[Member],
    root: Path,
    labels: pd.DataFrame,
    options: ScoringOptions,
    *,
    blend_method: str = "mean",
    reuse_val_predictions: bool | None = None,
) -> dict:
    """Each run's predictions on its own validation fold, averaged per id over runs that cover it.

    Source: with ``options.tta=none`` a run's ``val_predictions.csv`` is reused as is (train.py wrote it from
    the best checkpoint, with the same preprocessing, at the run's training precision); with ``tta=flip``,
    or a checkpoint other than the run's best.ckpt, its ids are re-predicted from ``ROOT/train``.
    ``reuse_val_predictions`` forces either. With ``blend_method=rank`` and several runs, each run's
    predictions become ranks within its own fold before averaging, as for the test set.

    Returns {"frame": id,target,pred in train_labels order, "auroc", "uncovered": ids no fold covers,
    "per_run": [{name, n, auroc, source}]}.
    """
    known = set(labels["id"])
    runs: list[pd.Series] = []
    per_run: list[dict] = []
    for member in members:
        spec = member.spec
        if spec.run_dir is None:
            raise PredictError(
                f"oof=true needs run directories, but {spec.ckpt_path} is not inside <run dir>/checkpoints/"
            )
        val_path = spec.run_dir / VAL_PREDICTIONS_CSV
        if not val_path.is_file():
            raise PredictError(f"oof=true: run {spec.run_dir} has no {VAL_PREDICTIONS_CSV} (its validation ids)")
        val = pd.read_csv(val_path, dtype={"id": str})
        if not {"id", "pred"} <= set(val.columns):
            raise PredictError(f"{val_path} lacks id/pred columns; found {list(val.columns)}")
        foreign = [i for i in val["id"] if i not in known]
        if foreign:
            raise PredictError(
                f"oof=true: {len(foreign)} validation id(s) of run {spec.name} are not in {root / LABELS_CSV}, "
                f"e.g. {foreign[0]}: was it trained on another data.root?"
            )
        is_best = spec.ckpt_path.resolve() == checkpoint_path(spec.run_dir, "best").resolve()
        reuse = (options.tta == "none" and is_best) if reuse_val_predictions is None else bool(reuse_val_predictions)
        if reuse:
            preds = val["pred"].to_numpy(dtype=float)
            source = VAL_PREDICTIONS_CSV
        else:
            ids = val["id"].tolist()
            check_files(root, "train", ids, options.check)
            preds = predict_ids([member], root, "train", ids, options)[member.name].to_numpy()
            source = f"re-predicted (tta={options.tta})"
        targets = labels.set_index("id").loc[val["id"], "target"].to_numpy()
        run_auroc = auroc_or_nan(targets, preds)
        per_run.append({"name": spec.name, "n": len(val), "auroc": run_auroc, "source": source})
        log.info("oof: %s: %d id(s), AUROC %.4f (%s)", spec.name, len(val), run_auroc, source)
        runs.append(pd.Series(preds, index=val["id"].to_numpy()))
    if blend_method == "rank" and len(runs) > 1:
        runs = [pd.Series(rank01(r.to_numpy()), index=r.index) for r in runs]
    averaged = pd.concat(runs).groupby(level=0).mean()
    frame = labels[labels["id"].isin(averaged.index)].copy()
    frame["pred"] = averaged.loc[frame["id"]].to_numpy()
    frame = frame.reset_index(drop=True)
    uncovered = labels.loc[~labels["id"].isin(averaged.index), "id"].tolist()
    auroc = auroc_or_nan(frame["target"].to_numpy(), frame["pred"].to_numpy())
    return {"frame": frame[["id", "target", "pred"]], "auroc": auroc, "uncovered": uncovered, "per_run": per_run}
