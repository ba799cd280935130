"""Kaggle submissions from trained checkpoints: the logic behind ``predict.py``.

Every checkpoint carries its run's resolved config (``seti_config``), so the test set is preprocessed
exactly as the model was trained; the command line cannot change that (a mismatch would silently ruin
the scores). ``ckpt`` may name a checkpoint file, a run directory or a sweep directory; several
checkpoints form an ensemble. The files are read once for the whole ensemble: workers load raw cadences,
each batch is preprocessed on the device once per distinct preprocessing and scored by all members that
share it (see seti.inference.engine); their probabilities are blended by mean or by rank. ``oof=true`` adds each run's out-of-fold predictions on
the labelled train set and their AUROC, the honest estimate of the ensemble's test score.

Every input is checked (ids, test files, checkpoints, existing outputs) before any inference, and the
outputs are written atomically at the very end, so a failure never leaves a half-written submission.

torch, Lightning and timm are imported inside the functions that need them, so ``predict.py`` rejects a
bad command line in a second instead of after loading them.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from seti import runtime
from seti.atomic import atomic_write_csv
from seti.data.layout import LABELS_CSV, SUBMISSION_CSV, CadenceDataError, cadence_path, read_id_table
from seti.data.preprocess import Preprocessor
from seti.rundir import METRICS_JSON, VAL_PREDICTIONS_CSV, read_metrics

log = logging.getLogger(__name__)

#: data.* keys that define the preprocessing: they come from the checkpoint, never from the command line.
PREPROCESSING_KEYS = ("panels", "layout", "background", "image_size", "clip")
TTAS = ("none", "flip")
BLENDS = ("mean", "rank")
CHECKPOINT_FILES = ("best", "last")


class PredictError(ValueError):
    """A bad predict.py input (key, path, output): the message names it and says how to fix it."""


class CheckpointError(PredictError):
    """A checkpoint that cannot be used: missing, unreadable, not from train.py, or not fitting its model."""


# ================================================================================= settings
def check_overrides(overrides: Iterable[str]) -> None:
    """Reject command-line overrides of ``data.*`` other than ``data.root`` (before Hydra composes).

    Hydra alone would answer "key not in struct"; this says why the key is absent.
    """
    for item in overrides:
        if item.startswith("-") or "=" not in item:
            continue
        key = item.split("=", 1)[0].lstrip("+~")
        _check_data_key(key)


def _check_data_key(key: str) -> None:
    if key == "data" or (key.startswith("data.") and key != "data.root"):
        name = key.split(".", 1)[1] if "." in key else ""
        if name.split(".")[0] in PREPROCESSING_KEYS or key == "data":
            raise PredictError(
                f"{key} cannot be set: preprocessing comes from the checkpoint (its seti_config), so every "
                "model sees the test set exactly as it saw its training data. predict.py takes only data.root; "
                "to change the preprocessing, train with it"
            )
        raise PredictError(
            f"{key} is not a predict.py key: only data.root is (preprocessing comes from the checkpoint; "
            "batch_size and num_workers are top-level keys, e.g. batch_size=128)"
        )


@dataclass(frozen=True)
class PredictSettings:
    """predict.py's validated settings (see conf/predict.yaml for each key)."""

    ckpt: Path
    root: Path
    output: Path
    checkpoint: str = "best"
    overwrite: bool = False
    tta: str = "none"
    blend: str = "mean"
    batch_size: int = 64
    num_workers: int | str = "auto"
    device: str = "auto"
    precision: str = "auto"
    oof: bool = False
    channels_last: bool | str = "auto"
    transforms: str = "auto"

    @classmethod
    def from_config(cls, cfg: DictConfig | dict) -> PredictSettings:
        cfg = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(cfg)
        for key in cfg.get("data") or {}:
            _check_data_key(f"data.{key}")
        missing = [
            k for k in ("ckpt", "data.root", "output") if OmegaConf.select(cfg, k, default=None) in (None, "", "???")
        ]
        if missing:
            examples = {
                "ckpt": "ckpt=logs/multirun/<sweep>",
                "data.root": "data.root=/path/to/kaggle",
                "output": "output=submission.csv",
            }
            raise PredictError("required key(s) not set: " + ", ".join(f"{k} (e.g. {examples[k]})" for k in missing))
        get = lambda key, default: OmegaConf.select(cfg, key, default=default)  # noqa: E731
        settings = cls(
            ckpt=_path(get("ckpt", None)),
            root=_path(get("data.root", None)),
            output=_path(get("output", None)),
            checkpoint=str(get("checkpoint", "best")),
            overwrite=bool(get("overwrite", False)),
            tta=str(get("tta", "none")),
            blend=str(get("blend", "mean")),
            batch_size=int(get("batch_size", 64)),
            num_workers=get("num_workers", "auto"),
            device=str(get("device", "auto")),
            precision=str(get("precision", "auto")),
            oof=bool(get("oof", False)),
            channels_last=get("channels_last", "auto"),
            transforms=str(get("transforms", "auto")),
        )
        settings.check()
        return settings

    def check(self) -> None:
        if self.tta not in TTAS:
            raise PredictError(f"tta must be one of {list(TTAS)}, got {self.tta!r}")
        if self.blend not in BLENDS:
            raise PredictError(f"blend must be one of {list(BLENDS)}, got {self.blend!r}")
        if self.checkpoint not in CHECKPOINT_FILES:
            raise PredictError(f"checkpoint must be one of {list(CHECKPOINT_FILES)}, got {self.checkpoint!r}")
        if self.batch_size < 1:
            raise PredictError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.num_workers != "auto" and (not str(self.num_workers).isdigit()):
            raise PredictError(f"num_workers must be auto or an integer >= 0, got {self.num_workers!r}")
        if str(self.precision) not in runtime.PRECISIONS:
            raise PredictError(f"precision must be one of {list(runtime.PRECISIONS)}, got {self.precision!r}")
        if self.channels_last not in ("auto", True, False):
            raise PredictError(f"channels_last must be auto, true or false, got {self.channels_last!r}")
        if self.transforms not in ("auto", "device", "workers"):
            raise PredictError(f"transforms must be auto, device or workers, got {self.transforms!r}")

    @property
    def members_path(self) -> Path:
        return self.output.with_name(f"{self.output.stem}.members.csv")

    @property
    def oof_path(self) -> Path:
        return self.output.with_name(f"{self.output.stem}.oof.csv")


