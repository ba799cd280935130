"""Early config checks that turn a broken config into a clear message naming the key, and sweep job directory names."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from omegaconf import DictConfig, OmegaConf

from seti.runtime import resolve_benchmark

#: characters a job directory name keeps as they are: all of them plain in Hydra's override grammar, so
#: ``python predict.py ckpt=<job dir>`` works as pasted (no '=', ',', brackets, braces, quotes, '~', ':').
_PLAIN = re.compile(r"[A-Za-z0-9.+]+")
_KEY = re.compile(r"[A-Za-z0-9._]+")


def _plain_value(value: str) -> tuple[str, bool]:
    """(readable form, exact): ``[64,64]`` -> ``64x64``; other specials become '.'; exact when nothing was lost."""
    value = value.strip()
    if value.startswith("[") and value.endswith("]"):
        items = [item.strip() for item in value[1:-1].split(",")]
        text = "x".join(re.sub(r"[^A-Za-z0-9.+]+", ".", item).strip(".") for item in items)
        return text or "empty", False
    if _PLAIN.fullmatch(value):
        return value, True
    return re.sub(r"[^A-Za-z0-9.+]+", ".", value).strip(".") or "empty", False


def job_dirname(overrides: Any = None, exclude: Any = None, default: str = "default") -> str:
    """A sweep job's directory name from its overrides: readable, unique, stable across re-runs, pasteable.

    ``overrides`` is the job's list of ``key=value`` overrides (``hydra.overrides.task``); keys in
    ``exclude`` are left out (paths, devices, workers: they do not change the result). Each becomes
    ``key-value``, joined by ``_`` in key order, e.g. ``aug-none_model-b1``. A list becomes ``64x64``.
    Whenever that spelling could collide with another job's (a list, a value holding other characters, a
    key with a '-'), a short hash of the exact overrides is appended, so two jobs never share a directory.
    Very long names keep a readable head plus the hash. The result holds only ``[A-Za-z0-9._+-]``.
    """
    items = [str(item) for item in (overrides or [])]
    excluded = {str(key) for key in (exclude or [])}
    parts, kept, exact = [], [], True
    for item in sorted(items):
        key, sep, value = item.partition("=")
        key = key.lstrip("+~")
        if key in excluded or not sep:
            continue
        kept.append(f"{key}={value}")
        text, lossless = _plain_value(value)
        if not _KEY.fullmatch(key):
            key, lossless = re.sub(r"[^A-Za-z0-9._]+", ".", key), False
        exact = exact and lossless
        parts.append(f"{key}-{text}")
    if not parts:
        return default
    name = "_".join(parts)
    digest = hashlib.sha1("\n".join(kept).encode()).hexdigest()
    if len(name) > 160:
        return f"{name[:140].rstrip('._-+')}-{digest[:12]}"
    return name if exact else f"{name}-{digest[:6]}"


def check_config(cfg: DictConfig) -> None:
    """Fail before any work with a message naming the key and the fix."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        hints = {"data.root": "data.root=/path/to/kaggle/data (the folder with train_labels.csv)"}
        raise ValueError(
            "config value(s) required but not set: "
            + ", ".join(f"{key} (e.g. {hints[key]})" if key in hints else key for key in missing)
        )
    for group in ("data", "model", "trainer"):
        if group not in cfg or cfg[group] is None:
            raise ValueError(f"config group '{group}' is missing; pick one, e.g. {group}=...")
    data = cfg.data
    num_folds = config_int(cfg, "data.num_folds", minimum=2)
    fold = config_int(cfg, "data.fold", minimum=0)
    if fold >= num_folds:
        raise ValueError(f"data.fold={fold} must be in 0..{num_folds - 1} (data.num_folds={num_folds})")
    if str(OmegaConf.select(cfg, "data.batch_size", default=None)) != "auto":
        config_int(cfg, "data.batch_size", minimum=1)
    config_int(cfg, "data.eval_batch_size", minimum=1, optional=True)
    config_int(cfg, "data.num_workers", minimum=0)
    config_int(cfg, "data.limit_train", minimum=1, optional=True)
    config_int(cfg, "seed", minimum=0)
    size = data.get("image_size")
    if not OmegaConf.is_list(size) or len(size) != 2 or any(_as_int(s) is None or _as_int(s) < 8 for s in size):
        raise ValueError(
            f"data.image_size must be [height, width], two integers >= 8, e.g. data.image_size=[96,128]; got {size}"
        )
    hybrid = OmegaConf.select(cfg, "model.hybrid", default=None)
    if hybrid:  # the drift search reads six stacked panels: refuse any other input before data is touched
        if data.get("panels") != "all" or data.get("layout") != "stack" or _as_int(size[0]) % 6:
            raise ValueError(
                "model.hybrid needs the six panels stacked in one image: data.panels=all data.layout=stack and a "
                f"data.image_size height divisible by 6 (e.g. [180,256]); got panels={data.get('panels')} "
                f"layout={data.get('layout')} image_size={list(size)}"
            )
        cnn_size = hybrid.get("cnn_size")
        if cnn_size is not None and (
            len(cnn_size) != 2
            or any(_as_int(v) is None or _as_int(v) < 8 for v in cnn_size)
            or _as_int(cnn_size[0]) % 6
        ):
            raise ValueError(
                f"model.hybrid.cnn_size must be null or [height, width], both integers >= 8 and the height divisible "
                f"by 6 (one share per panel), e.g. [96,128]; got {cnn_size}"
            )
    if data.get("synthetic"):
        config_int(cfg, "data.synthetic.n", minimum=1)
        config_int(cfg, "data.synthetic.test_n", minimum=0)
        config_int(cfg, "data.synthetic.seed", minimum=0)
        config_int(cfg, "data.synthetic.workers", minimum=1)
        rate = config_number(cfg, "data.synthetic.positive_rate")
        if not 0 <= rate <= 1:
            raise ValueError(f"data.synthetic.positive_rate must lie in [0, 1], got {rate}")
        from seti.data.synthetic.real import check_background_settings

        synthetic = data.synthetic
        check_background_settings(
            str(synthetic.get("backgrounds", "generated")),
            synthetic.get("background_root"),
            config_number(cfg, "data.synthetic.real_fraction") if "real_fraction" in synthetic else 0.5,
            config_number(cfg, "data.synthetic.real_noise") if "real_noise" in synthetic else 0.5,
        )
    max_epochs = config_int(cfg, "trainer.max_epochs", minimum=-1, optional=True)
    if max_epochs is not None and max_epochs == 0 or (max_epochs == -1 and not cfg.trainer.get("max_steps")):
        raise ValueError(
            f"trainer.max_epochs must be >= 1, got {max_epochs}: 0 would train nothing and report the untrained model "
            "(-1, endless, only together with trainer.max_steps)"
        )
    config_int(cfg, "trainer.accumulate_grad_batches", minimum=1, optional=True)
    config_int(cfg, "trainer.check_val_every_n_epoch", minimum=1, optional=True)
    config_int(cfg, "trainer.log_every_n_steps", minimum=1, optional=True)
    for key in ("trainer.limit_train_batches", "trainer.limit_val_batches", "trainer.gradient_clip_val"):
        value = OmegaConf.select(cfg, key, default=None)
        if value is not None and (config_number(cfg, key) <= 0):
            raise ValueError(f"{key} must be > 0 (or null), got {value}")
    resolve_benchmark(cfg.trainer.get("benchmark"), "cpu")  # refuses anything but true/false/auto/null
    if cfg.get("ckpt_path") not in (None, "auto") and not isinstance(cfg.ckpt_path, str):
        raise ValueError(f"ckpt_path must be auto, null or a path, got {cfg.ckpt_path!r}")
    if cfg.get("test_after_fit", "auto") not in ("auto", True, False):
        raise ValueError(f"test_after_fit must be auto, true or false, got {cfg.test_after_fit!r}")


