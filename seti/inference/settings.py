"""predict.py's settings: the command line checked before Hydra composes, the validated settings, the
options of one scoring pass, and the ``auto`` choice of workers.

Preprocessing keys are refused here, not silently ignored: they come from each checkpoint's own config,
so the test set is preprocessed exactly as the model was trained.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from seti import runtime
from seti.errors import SetiError
from seti.models.scoring import check_tta
from seti.rundir import CHECKPOINT_NAMES

#: data.* keys that define the preprocessing: they come from the checkpoint, never from the command line.
PREPROCESSING_KEYS = ("panels", "layout", "background", "image_size", "clip")
BLENDS = ("mean", "rank")
#: how much of every test file is read before inference: header (shape and dtype, fast) | full (every value)
CHECKS = ("header", "full")
#: ``batch_size=auto``: cadences per inference batch by device type. A GPU needs large batches to be busy
#: (flip TTA doubles it: 512 images per forward pass; lower batch_size where that does not fit); on a CPU a
#: larger batch gains nothing.
AUTO_BATCH_SIZE = {"cuda": 256, "cpu": 64}


class PredictError(SetiError, ValueError):
    """A bad predict.py input (key, path, output): the message names it and says how to fix it."""


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


#: predict.py keys that take a path: their values are quoted for Hydra when they hold characters its
#: override grammar treats specially (job directories of sweeps made before names became plain).
PATH_KEYS = ("ckpt", "data.root", "output")
_HYDRA_SPECIAL = set("=,[]{}()'\"\\ :~")


def quote_path_overrides(argv: Sequence[str]) -> list[str]:
    """``ckpt=logs/multirun/x/aug=none,model=b0`` -> ``ckpt='logs/multirun/x/aug=none,model=b0'``.

    Hydra would fail on such a value ("mismatched input '='"); quoting it is what a user would have to do
    by hand (and twice over in a shell). Values already quoted, or holding a quote or backslash, are left
    as they are, and so is a list (``ckpt=[a,b]``): Hydra reads it, and an item holding ``=`` or ``,``
    must be quoted by hand (``ckpt=['x/aug=none,model=b0',y]``).
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
            and not (value.startswith("[") and value.endswith("]"))
        ):
            item = f"{key}='{value}'"
        out.append(item)
    return out


@dataclass(frozen=True)
class ScoringOptions:
    """How one pass over the files reads and scores cadences (:func:`~seti.inference.ensemble.predict_ids`,
    :func:`~seti.inference.oof.out_of_fold`): device and precision already resolved."""

    check: str
    batch_size: int
    num_workers: int | str
    device: torch.device
    precision: str
    tta: str
    channels_last: bool | str
    transforms: str
    pad_last_batch: bool = True
    compile: bool = False


