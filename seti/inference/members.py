"""Ensemble members: the checkpoints behind ``ckpt`` (a file, a run or a sweep), each loaded as the model
its run trained and the preprocessing it was trained with, grouped by that preprocessing.

The model is rebuilt from the checkpoint's own config (``seti_config.model``, the ``_target_`` the run was
instantiated from), so any model train.py trains goes through predict.py, the dedoppler baseline included.
A checkpoint that cannot be used raises seti.checkpoints' one ``CheckpointLoadError``; that module (and with
it Lightning) is imported inside the functions, so predict.py refuses a bad command line before paying for it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seti.config import model_arguments
from seti.data.preprocess import Preprocessor
from seti.inference.settings import PREPROCESSING_KEYS, PredictError, expand_path
from seti.rundir import CHECKPOINTS, CONFIG_YAML, METRICS_JSON, checkpoint_path, read_config, read_metrics

log = logging.getLogger(__name__)

#: Model arguments fixed for inference wherever the model's class takes them: the weights come from the
#: checkpoint, nothing is trained, and predict.py's own channels_last decides the memory layout.
INFERENCE_ARGUMENTS = {"optimizer": None, "scheduler": None, "channels_last": False, "compile": False}
INFERENCE_BACKBONE = {"pretrained_path": None, "grad_checkpointing": False}
#: report-only keys that runs made before model configs had a ``meta`` node wrote beside the constructor's
#: arguments (the dedoppler's ``fitted_on``): left out when such a checkpoint's model is rebuilt
LEGACY_META_KEYS = ("fitted_on",)


@dataclass(frozen=True)
class MemberSpec:
    """One ensemble member before loading: its column name, checkpoint file and run directory (if any)."""

    name: str
    ckpt_path: Path
    run_dir: Path | None


def find_checkpoints(
    paths: str | Path | Sequence[str | Path], checkpoint: str = "best", allow_unfinished: bool = False
) -> list[MemberSpec]:
    """The members behind ``ckpt``: each path a checkpoint file, a run directory (its
    ``checkpoints/<checkpoint>.ckpt``) or a sweep directory (every run below it), in the order given.

    A run that did not finish (failed, interrupted, or no metrics.json: still running or killed) is refused,
    naming every such run, unless ``allow_unfinished``: then a sweep's finished runs are used without them
    and a run directory's current checkpoint is used, each with a warning.
    """
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    return [spec for path in paths for spec in _find(expand_path(path), checkpoint, allow_unfinished)]


def _find(path: Path, checkpoint: str, allow_unfinished: bool) -> list[MemberSpec]:
    if not path.exists():
        raise PredictError(f"ckpt={path} does not exist: pass a checkpoint file, a run directory or a sweep directory")
    if path.is_file():
        run_dir = path.parent.parent if path.parent.name == CHECKPOINTS else None
        if run_dir is None:
            name = path.stem
        else:
            name = run_dir.name if path.stem == "best" else f"{run_dir.name}/{path.stem}"
        return [MemberSpec(name, path, run_dir)]
    if _is_run_dir(path):
        problem = unfinished(path)
        if problem is not None and not allow_unfinished:
            raise PredictError(
                f"run {path} {problem}; pass allow_unfinished=true (or one of its checkpoint files) to use its "
                f"{CHECKPOINTS}/{checkpoint}.ckpt as it is now"
            )
        ckpt = checkpoint_path(path, checkpoint)
        if not ckpt.is_file():
            raise PredictError(
                f"run {path} has no {CHECKPOINTS}/{checkpoint}.ckpt (deleted? a model with nothing to train, "
                "such as the dedoppler, writes only best.ckpt)"
            )
        if problem is not None:
            log.warning("run %s %s: using its %s as it is now (allow_unfinished=true)", path, problem, ckpt.name)
        return [MemberSpec(path.resolve().name, ckpt, path)]
    return _find_in_sweep(path, checkpoint, allow_unfinished)


def _find_in_sweep(path: Path, checkpoint: str, allow_unfinished: bool) -> list[MemberSpec]:
    run_dirs = sorted(
        {p.parent for p in path.rglob(METRICS_JSON)}
        | {p.parent.parent for p in path.rglob(str(CONFIG_YAML)) if _is_run_dir(p.parent.parent)}
    )
    if not run_dirs:
        raise PredictError(f"{path} holds no run directories (no metrics.json below it): is it a sweep directory?")
    members, left_out, without_file = [], [], []
    for run_dir in run_dirs:
        rel = run_dir.relative_to(path).as_posix()
        problem = unfinished(run_dir)
        if problem is not None:
            left_out.append(f"{rel} ({problem})")
        elif not checkpoint_path(run_dir, checkpoint).is_file():
            without_file.append(f"{rel} (finished, but has no {CHECKPOINTS}/{checkpoint}.ckpt)")
        else:
            members.append(MemberSpec(rel, checkpoint_path(run_dir, checkpoint), run_dir))
    if left_out and not allow_unfinished:
        raise PredictError(
            f"sweep {path}: {len(left_out)} of {len(run_dirs)} run(s) did not finish: " + "; ".join(left_out) + ". "
            "Wait for the running ones, or re-run the sweep with the same hydra.sweep.dir (it resumes them), or "
            f"pass allow_unfinished=true to ensemble only the {len(members)} finished one(s)"
        )
    for line in left_out:
        log.warning("leaving out run %s (allow_unfinished=true)", line)
    for line in without_file:
        log.warning("leaving out run %s", line)
    if not members:
        skipped = left_out + without_file
        raise PredictError(
            f"no finished run with {CHECKPOINTS}/{checkpoint}.ckpt under {path}; {len(skipped)} run(s) left out: "
            + "; ".join(skipped[:5])
        )
    log.info("sweep %s: %d finished run(s), %d left out", path, len(members), len(left_out) + len(without_file))
    return members


def _is_run_dir(path: Path) -> bool:
    """A training run's directory: it holds metrics.json, checkpoints/ or train.py's composed config (a run
    killed before it wrote anything else still has that)."""
    if (path / METRICS_JSON).is_file() or (path / CHECKPOINTS).is_dir():
        return True
    config = read_config(path)
    return "trainer" in config and "model" in config


def unfinished(run_dir: Path) -> str | None:
    """Why a run directory does not hold a finished run, or None when its metrics.json says finished."""
    metrics = read_metrics(run_dir)
    if metrics is None:
        return f"has no {METRICS_JSON}: it is still running, or was killed (kill -9, out of memory) before writing it"
    if metrics.status != "finished":
        return f"did not finish (status {metrics.status!r}" + (f": {metrics.error}" if metrics.error else "") + ")"
    return None


def load_checkpoint(path: str | Path) -> dict:
    """Load safely (``weights_only=True``: no pickled code runs) and check it is one of train.py's, with
    the config its model is rebuilt from."""
    from seti.checkpoints import CheckpointLoadError, load_checkpoint_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointLoadError(f"checkpoint {path} does not exist")
    checkpoint = load_checkpoint_file(path, purpose="load")
    config = checkpoint.get("seti_config")
    if not isinstance(config, dict):
        raise CheckpointLoadError(
            f"checkpoint {path} has no seti_config: it was not written by this project's train.py, so the "
            "preprocessing it was trained with is unknown. Retrain with train.py"
        )
    model = config.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("_target_"), str) or not model["_target_"]:
        raise CheckpointLoadError(
            f"checkpoint {path} has no seti_config.model._target_ (the model class its run was built from), so "
            "its model cannot be rebuilt. Retrain with train.py"
        )
    return checkpoint


def preprocessor_from_config(config: dict, where: str | Path = "checkpoint") -> Preprocessor:
    """The run's preprocessing, rebuilt from its resolved config's ``data`` section."""
    from seti.checkpoints import CheckpointLoadError

    data = config.get("data") or {}
    missing = [k for k in PREPROCESSING_KEYS if k not in data]
    if missing:
        raise CheckpointLoadError(f"{where}: seti_config.data lacks {missing}; cannot rebuild its preprocessing")
    try:
        return Preprocessor(
            panels=data["panels"],
            layout=data["layout"],
            background=data["background"],
            image_size=tuple(data["image_size"]),
            clip=None if data["clip"] is None else tuple(data["clip"]),
        )
    except (TypeError, ValueError) as err:
        raise CheckpointLoadError(f"{where}: its seti_config.data has an invalid preprocessing: {err}") from err


def _module_class(target: str, key: str, path: str | Path) -> type:
    """The class ``target`` names, which must be a ``torch.nn.Module``: a checkpoint is data, and its config
    may only name modules to build, never another callable (its weights are loaded with weights_only=True
    for the same reason)."""
    import torch
    from hydra.utils import get_object

    from seti.checkpoints import CheckpointLoadError, first_line

    try:
        obj = get_object(target)
    except Exception as err:  # noqa: BLE001 - hydra raises ImportError/ValueError/... for a bad path
        raise CheckpointLoadError(
            f"checkpoint {path}: {key} = {target!r} cannot be imported ({first_line(err)}); is the package "
            "that defines it installed?"
        ) from err
    if not (inspect.isclass(obj) and issubclass(obj, torch.nn.Module)):
        raise CheckpointLoadError(
            f"checkpoint {path}: {key} = {target!r} is not a torch.nn.Module class; predict.py builds only "
            "modules from a checkpoint's config"
        )
    return obj


def _check_targets(node: Any, key: str, path: str | Path) -> None:
    """Every nested ``_target_`` left in the model config must name a module class too."""
    if isinstance(node, dict):
        if isinstance(node.get("_target_"), str):
            _module_class(node["_target_"], f"{key}._target_", path)
        for name, value in node.items():
            _check_targets(value, f"{key}.{name}", path)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _check_targets(value, f"{key}[{i}]", path)


def inference_model_config(model_config: dict, in_chans: int, path: str | Path = "checkpoint") -> dict:
    """The run's model config as predict.py instantiates it: ``in_chans`` and ``mixup=None`` as train.py
    passes them, no optimizer or scheduler, no pretrained file, no gradient checkpointing, no
    channels_last or compile (where the model's class takes these), and no report-only ``meta`` node."""
    config = {k: v for k, v in model_arguments(model_config).items() if k not in LEGACY_META_KEYS}
    cls = _module_class(config["_target_"], "seti_config.model._target_", path)
    parameters = inspect.signature(cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    for name, value in INFERENCE_ARGUMENTS.items():
        if name in parameters or (takes_any and name in config):
            config[name] = value
    if isinstance(config.get("backbone"), dict):
        config["backbone"] = {**config["backbone"], **INFERENCE_BACKBONE}
    _check_targets({k: v for k, v in config.items() if k != "_target_"}, "seti_config.model", path)
    return {**config, "in_chans": int(in_chans), "mixup": None}


def checkpoint_in_chans(checkpoint: dict, preprocess: Preprocessor) -> int:
    """The model's input channels: those it recorded (the CNNs' ``hyper_parameters.in_chans``), else its
    preprocessing's, as train.py gave them (a model that records none, such as the dedoppler)."""
    hp = checkpoint.get("hyper_parameters")
    return int(hp["in_chans"]) if isinstance(hp, dict) and "in_chans" in hp else preprocess.in_chans


def build_model(checkpoint: dict, path: str | Path, in_chans: int | None = None):
    """Rebuild the run's model from the checkpoint's config (``hydra.utils.instantiate`` of its
    ``seti_config.model``) and load its weights strictly; in eval mode. ``in_chans`` defaults to
    :func:`checkpoint_in_chans`."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    from seti.checkpoints import CheckpointLoadError, first_line, load_state_into

    if in_chans is None:
        in_chans = checkpoint_in_chans(checkpoint, preprocessor_from_config(checkpoint["seti_config"], path))
    config = inference_model_config(checkpoint["seti_config"]["model"], in_chans, path)
    target = config["_target_"]
    try:
        model = instantiate(config, _convert_="partial")
    except (InstantiationException, TypeError, ValueError, RuntimeError) as err:
        cause = err.__cause__ if isinstance(err, InstantiationException) and err.__cause__ is not None else err
        raise CheckpointLoadError(f"checkpoint {path}: cannot build its model {target!r}: {first_line(cause)}") from err
    load_state_into(model, checkpoint["state_dict"], path)
    return model.eval()


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
    from seti.checkpoints import CheckpointLoadError

    checkpoint = load_checkpoint(spec.ckpt_path)
    preprocess = preprocessor_from_config(checkpoint["seti_config"], spec.ckpt_path)
    in_chans = checkpoint_in_chans(checkpoint, preprocess)
    if preprocess.in_chans != in_chans:
        raise CheckpointLoadError(
            f"checkpoint {spec.ckpt_path}: its preprocessing (panels={preprocess.panels}, layout={preprocess.layout}) "
            f"gives {preprocess.in_chans} channel(s) but its model takes in_chans={in_chans}; the file was edited or mixed up"
        )
    model = build_model(checkpoint, spec.ckpt_path, in_chans)
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