def _as_int(value: Any) -> int | None:
    """An integer from an int or an integral string/float; None for anything else (bools included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return int(value)
    return None


def config_int(cfg: DictConfig, key: str, minimum: int | None = None, optional: bool = False) -> int | None:
    """The integer at ``key``, or a ValueError that names the key and shows a valid override."""
    value = OmegaConf.select(cfg, key, default=None)
    if value is None:
        if optional:
            return None
        raise ValueError(f"{key} is not set; give an integer, e.g. {key}=1")
    number = _as_int(value)
    if number is None:
        raise ValueError(f"{key} must be an integer, got {value!r}; e.g. {key}={max(minimum or 0, 1)}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{key} must be >= {minimum}, got {number}")
    return number


def config_number(cfg: DictConfig, key: str) -> float:
    """The number (int or float) at ``key``, or a ValueError naming the key."""
    value = OmegaConf.select(cfg, key, default=None)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            return float(str(value))
        except ValueError:
            raise ValueError(f"{key} must be a number, got {value!r}") from None
    return float(value)


#: The node of a model config that describes the model for reports and is never passed to its class (e.g.
#: ``meta.fitted_on``: what the dedoppler's tuned constants were fitted on).
MODEL_META = "meta"


def model_arguments(model: DictConfig | dict) -> DictConfig | dict:
    """The model config its class is instantiated from: the config without its :data:`MODEL_META` node."""
    if MODEL_META not in model:
        return model
    config = OmegaConf.to_container(model, resolve=True) if isinstance(model, DictConfig) else dict(model)
    config.pop(MODEL_META)
    return config
