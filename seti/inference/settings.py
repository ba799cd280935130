"""predict.py's settings: the command line checked before Hydra composes, the validated settings, and the
``auto`` choices of device and workers.

Preprocessing keys are refused here, not silently ignored: they come from each checkpoint's own config,
so the test set is preprocessed exactly as the model was trained.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from seti import runtime
from seti.rundir import CHECKPOINT_NAMES

#: data.* keys that define the preprocessing: they come from the checkpoint, never from the command line.
PREPROCESSING_KEYS = ("panels", "layout", "background", "image_size", "clip")
TTAS = ("none", "flip")
BLENDS = ("mean", "rank")
CHECKPOINT_FILES = CHECKPOINT_NAMES


class PredictError(ValueError):
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
            ckpt=expand_path(get("ckpt", None)),
            root=expand_path(get("data.root", None)),
            output=expand_path(get("output", None)),
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


def expand_path(value: Any) -> Path:
    """A path from the command line, ``~`` expanded."""
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