@dataclass(frozen=True)
class PredictSettings:
    """predict.py's validated settings, one field per key of conf/predict.yaml (the only place their
    defaults are written: :meth:`from_config` takes the composed config and refuses one that lacks a key)."""

    ckpt: tuple[Path, ...]
    root: Path
    output: Path
    checkpoint: str
    allow_unfinished: bool
    overwrite: bool
    check: str
    tta: str
    blend: str
    batch_size: int | str
    pad_last_batch: bool
    num_workers: int | str
    device: str
    precision: str
    channels_last: bool | str
    compile: bool | str
    transforms: str
    oof: bool

    @classmethod
    def from_config(cls, cfg: DictConfig | dict) -> PredictSettings:
        """The settings from predict.py's composed config (conf/predict.yaml plus the command line)."""
        cfg = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(cfg)
        for key in cfg.get("data") or {}:
            _check_data_key(f"data.{key}")
        keys = {f.name: f.name for f in fields(cls)} | {"root": "data.root"}
        given = OmegaConf.to_container(cfg, resolve=False)
        absent = [key for key in keys.values() if not _has_key(given, key)]
        if absent:
            raise PredictError(
                f"predict's config lacks {absent}: pass conf/predict.yaml as composed (predict.py does; in Python, "
                "hydra.compose('predict', overrides=[...]) under conf/), which holds every key's default"
            )
        missing = [k for k in REQUIRED_KEYS if OmegaConf.select(cfg, k, default=None) in (None, "")]
        if missing:
            examples = {
                "ckpt": "ckpt=logs/multirun/<sweep> or ckpt=[<run a>,<run b>]",
                "data.root": "data.root=/path/to/kaggle",
                "output": "output=submission.csv",
            }
            raise PredictError("required key(s) not set: " + ", ".join(f"{k} (e.g. {examples[k]})" for k in missing))
        values = {name: OmegaConf.select(cfg, key) for name, key in keys.items()}
        values.update(
            ckpt=_ckpt_paths(values["ckpt"]),
            root=expand_path(values["root"]),
            output=expand_path(values["output"]),
        )
        settings = cls(**values)
        settings.check_values()
        return settings

    def check_values(self) -> None:
        """Every key's value, refused with a message naming the key and its choices."""
        choices = {
            "checkpoint": CHECKPOINT_NAMES,
            "check": CHECKS,
            "blend": BLENDS,
            "precision": tuple(runtime.PRECISIONS),
            "transforms": ("auto", "device", "workers"),
        }
        for key, allowed in choices.items():
            if str(getattr(self, key)) not in allowed:
                raise PredictError(f"{key} must be one of {list(allowed)}, got {getattr(self, key)!r}")
        try:
            check_tta(self.tta)
            runtime.check_switch(self.channels_last, "channels_last")
            runtime.check_switch(self.compile, "compile")
        except ValueError as err:
            raise PredictError(str(err)) from err
        for key in ("allow_unfinished", "overwrite", "oof", "pad_last_batch"):
            if not isinstance(getattr(self, key), bool):
                raise PredictError(f"{key} must be true or false, got {getattr(self, key)!r}")
        if self.batch_size != "auto" and (
            isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1
        ):
            raise PredictError(f"batch_size must be auto or an integer >= 1, got {self.batch_size!r}")
        if self.num_workers != "auto" and (not str(self.num_workers).isdigit()):
            raise PredictError(f"num_workers must be auto or an integer >= 0, got {self.num_workers!r}")

    def scoring(self) -> ScoringOptions:
        """The options of a scoring pass, with ``device`` and ``precision`` resolved (seti.runtime's rules)."""
        try:
            device = runtime.resolve_device(self.device)
        except ValueError as err:
            raise PredictError(str(err)) from err
        cuda = device.type == "cuda"
        return ScoringOptions(
            check=self.check,
            batch_size=resolve_batch_size(self.batch_size, device),
            num_workers=self.num_workers,
            device=device,
            precision=runtime.resolve_precision(self.precision, cuda=cuda),
            tta=self.tta,
            channels_last=self.channels_last,
            transforms=self.transforms,
            pad_last_batch=self.pad_last_batch,
            compile=runtime.resolve_switch(self.compile, cuda),
        )

    @property
    def members_path(self) -> Path:
        return self.output.with_name(f"{self.output.stem}.members.csv")

    @property
    def timing_path(self) -> Path:
        return self.output.with_name(f"{self.output.stem}.timing.json")

    @property
    def oof_path(self) -> Path:
        return self.output.with_name(f"{self.output.stem}.oof.csv")


#: keys conf/predict.yaml leaves ??? (there is no sensible default)
REQUIRED_KEYS = ("ckpt", "data.root", "output")


def _has_key(config: dict, dotted: str) -> bool:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _ckpt_paths(value: Any) -> tuple[Path, ...]:
    """``ckpt=PATH`` or ``ckpt=[PATH,PATH,...]`` (each a checkpoint file, a run or a sweep directory)."""
    items = list(value) if isinstance(value, (list, tuple, ListConfig)) else [value]
    if not items or any(item in (None, "") for item in items):
        raise PredictError(f"ckpt={value} names no checkpoint: pass ckpt=<file|run|sweep> or ckpt=[<run a>,<run b>]")
    return tuple(expand_path(item) for item in items)


def expand_path(value: Any) -> Path:
    """A path from the command line, ``~`` expanded."""
    return Path(os.path.expanduser(str(value)))


def resolve_batch_size(batch_size: int | str, device: torch.device | str) -> int:
    """``batch_size`` as an integer: ``auto`` is :data:`AUTO_BATCH_SIZE` for the device's type."""
    if batch_size == "auto":
        return AUTO_BATCH_SIZE["cuda" if torch.device(device).type == "cuda" else "cpu"]
    return int(batch_size)


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