def _path(value: Any) -> Path:
    return Path(os.path.expanduser(str(value)))


def resolve_device(device: str = "auto"):
    """``auto``: the first GPU if one is visible, else the CPU (:func:`seti.runtime.resolve_device`)."""
    try:
        return runtime.resolve_device(device)
    except ValueError as err:
        raise PredictError(str(err)) from err


def resolve_workers(num_workers: int | str, n_items: int, batch_size: int) -> int:
    """``auto``: one worker per CPU up to 16, never more than there are batches, none for a single batch."""
    if num_workers != "auto":
        return int(num_workers)
    batches = math.ceil(n_items / batch_size)
    if batches <= 1:
        return 0
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        cpus = os.cpu_count() or 1
    return max(0, min(16, cpus, batches))


# ================================================================================= checkpoints
@dataclass(frozen=True)
class MemberSpec:
    """One ensemble member before loading: its column name, checkpoint file and run directory (if any)."""

    name: str
    ckpt_path: Path
    run_dir: Path | None


def find_checkpoints(path: str | Path, checkpoint: str = "best") -> list[MemberSpec]:
    """A checkpoint file, a run directory (its ``checkpoints/<checkpoint>.ckpt``) or a sweep directory.

    In a sweep directory every run below it (any depth, found by its metrics.json) that finished is a
    member; failed, unfinished or checkpoint-less runs are logged and skipped. No finished run is an error.
    """
    path = _path(path)
    if not path.exists():
        raise CheckpointError(
            f"ckpt={path} does not exist: pass a checkpoint file, a run directory or a sweep directory"
        )
    if path.is_file():
        run_dir = path.parent.parent if path.parent.name == "checkpoints" else None
        if run_dir is None:
            name = path.stem
        else:
            name = run_dir.name if path.stem == "best" else f"{run_dir.name}/{path.stem}"
        return [MemberSpec(name, path, run_dir)]
    if (path / METRICS_JSON).is_file() or (path / "checkpoints").is_dir():
        metrics = read_metrics(path)
        if metrics is not None and metrics.status != "finished":
            raise CheckpointError(
                f"run {path} did not finish (status {metrics.status!r}"
                + (f": {metrics.error}" if metrics.error else "")
                + "); pass one of its checkpoint files to use it anyway"
            )
        ckpt = path / "checkpoints" / f"{checkpoint}.ckpt"
        if not ckpt.is_file():
            raise CheckpointError(
                f"run {path} has no checkpoints/{checkpoint}.ckpt (a non-trainable model, or deleted?)"
            )
        return [MemberSpec(path.resolve().name, ckpt, path)]
    run_dirs = sorted({p.parent for p in path.rglob(METRICS_JSON)})
    if not run_dirs:
        raise CheckpointError(f"{path} holds no run directories (no metrics.json below it): is it a sweep directory?")
    members, skipped = [], []
    for run_dir in run_dirs:
        rel = run_dir.relative_to(path).as_posix()
        metrics = read_metrics(run_dir)
        ckpt = run_dir / "checkpoints" / f"{checkpoint}.ckpt"
        if metrics is None or metrics.status != "finished":
            status = None if metrics is None else metrics.status
            error = f": {metrics.error}" if metrics is not None and metrics.error else ""
            skipped.append(f"{rel} (status {status!r}{error})")
        elif not ckpt.is_file():
            skipped.append(f"{rel} (finished, but has no checkpoints/{checkpoint}.ckpt)")
        else:
            members.append(MemberSpec(rel, ckpt, run_dir))
    for line in skipped:
        log.warning("skipping run %s", line)
    if not members:
        raise CheckpointError(
            f"no finished run with checkpoints/{checkpoint}.ckpt under {path}; {len(skipped)} run(s) skipped: "
            + "; ".join(skipped[:5])
        )
    log.info("sweep %s: %d finished run(s), %d skipped", path, len(members), len(skipped))
    return members


