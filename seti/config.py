"""OmegaConf resolvers used by conf/, and the early checks that turn a broken config into a clear message."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from seti.training.devices import gpu_count, sweep_n_jobs


def job_dirname(overrides: str, default: str = "default") -> str:
    """A sweep job's directory name from its overrides: stable across re-runs, one path component.

    Slashes (from paths in overrides) become '~'; very long names keep a readable head plus a hash.
    """
    if not overrides:
        return default
    name = str(overrides).replace("/", "~")
    if len(name) > 180:
        import hashlib

        name = f"{name[:160]}~{hashlib.sha1(name.encode()).hexdigest()[:12]}"
    return name


def register_resolvers() -> None:
    """Idempotent: train.py and tests call it before Hydra composes."""
    if not OmegaConf.has_resolver("seti.job_dirname"):
        OmegaConf.register_new_resolver("seti.job_dirname", job_dirname)
    if not OmegaConf.has_resolver("seti.gpu_count"):
        OmegaConf.register_new_resolver("seti.gpu_count", lambda: max(1, gpu_count()))
    if not OmegaConf.has_resolver("seti.sweep_n_jobs"):  # cached: decided once at launch, read by every job
        OmegaConf.register_new_resolver("seti.sweep_n_jobs", sweep_n_jobs, use_cache=True)


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
    if not 0 <= int(data.fold) < int(data.num_folds):
        raise ValueError(f"data.fold={data.fold} must be in 0..{int(data.num_folds) - 1} (data.num_folds={data.num_folds})")
    if int(data.batch_size) < 1:
        raise ValueError(f"data.batch_size must be >= 1, got {data.batch_size}")
    size = list(data.image_size)
    if len(size) != 2 or min(int(s) for s in size) < 8:
        raise ValueError(f"data.image_size must be [height, width] with both >= 8, got {size}")
    if int(cfg.trainer.get("max_epochs") or 1) < 1:
        raise ValueError(f"trainer.max_epochs must be >= 1, got {cfg.trainer.max_epochs}")
    if int(cfg.trainer.get("accumulate_grad_batches") or 1) < 1:
        raise ValueError("trainer.accumulate_grad_batches must be >= 1")
    if cfg.get("ckpt_path") not in (None, "auto") and not isinstance(cfg.ckpt_path, str):
        raise ValueError(f"ckpt_path must be auto, null or a path, got {cfg.ckpt_path!r}")
