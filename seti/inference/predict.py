"""Kaggle submissions from trained checkpoints: the job behind ``predict.py``.

Every checkpoint carries its run's resolved config (``seti_config``), so the test set is preprocessed
exactly as the model was trained; the command line cannot change that (a mismatch would silently ruin
the scores). ``ckpt`` may name a checkpoint file, a run directory, a sweep directory or a list of these;
several checkpoints form an ensemble. Every input is checked (ids, test files, runs that did not finish,
checkpoints, existing outputs)
before any inference, and the outputs are written atomically at the very end, so a failure never leaves
a half-written submission.

The parts, one module each: :mod:`~seti.inference.settings` (the command line and its checks),
:mod:`~seti.inference.members` (checkpoints to models), :mod:`~seti.inference.ensemble` (one pass over
the files, blending), :mod:`~seti.inference.oof` (out-of-fold predictions). Their public names are
exported by :mod:`seti.inference`. Lightning and timm are imported inside the functions
that need them, so ``predict.py`` rejects a bad command line in a second instead of after loading them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig

from seti.atomic import atomic_write_csv
from seti.data.layout import LABELS_CSV, SUBMISSION_CSV, read_id_table
from seti.inference.ensemble import blend, check_files, predict_ids
from seti.inference.members import find_checkpoints, load_members
from seti.inference.oof import out_of_fold
from seti.inference.settings import PredictError, PredictSettings

log = logging.getLogger(__name__)

__all__ = ["check_outputs", "predict"]


def check_outputs(paths: Sequence[Path], overwrite: bool) -> None:
    """Refuse, before any inference, outputs that could not be written: existing files, directories, a
    path under a regular file, a folder we may not write to."""
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise PredictError(f"output file(s) already exist: {', '.join(existing)}; pass overwrite=true to replace them")
    for path in paths:
        if path.is_dir():
            raise PredictError(f"output {path} is a directory; name a .csv file")
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            raise PredictError(
                f"output {path} cannot be written: {folder} is a file, not a folder; choose output= in a folder"
            )
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PredictError(f"output {path} cannot be written: no write permission in {folder}")


def predict(cfg: DictConfig | dict) -> dict:
    """predict.py's job: check everything, score ROOT/test with every member, blend, write atomically.

    Writes ``output`` (id,target in sample_submission.csv's order), ``<stem>.members.csv`` (id + one
    probability column per member) and with ``oof=true`` ``<stem>.oof.csv`` (id,target,pred). Returns a
    summary dict (paths, members, device, precision, speed, OOF AUROC).
    """
    settings = PredictSettings.from_config(cfg)
    outputs = [settings.output, settings.members_path] + ([settings.oof_path] if settings.oof else [])
    check_outputs(outputs, settings.overwrite)
    root = settings.root
    submission = read_id_table(root / SUBMISSION_CSV, require_binary_target=False)
    ids = submission["id"].tolist()
    check_files(root, "test", ids, settings.check)
    labels = read_id_table(root / LABELS_CSV, require_binary_target=True) if settings.oof else None
    specs = find_checkpoints(settings.ckpt, settings.checkpoint, settings.allow_unfinished)
    members = load_members(specs)
    options = settings.scoring()
    log.info(
        "%d member(s) on %s (%s), tta=%s, blend=%s: %s",
        len(members),
        options.device,
        options.precision,
        settings.tta,
        settings.blend,
        [m.name for m in members],
    )
    started = time.perf_counter()
    passes: dict = {}
    member_preds = predict_ids(members, root, "test", ids, options, stats=passes)
    seconds = time.perf_counter() - started
    names = [m.name for m in members]
    result = pd.DataFrame({"id": ids, "target": blend(member_preds[names].to_numpy(), settings.blend)})
    summary: dict[str, Any] = {
        "output": str(settings.output),
        "members_file": str(settings.members_path),
        "members": names,
        "num_ids": len(ids),
        "groups": passes["groups"],
        "device": str(options.device),
        "precision": options.precision,
        "tta": settings.tta,
        "blend": settings.blend if len(members) > 1 else "single",
        "test_seconds": seconds,
        "test_cadences_per_s": len(ids) / max(seconds, 1e-9),
        "cadences_read": passes["cadences_read"],
        "channels_last": passes["channels_last"],
        "transforms": passes["transforms"],
    }
    oof = None
    if settings.oof:
        oof = out_of_fold(members, root, labels, options, blend_method=settings.blend)
        n_cov, n_all = len(oof["frame"]), len(labels)
        message = f"OOF AUROC {oof['auroc']:.4f} over {n_cov} of {n_all} train id(s) from {len(members)} run(s)"
        if oof["uncovered"]:
            message += f"; {len(oof['uncovered'])} id(s) not covered by any fold, e.g. {oof['uncovered'][:5]}"
        print(message)
        log.info(message)
        summary.update(
            oof_file=str(settings.oof_path),
            oof_auroc=oof["auroc"],
            oof_covered=n_cov,
            oof_uncovered=oof["uncovered"],
            oof_per_run=oof["per_run"],
        )
    # Everything computed: write, the submission last so its presence means the job finished.
    atomic_write_csv(settings.members_path, member_preds, fsync=True)
    if oof is not None:
        atomic_write_csv(settings.oof_path, oof["frame"], fsync=True)
    atomic_write_csv(settings.output, result, fsync=True)
    log.info(
        "wrote %s (%d rows) and %s: %d member(s), %.1f test cadences/s",
        settings.output,
        len(result),
        settings.members_path,
        len(members),
        summary["test_cadences_per_s"],
    )
    return summary
