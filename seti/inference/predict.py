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

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig

from seti.atomic import atomic_write_csv, atomic_write_text
from seti.data.layout import LABELS_CSV, SUBMISSION_CSV, read_id_table
from seti.inference.engine import PASS_PHASES
from seti.inference.ensemble import blend, check_files, predict_ids
from seti.inference.members import find_checkpoints, load_members
from seti.inference.oof import out_of_fold
from seti.inference.settings import PredictError, PredictSettings

log = logging.getLogger(__name__)

__all__ = ["check_outputs", "format_timing", "predict", "timing_breakdown"]

#: where predict.py's time goes, in the order it is spent: ``<phase>_s`` seconds each (see timing_breakdown)
PHASES = ("load_members", *(phase.removesuffix("_s") for phase in PASS_PHASES), "write")


def timing_breakdown(seconds: dict[str, float], wall_s: float, cadences: int) -> dict:
    """predict.py's time by phase: seconds and cadences/s (the test cadences over that phase's seconds, the
    pace if it were the only cost) for each of :data:`PHASES`, and ``other`` (checking inputs, blending, OOF),
    the wall time the phases leave. The phases are disjoint intervals of the wall time, so they never sum
    to more."""
    phases = {
        name: {
            "seconds": round(seconds[name], 4),
            "cadences_per_s": round(cadences / seconds[name], 2) if seconds[name] > 0 else None,
        }
        for name in PHASES
    }
    return {
        "cadences": cadences,
        "wall_s": round(wall_s, 4),
        "cadences_per_s": round(cadences / wall_s, 2) if wall_s > 0 else None,
        "phases": phases,
        "other_s": round(wall_s - sum(seconds[name] for name in PHASES), 4),
    }


def format_timing(timing: dict) -> str:
    """The breakdown as predict.py prints it: one line per phase."""
    lines = [f"where the time went ({timing['cadences']} cadences, {timing['wall_s']:.2f} s wall):"]
    for name, phase in timing["phases"].items():
        pace = "" if phase["cadences_per_s"] is None else f"  {phase['cadences_per_s']:>10.1f} cadences/s"
        lines.append(f"  {name:<13}{phase['seconds']:>9.2f} s{pace}")
    lines.append(f"  {'other':<13}{timing['other_s']:>9.2f} s  (checks, blending, OOF)")
    return "\n".join(lines)


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
    summary dict (paths, members, device, precision, speed, OOF AUROC, and ``timing``: where the time went,
    also written to ``<stem>.timing.json`` after the submission).
    """
    wall_started = time.perf_counter()
    settings = PredictSettings.from_config(cfg)
    outputs = [settings.output, settings.members_path, settings.timing_path]
    outputs += [settings.oof_path] if settings.oof else []
    check_outputs(outputs, settings.overwrite)
    root = settings.root
    submission = read_id_table(root / SUBMISSION_CSV, require_binary_target=False)
    ids = submission["id"].tolist()
    check_files(root, "test", ids, settings.check)
    labels = read_id_table(root / LABELS_CSV, require_binary_target=True) if settings.oof else None
    started = time.perf_counter()
    specs = find_checkpoints(settings.ckpt, settings.checkpoint, settings.allow_unfinished)
    members = load_members(specs)
    load_s = time.perf_counter() - started
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
        "batch_size": options.batch_size,
        "compile": options.compile,
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
    # Everything computed: write, the submission last so its presence means the predictions are complete;
    # then where the time went (the submission's write included).
    started = time.perf_counter()
    atomic_write_csv(settings.members_path, member_preds, fsync=True)
    if oof is not None:
        atomic_write_csv(settings.oof_path, oof["frame"], fsync=True)
    atomic_write_csv(settings.output, result, fsync=True)
    now = time.perf_counter()
    phases = {"load_members": load_s, "write": now - started}
    phases.update({phase.removesuffix("_s"): passes[phase] for phase in PASS_PHASES})
    summary["timing"] = timing_breakdown(phases, now - wall_started, len(ids))
    summary["timing_file"] = str(settings.timing_path)
    atomic_write_text(settings.timing_path, json.dumps(summary["timing"], indent=2) + "\n")
    log.info(
        "wrote %s (%d rows) and %s: %d member(s), %.1f test cadences/s",
        settings.output,
        len(result),
        settings.members_path,
        len(members),
        summary["test_cadences_per_s"],
    )
    return summary
