"""Sweep jobs sharing a machine's GPUs: a pool of lock files with ``jobs_per_gpu`` slots per GPU.

joblib's workers are reused across jobs and get no GPU of their own, so each job takes the first free
slot (GPU index, slot) whose lock it can get and holds it until the job ends. Slots are tried slot-major
(slot 0 of every GPU before slot 1 of any), so jobs spread over the GPUs before they double up. Using
``trainer.devices=[i]`` (not CUDA_VISIBLE_DEVICES) keeps this correct in a reused worker whose CUDA is
already initialised.

``launcher.jobs_per_gpu=auto`` divides the free memory of the GPUs by a per-job estimate: the sweep's
most demanding model's measured peak, scaled by batch size x image area (``data.batch_size=auto`` counts as
the reference batch: its probe keeps each job within its share). Jobs sharing a GPU only run faster
together under CUDA MPS (:mod:`.mps`); where it cannot run, auto picks one job per GPU and says why. It is decided once, in the
process that launches the sweep (Hydra's resolver cache carries the number into every job), because a
job asking later would see the memory its siblings already hold.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from seti.runtime import gpu_count

log = logging.getLogger(__name__)

#: The batch size and image area the per-model memory figures in conf/launcher/gpus.yaml were measured at.
REFERENCE_BATCH = 16
REFERENCE_AREA = 512 * 512
GIB = 2**30


def default_lock_dir() -> Path:
    return Path(tempfile.gettempdir()) / "seti-gpu-locks"


@dataclass
class GpuSlot:
    """A held slot of the pool: which GPU, which of its slots, and the lock to release at the job's end."""

    index: int
    slot: int
    lock: FileLock

    def release(self) -> None:
        self.lock.release()


def acquire_slot(
    count: int,
    jobs_per_gpu: int = 1,
    lock_dir: str | Path | None = None,
    poll_s: float = 2.0,
    timeout_s: float = 24 * 3600,
) -> GpuSlot:
    """Block until one of ``count`` GPUs has one of its ``jobs_per_gpu`` slots free; return it, held."""
    if count < 1 or jobs_per_gpu < 1:
        raise ValueError(f"need at least one GPU and one slot per GPU, got count={count}, jobs_per_gpu={jobs_per_gpu}")
    lock_dir = Path(lock_dir or default_lock_dir())
    try:
        lock_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PermissionError(_pool_hint(lock_dir, err)) from err
    deadline = time.monotonic() + timeout_s
    while True:
        for slot in range(jobs_per_gpu):
            for index in range(count):
                path = lock_dir / f"gpu{index}-slot{slot}.lock"
                lock = FileLock(str(path))
                try:
                    lock.acquire(timeout=0)
                except Timeout:
                    continue
                except OSError as err:  # another user's lock file (0644), a read-only folder
                    raise PermissionError(_pool_hint(path, err)) from err
                return GpuSlot(index, slot, lock)
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"no GPU slot became free within {timeout_s:.0f} s ({count} GPU(s) x {jobs_per_gpu} slot(s), locks in "
                f"{lock_dir}); another sweep may hold them"
            )
        time.sleep(poll_s)


def _pool_hint(path: Path, err: OSError) -> str:
    return (
        f"cannot use the GPU slot pool's lock file {path}: {err.strerror or err} (left by another user, or a "
        "folder you cannot write); give this sweep a pool of your own with launcher.lock_dir=<a folder you own>, "
        "or remove the file if no sweep of its owner is running"
    )


def acquire_gpu(jobs_per_gpu: int = 1, lock_dir: str | Path | None = None, **kwargs: Any) -> GpuSlot | None:
    """A free slot of this machine's GPUs (blocking), or None on a machine without GPUs."""
    count = gpu_count()
    return acquire_slot(count, jobs_per_gpu, lock_dir, **kwargs) if count else None


# ================================================================================= how many jobs per GPU
def free_gpu_memory_gib() -> list[float]:
    """Free memory of every visible GPU, asked in a short-lived child process.

    ``torch.cuda.mem_get_info`` creates a CUDA context (~0.5 GiB per GPU) that would stay in the
    launching process for the whole sweep; the child takes its context with it when it exits.
    """
    if gpu_count() == 0:
        return []
    probe = "import json, torch; print(json.dumps([torch.cuda.mem_get_info(i)[0] for i in range(torch.cuda.device_count())]))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"could not read free GPU memory (torch.cuda.mem_get_info): {proc.stderr.strip()[-500:]}")
    return [free / GIB for free in json.loads(proc.stdout.strip().splitlines()[-1])]


