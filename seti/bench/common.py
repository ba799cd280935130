"""What every measurement shares: conf/ composed one way, the default dataset, the settings, a time budget,
and a wrapper that turns an out-of-memory into a result instead of ending the run."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "conf"
GIB = 2**30


def compose(config_name: str = "train", overrides: Sequence[str] = (), *, return_hydra_config: bool = False):
    """A config of conf/ composed as train.py/predict.py compose it, so the benchmark's defaults are the
    project's, never copies of them. The only place seti.bench composes conf/."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from seti.training.resolvers import register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return hydra_compose(config_name, overrides=list(overrides), return_hydra_config=return_hydra_config)


def ensure_root(root: Path | None) -> Path:
    """``root``, or data=synthetic's default dataset (its size, seed and folder from conf/data/synthetic.yaml,
    under this checkout's data/), generated on first use."""
    if root is not None:
        return root
    from omegaconf import OmegaConf

    from seti.data.synthetic import SyntheticParams, ensure_dataset

    data = compose("train", ["data=synthetic", f"paths.root_dir={REPO}"]).data
    synthetic = OmegaConf.to_container(data.synthetic, resolve=True)
    default_root = Path(data.root)
    ensure_dataset(
        default_root,
        n=synthetic["n"],
        test_n=synthetic["test_n"],
        positive_rate=synthetic["positive_rate"],
        seed=synthetic["seed"],
        params=SyntheticParams(**(synthetic.get("params") or {})),
        workers=synthetic["workers"],
    )
    return default_root


def rate(fn, n: int) -> float:
    """Items per second of ``fn(n)``."""
    start = time.perf_counter()
    fn(n)
    return n / (time.perf_counter() - start)


@dataclass
class Settings:
    """What a measurement runs at. ``warmup`` untimed steps come before ``steps`` timed ones; ``ladder[0]``
    is the reference batch. The defaults are the tiny CPU variant (tiny model, small images, a few steps)."""

    tiny: bool = True
    models: list = field(default_factory=lambda: ["tiny"])
    image_size: tuple = (32, 64)
    ladder: list = field(default_factory=lambda: [2, 4])
    warmup: int = 1
    steps: int = 2
    train_n: int = 24
    test_n: int = 4
    num_folds: int = 4
    predict_cadences: int = 16
    ensemble_cadences: int = 16
    predict_batch: int = 8
    num_workers: int = 0
    ensemble_members: int = 6
    concurrent_jobs: list = field(default_factory=lambda: [2])
    budget_s: float = 600.0


class Clock:
    """Wall time since the start against the budget; optional measurements run only while time is left."""

    def __init__(self, budget_s: float) -> None:
        self.started, self.budget_s = time.perf_counter(), budget_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> float:
        return self.budget_s - self.elapsed()


def reset_peak(device) -> None:
    """Start a new peak-memory window (CUDA; the CPU's resident-set peak cannot be reset)."""
    import torch

    from seti.runtime import synchronize

    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device) -> float | None:
    """Peak allocated GPU memory since :func:`reset_peak`; None on the CPU (RSS never goes down, so a
    per-measurement peak cannot be told apart there)."""
    from seti.training.evaluation import peak_memory_mb

    return peak_memory_mb(device) / 1024 if device.type == "cuda" else None


def _free(device) -> None:
    """Drop what the last measurement left: Python garbage first, then the CUDA allocator's cache."""
    import gc

    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _is_oom(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err).lower()


def measure(fn, *args, device, **kwargs) -> dict:
    """Run one measurement; an out-of-memory is a result ("oom"), and memory is freed whatever happens."""
    try:
        result = fn(*args, **kwargs)
    except Exception as err:  # noqa: BLE001 - recorded, the next measurement still runs
        message = str(err).splitlines()[0][:300] if str(err) else ""
        result = {"status": "oom" if _is_oom(err) else "error", "error": f"{type(err).__name__}: {message}"}
    _free(device)
    return result


def machine_info(device) -> dict:
    """What the figures were measured on, for the record beside them."""
    import os
    import platform

    import torch

    cuda = device.type == "cuda"
    return {
        "device": torch.cuda.get_device_name(device) if cuda else f"CPU ({platform.machine()})",
        "gpu_memory_gib": torch.cuda.get_device_properties(device).total_memory / GIB if cuda else None,
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