def load_checkpoint(path: str | Path) -> dict:
    """Load safely (``weights_only=True``: no pickled code runs) and check it is one of train.py's."""
    from seti.checkpoints import CheckpointLoadError, load_checkpoint_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        checkpoint = load_checkpoint_file(path, purpose="load")
    except CheckpointLoadError as err:  # one loader for training and predict; predict's own error type
        raise CheckpointError(str(err)) from err
    if not isinstance(checkpoint.get("seti_config"), dict):
        raise CheckpointError(
            f"checkpoint {path} has no seti_config: it was not written by this project's train.py, so the "
            "preprocessing it was trained with is unknown. Retrain with train.py"
        )
    hp = checkpoint.get("hyper_parameters")
    if not isinstance(hp, dict) or "backbone" not in hp or "in_chans" not in hp:
        raise CheckpointError(f"checkpoint {path} lacks hyper_parameters backbone/in_chans; it cannot be rebuilt")
    return checkpoint


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:300]


def preprocessor_from_config(config: dict, where: str | Path = "checkpoint") -> Preprocessor:
    """The run's preprocessing, rebuilt from its resolved config's ``data`` section."""
    data = config.get("data") or {}
    missing = [k for k in PREPROCESSING_KEYS if k not in data]
    if missing:
        raise CheckpointError(f"{where}: seti_config.data lacks {missing}; cannot rebuild its preprocessing")
    try:
        return Preprocessor(
            panels=data["panels"],
            layout=data["layout"],
            background=data["background"],
            image_size=tuple(data["image_size"]),
            clip=None if data["clip"] is None else tuple(data["clip"]),
        )
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{where}: its seti_config.data has an invalid preprocessing: {err}") from err