def sweep_values(key: str, base: Any, task_overrides: Iterable[str] | None, sweeper_params: Mapping | None) -> list:
    """Every value ``key`` takes in a sweep: from the command line (``key=a,b``), else the sweeper's params
    (experiment presets), else ``base``. Hydra's own parser reads the values (choice(), ranges, lists)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    def parse(line: str) -> list | None:
        (override,) = OverridesParser.create().parse_overrides([line])
        if override.get_key_element().lstrip("+~") != key:
            return None
        if override.is_sweep_override():
            return list(override.sweep_iterator())
        return [override.value()]

    found = None
    for name, value in (sweeper_params or {}).items():
        if str(name) == key:
            found = parse(f"{key}={value}")
    for line in task_overrides or ():
        if str(line).split("=", 1)[0].lstrip("+~") == key:
            found = parse(str(line)) or found
    return found if found is not None else [base]


def job_memory_gib(models: Iterable[str], batch_sizes: Iterable, image_sizes: Iterable, auto: Mapping) -> float:
    """Planned GPU memory of one job: the most demanding model's peak, scaled by batch x image area, plus the
    per-job overhead (CUDA context, allocator caching). A batch of ``auto`` counts as :data:`REFERENCE_BATCH`."""
    table = {str(k): float(v) for k, v in (auto.get("memory_gib") or {}).items()}
    default = float(auto["default_gib"])
    per_model = max(table.get(str(m), default) for m in models)
    batches = [REFERENCE_BATCH if str(b) == "auto" else int(b) for b in batch_sizes]
    area = max(b * int(s[0]) * int(s[1]) for b in batches for s in image_sizes)
    return per_model * area / (REFERENCE_BATCH * REFERENCE_AREA) + float(auto["job_overhead_gib"])


def auto_jobs_per_gpu(free_gib: Iterable[float], job_gib: float, auto: Mapping, cpus: int | None = None) -> int:
    """How many jobs fit on the GPU with the least free memory (a fraction ``headroom`` of it), capped by
    ``max_jobs_per_gpu`` and by the CPUs: every job needs at least two cores (its training loop and a worker)."""
    free = list(free_gib)
    if not free:
        return 1
    fit = math.floor(min(free) * float(auto["memory_headroom"]) / job_gib)
    cpus = cpus or os.cpu_count() or 1
    by_cpu = max(1, cpus // (2 * len(free)))
    return max(1, min(fit, int(auto["max_jobs_per_gpu"]), by_cpu))


def resolve_jobs_per_gpu(
    requested: Any,
    auto: Mapping | None = None,
    model: str = "",
    batch_size: int | str = 16,
    image_size: Any = (512, 512),
    task_overrides: Iterable[str] | None = None,
    sweeper_params: Mapping | None = None,
    free_gib: list[float] | None = None,
    mps: Any = "auto",
) -> int:
    """``launcher.jobs_per_gpu``: an integer >= 1 as given, or ``auto`` (see module docstring)."""
    if str(requested) != "auto":
        try:
            value = int(requested)
        except (TypeError, ValueError):
            value = 0
        if value < 1 or str(requested).strip() != str(value):
            raise ValueError(f"launcher.jobs_per_gpu must be an integer >= 1 or auto, got {requested!r}")
        return value
    if auto is None:
        raise ValueError("launcher.jobs_per_gpu=auto needs the launcher.auto settings of conf/launcher/gpus.yaml")
    from seti.training.mps import mps_unavailable_reason

    free = free_gpu_memory_gib() if free_gib is None else free_gib
    why = mps_unavailable_reason(mps, gpus=len(free)) if free else None
    if why is not None:  # said once: the resolver is cached for the whole sweep
        log.info(
            "launcher.jobs_per_gpu=auto: 1 job per GPU, because CUDA MPS cannot run (%s): without it jobs sharing "
            "a GPU time-slice it and train no faster together than one alone. To fill the GPU, let one job train "
            "at its fastest batch with data.batch_size=auto",
            why,
        )
        return 1
    models = sweep_values("model", model, task_overrides, sweeper_params)
    batches = sweep_values("data.batch_size", batch_size, task_overrides, sweeper_params)
    sizes = sweep_values("data.image_size", list(image_size), task_overrides, sweeper_params)
    job_gib = job_memory_gib(models, batches, sizes, auto)
    jobs = auto_jobs_per_gpu(free, job_gib, auto)
    log.info(
        "launcher.jobs_per_gpu=auto: %d job(s) per GPU (free %s GiB, ~%.1f GiB per job for models %s, batch %s, "
        "image %s)",
        jobs,
        [round(f, 1) for f in free],
        job_gib,
        models,
        batches,
        sizes,
    )
    return jobs


def sweep_n_jobs(
    requested: Any,
    auto: Any,
    model: Any,
    batch_size: Any,
    image_size: Any,
    task_overrides: Any,
    sweeper_params: Any,
    mps: Any = "auto",
) -> int:
    """Resolver behind ``hydra.launcher.n_jobs`` of launcher=gpus: GPUs (at least 1) x jobs per GPU.

    Registered with ``use_cache=True``: resolved once in the launching process, and Hydra copies that
    cache into every job's config, so each job reads the same number without asking the GPUs again.
    """
    from omegaconf import OmegaConf

    def plain(value):
        return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value

    per_gpu = resolve_jobs_per_gpu(
        requested,
        plain(auto),
        str(model),
        batch_size if str(batch_size) == "auto" else int(batch_size),
        plain(image_size),
        plain(task_overrides),
        plain(sweeper_params),
        mps=mps,
    )
    return max(1, gpu_count()) * per_gpu


# ================================================================================= one job's share
@dataclass(frozen=True)
class JobShare:
    """What a launcher=gpus sweep job gets: slots per GPU, jobs running at once, and its DataLoader workers."""

    jobs_per_gpu: int
    concurrent_jobs: int
    num_workers: int
    workers_explicit: bool


def job_share(cfg) -> JobShare | None:
    """This job's share of the machine under ``launcher=gpus`` in a sweep, or None (any other launcher, or no sweep).

    DataLoader workers: ``os.cpu_count() // concurrent jobs`` (at least 1), unless ``data.num_workers`` was
    set on the command line: presets' worker counts assume one job at a time.
    """
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    if OmegaConf.select(cfg, "launcher.jobs_per_gpu", default=None) is None or not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    n_jobs = OmegaConf.select(hc, "launcher.n_jobs", default=None)
    if n_jobs is None:  # not the joblib launcher after all
        return None
    concurrent = max(1, int(n_jobs))
    per_gpu = max(1, math.ceil(concurrent / max(1, gpu_count())))
    explicit = any(str(o).split("=", 1)[0].lstrip("+~") == "data.num_workers" for o in hc.overrides.task)
    workers = int(cfg.data.num_workers) if explicit else max(1, (os.cpu_count() or 1) // concurrent)
    return JobShare(per_gpu, concurrent, workers, explicit)