def build_model(checkpoint: dict, path: str | Path):
    """Rebuild the classifier from the checkpoint's hyperparameters and load its weights (strictly)."""
    from seti.models.classifier import CadenceClassifier

    hp = checkpoint["hyper_parameters"]
    # The weights come from the checkpoint: never look for the run's pretrained file again.
    backbone = {**dict(hp["backbone"]), "pretrained_path": None, "grad_checkpointing": False}
    try:
        model = CadenceClassifier(
            backbone=backbone,
            in_chans=int(hp["in_chans"]),
            optimizer=None,
            channels_last=False,
            name=hp.get("name"),  # predict.py's channels_last decides (engine.score_cadences)
        )
    except (TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"checkpoint {path}: cannot build its model {backbone.get('name')!r}: {err}") from err
    load_weights(model, checkpoint["state_dict"], path)
    return model.eval()


def load_weights(model, state: dict, path: str | Path) -> None:
    """``load_state_dict`` with an error that names the checkpoint and lists what differs."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if shapes:
            parts.append(f"{len(shapes)} tensor(s) of another shape, e.g. " + "; ".join(shapes[:3]))
        if missing:
            parts.append(f"{len(missing)} tensor(s) missing from the checkpoint, e.g. {missing[:3]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensor(s), e.g. {unexpected[:3]}")
        hp = getattr(model, "hparams", {})
        raise CheckpointError(
            f"checkpoint {path} does not fit the model it describes (backbone {hp.get('backbone', {}).get('name')!r}, "
            f"in_chans={hp.get('in_chans')}): "
            + "; ".join(parts)
            + ". It holds weights of another model or input shape (another backbone, panels or layout)"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {path} does not fit its model: {_first_line(err)}") from err


@dataclass
class Member:
    """A loaded ensemble member: the model in eval mode and the preprocessing it was trained with."""

    spec: MemberSpec
    preprocess: Preprocessor
    model: Any
    config: dict

    @property
    def name(self) -> str:
        return self.spec.name


def load_member(spec: MemberSpec) -> Member:
    checkpoint = load_checkpoint(spec.ckpt_path)
    preprocess = preprocessor_from_config(checkpoint["seti_config"], spec.ckpt_path)
    in_chans = int(checkpoint["hyper_parameters"]["in_chans"])
    if preprocess.in_chans != in_chans:
        raise CheckpointError(
            f"checkpoint {spec.ckpt_path}: its preprocessing (panels={preprocess.panels}, layout={preprocess.layout}) "
            f"gives {preprocess.in_chans} channel(s) but its model takes in_chans={in_chans}; the file was edited or mixed up"
        )
    model = build_model(checkpoint, spec.ckpt_path)
    return Member(spec, preprocess, model, checkpoint["seti_config"])


def load_members(specs: Sequence[MemberSpec]) -> list[Member]:
    """Load every member before predicting anything, so one bad checkpoint fails the job up front."""
    members = [load_member(spec) for spec in specs]
    names = [m.name for m in members]
    if len(set(names)) != len(names):  # e.g. two sweeps' runs of the same name: make columns unique
        for i, member in enumerate(members):
            member.spec = MemberSpec(f"{i}:{member.name}", member.spec.ckpt_path, member.spec.run_dir)
    return members


def group_by_preprocessing(members: Sequence[Member]) -> dict[Preprocessor, list[Member]]:
    """Members with equal preprocessing share one Dataset; the others get their own."""
    groups: dict[Preprocessor, list[Member]] = {}
    for member in members:
        groups.setdefault(member.preprocess, []).append(member)
    return groups


# ================================================================================= inference
def _model_stack(models: Sequence[Any]):
    """One module returning every member's logit, (B, N): a group's members score each batch together."""
    import torch

    class ModelStack(torch.nn.Module):
        def __init__(self, members: Sequence[torch.nn.Module]) -> None:
            super().__init__()
            self.members = torch.nn.ModuleList(members)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.stack([m(x).reshape(x.shape[0]) for m in self.members], dim=1)

    return ModelStack(models).eval()


def check_files(root: Path, split: str, ids: Sequence[str]) -> None:
    """Every cadence behind ``ids`` must exist and look sane, checked up front (headers only: fast)."""
    from seti.data.dataset import find_bad_files

    paths = [cadence_path(root, split, cadence_id) for cadence_id in ids]
    bad = find_bad_files(paths)
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
    *,
    batch_size: int = 64,
    num_workers: int | str = "auto",
    device=None,
    precision: str = "32-true",
    tta: str = "none",
    channels_last: bool | str = "auto",
    transforms: str = "auto",
    stats: dict | None = None,
) -> pd.DataFrame:
    """Probabilities of every member for ``ids`` (rows in ``ids`` order): ``id`` + one column per member.

    One pass over the files for the whole ensemble: workers read raw cadences, and each batch is
    preprocessed once per preprocessing group (batched; on ``device``, or in the workers on a CPU, see
    ``transforms``) and scored by all of that group's members. ``stats``, if given, receives the pass's
    counts (batches, cadences read, channels_last, transforms).
    """
    import torch
    from torch.utils.data import DataLoader

    from seti.inference.engine import (
        CollatePreprocessed,
        RawCadenceDataset,
        collate_raw,
        resolve_transforms,
        score_cadences,
    )

    device = torch.device(device or "cpu")
    frame = pd.DataFrame({"id": list(ids)})
    workers = resolve_workers(num_workers, len(ids), batch_size)
    groups = group_by_preprocessing(members)
    where = resolve_transforms(transforms, device, workers)
    loader = DataLoader(
        RawCadenceDataset([cadence_path(root, split, cadence_id) for cadence_id in ids]),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        collate_fn=CollatePreprocessed(list(groups)) if where == "workers" else collate_raw,
    )
    started = time.perf_counter()
    indices, probs, counts = score_cadences(
        [(preprocess, _model_stack([m.model for m in group])) for preprocess, group in groups.items()],
        loader,
        device,
        precision,
        tta,
        channels_last,
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
        tta,
        seconds,
        len(ids) / max(seconds, 1e-9),
    )
    if stats is not None:
        stats.update(counts, seconds=seconds, transforms=where)
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


# ================================================================================= out-of-fold
def out_of_fold(
    members: Sequence[Member],
    root: Path,
    labels: pd.DataFrame,
    *,
    tta: str = "none",
    blend_method: str = "mean",
    reuse_val_predictions: bool | None = None,
    batch_size: int = 64,
    num_workers: int | str = "auto",
    device=None,
    precision: str = "32-true",
    channels_last: bool | str = "auto",
    transforms: str = "auto",
) -> dict:
    """Each run's predictions on its own validation fold, averaged per id over runs that cover it.

    Source: with ``tta=none`` a run's ``val_predictions.csv`` is reused as is (train.py wrote it from
    the best checkpoint, with the same preprocessing, at the run's training precision); with ``tta=flip``,
    or a checkpoint other than the run's best.ckpt, its ids are re-predicted from ``ROOT/train``.
    ``reuse_val_predictions`` forces either. With ``blend_method=rank`` and several runs, each run's
    predictions become ranks within its own fold before averaging, as for the test set.

    Returns {"frame": id,target,pred in train_labels order, "auroc", "uncovered": ids no fold covers,
    "per_run": [{name, n, auroc, source}]}.
    """
    from sklearn.metrics import roc_auc_score

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
        is_best = spec.ckpt_path.resolve() == (spec.run_dir / "checkpoints" / "best.ckpt").resolve()
        reuse = (tta == "none" and is_best) if reuse_val_predictions is None else bool(reuse_val_predictions)
        if reuse:
            preds = val["pred"].to_numpy(dtype=float)
            source = VAL_PREDICTIONS_CSV
        else:
            ids = val["id"].tolist()
            check_files(root, "train", ids)
            preds = predict_ids(
                [member],
                root,
                "train",
                ids,
                batch_size=batch_size,
                num_workers=num_workers,
                device=device,
                precision=precision,
                tta=tta,
                channels_last=channels_last,
                transforms=transforms,
            )[member.name].to_numpy()
            source = f"re-predicted (tta={tta})"
        targets = labels.set_index("id").loc[val["id"], "target"].to_numpy()
        run_auroc = float(roc_auc_score(targets, preds)) if len(set(targets)) == 2 else float("nan")
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
    auroc = float(roc_auc_score(frame["target"], frame["pred"])) if frame["target"].nunique() == 2 else float("nan")
    return {"frame": frame[["id", "target", "pred"]], "auroc": auroc, "uncovered": uncovered, "per_run": per_run}


# ================================================================================= the job
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


#: predict.py keys that take a path: their values are quoted for Hydra when they hold characters its
#: override grammar treats specially (job directories of sweeps made before names became plain).
PATH_KEYS = ("ckpt", "data.root", "output")
_HYDRA_SPECIAL = set("=,[]{}()'\"\\ :~")


def quote_path_overrides(argv: Sequence[str]) -> list[str]:
    """``ckpt=logs/multirun/x/aug=none,model=b0`` -> ``ckpt='logs/multirun/x/aug=none,model=b0'``.

    Hydra would fail on such a value ("mismatched input '='"); quoting it is what a user would have to do
    by hand (and twice over in a shell). Values already quoted, or holding a quote or backslash, are left
    as they are.
    """
    out = []
    for item in argv:
        key, sep, value = item.partition("=")
        if (
            sep
            and key in PATH_KEYS
            and value
            and value[0] not in "'\""
            and not (set(value) & set("'\\\\"))
            and set(value) & _HYDRA_SPECIAL
        ):
            item = f"{key}='{value}'"
        out.append(item)
    return out


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
    check_files(root, "test", ids)
    labels = read_id_table(root / LABELS_CSV, require_binary_target=True) if settings.oof else None
    specs = find_checkpoints(settings.ckpt, settings.checkpoint)
    members = load_members(specs)
    device = resolve_device(settings.device)
    precision = runtime.resolve_precision(settings.precision, cuda=device.type == "cuda")
    groups = group_by_preprocessing(members)
    log.info(
        "%d member(s) in %d preprocessing group(s) on %s (%s), tta=%s, blend=%s: %s",
        len(members),
        len(groups),
        device,
        precision,
        settings.tta,
        settings.blend,
        [m.name for m in members],
    )
    started = time.perf_counter()
    passes: dict = {}
    member_preds = predict_ids(
        members,
        root,
        "test",
        ids,
        batch_size=settings.batch_size,
        num_workers=settings.num_workers,
        device=device,
        precision=precision,
        tta=settings.tta,
        channels_last=settings.channels_last,
        transforms=settings.transforms,
        stats=passes,
    )
    seconds = time.perf_counter() - started
    names = [m.name for m in members]
    result = pd.DataFrame({"id": ids, "target": blend(member_preds[names].to_numpy(), settings.blend)})
    summary: dict[str, Any] = {
        "output": str(settings.output),
        "members_file": str(settings.members_path),
        "members": names,
        "num_ids": len(ids),
        "groups": len(groups),
        "device": str(device),
        "precision": precision,
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
        oof = out_of_fold(
            members,
            root,
            labels,
            tta=settings.tta,
            blend_method=settings.blend,
            batch_size=settings.batch_size,
            num_workers=settings.num_workers,
            device=device,
            precision=precision,
            channels_last=settings.channels_last,
            transforms=settings.transforms,
        )
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
