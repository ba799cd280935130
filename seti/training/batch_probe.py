"""``data.batch_size=auto``: the training batch a run uses, found by a short probe on CUDA.

A small EfficientNet step at batch 16 is bound by kernel launches on a big GPU, so the batch is the lever.
:func:`search` is the rule, a pure function over a ``measure(batch)`` callable: powers of two from the
reference batch up, each kept only if it beats the last kept one's samples/s by ``min_gain``; it stops at
out-of-memory, at the job's memory share (``launcher.jobs_per_gpu`` > 1) or at the first small gain.
:func:`step_measure` is the real training step (the run's model, precision, channels_last, compile, image
size and data path, on random cadences). The result is cached on disk under ``batch_auto.cache_dir``,
keyed by everything that changes it (:func:`probe_key`), behind a file lock, so the jobs of a sweep probe
once and the rest read it. On a CPU there is no probe: ``auto`` is ``batch_auto.cpu``.
"""

from __future__ import annotations

import copy
import gc
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from seti.atomic import atomic_write_json
from seti.errors import SetiError

log = logging.getLogger(__name__)

GIB = 2**30


class BatchProbeError(SetiError, RuntimeError):
    """No batch could be trained, or the probe settings are unusable."""


class _OutOfMemory:
    def __repr__(self) -> str:
        return "OOM"


#: what a measure returns when the batch does not fit on the device
OOM = _OutOfMemory()


@dataclass(frozen=True)
class Measurement:
    """One batch's training throughput and the device memory its step peaked at."""

    samples_per_s: float
    peak_gib: float = 0.0


@dataclass
class ProbeResult:
    """The batch kept, its throughput, the largest batch that fit, every batch tried and why the probe stopped."""

    batch: int
    samples_per_s: float
    largest_fit: int
    stopped: str
    tried: dict[int, Any] = field(default_factory=dict)  # batch -> [samples/s, peak GiB] or "OOM" / "over share"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["tried"] = {str(k): v for k, v in self.tried.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ProbeResult:
        tried = {int(k): v for k, v in (data.get("tried") or {}).items()}
        return cls(int(data["batch"]), float(data["samples_per_s"]), int(data["largest_fit"]), data["stopped"], tried)


def search(
    measure: Callable[[int], Measurement | float | _OutOfMemory],
    start: int,
    max_batch: int,
    min_gain: float = 0.05,
    memory_limit_gib: float | None = None,
) -> ProbeResult:
    """The fastest batch among ``start``, 2x, 4x, ... <= ``max_batch``.

    A batch is kept when its samples/s beat the kept one's by at least ``min_gain`` (a fraction); the first
    batch that does not, that runs out of memory, or whose step peaks above ``memory_limit_gib`` ends the
    search. Refused when ``start`` itself does not fit.
    """
    if start < 1 or max_batch < start:
        raise BatchProbeError(f"batch_auto: need 1 <= start batch ({start}) <= max_batch ({max_batch})")
    best: tuple[int, float] | None = None
    largest_fit = 0
    tried: dict[int, Any] = {}
    stopped = f"reached max_batch={max_batch}"
    batch = start
    while batch <= max_batch:
        found = measure(batch)
        if found is OOM:
            tried[batch], stopped = "OOM", f"batch {batch} ran out of memory"
            break
        found = found if isinstance(found, Measurement) else Measurement(float(found))
        if memory_limit_gib is not None and found.peak_gib > memory_limit_gib:
            tried[batch] = "over share"
            stopped = f"batch {batch} peaked at {found.peak_gib:.1f} GiB, over this job's share {memory_limit_gib:.1f}"
            break
        tried[batch] = [round(found.samples_per_s, 2), round(found.peak_gib, 2)]
        largest_fit = batch
        if best is not None and found.samples_per_s < best[1] * (1 + min_gain):
            stopped = (
                f"batch {batch} gave {found.samples_per_s:.0f} samples/s, less than {min_gain:.0%} over "
                f"batch {best[0]}'s {best[1]:.0f}"
            )
            break
        best = (batch, found.samples_per_s)
        batch *= 2
    if best is None:
        raise BatchProbeError(
            f"data.batch_size=auto: even the start batch {start} does not fit ({stopped}); set a smaller "
            "model.optimizer.reference_batch, a smaller data.image_size, model.backbone.grad_checkpointing=true, "
            "or fewer launcher.jobs_per_gpu"
        )
    return ProbeResult(best[0], best[1], largest_fit, stopped, tried)


# ================================================================================= the cache
def probe_key(**parts: Any) -> dict:
    """The cache key: plain JSON values of everything the result depends on."""
    return json.loads(json.dumps(parts, sort_keys=True, default=str))


def cached_search(cache_dir: str | Path, key: dict, run: Callable[[], ProbeResult]) -> tuple[ProbeResult, bool]:
    """The cached result for ``key``, or ``run()``'s, written atomically; a file lock makes concurrent jobs
    with the same key wait for one probe. Returns (result, whether it came from the cache)."""
    from filelock import FileLock

    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{digest}.json"
    with FileLock(str(cache_dir / f"{digest}.lock")):
        found = _read(path, key)
        if found is not None:
            return found, True
        result = run()
        atomic_write_json(path, {"key": key, "result": result.to_dict()})
        return result, False


def _read(path: Path, key: dict) -> ProbeResult | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        if data.get("key") != key:  # a hash collision, or a hand-edited file: probe again
            return None
        return ProbeResult.from_dict(data["result"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.warning("ignoring unreadable batch probe cache %s (%s): probing again", path, err)
        return None


# ================================================================================= the run's batch
@dataclass(frozen=True)
class BatchChoice:
    """The batch a run trains with, its evaluation batch (None: the datamodule's rule) and where it came from."""

    batch: int
    eval_batch: int | None
    source: str  # "config" | "cpu" | "probe" | "cache"


def settings(cfg: DictConfig) -> dict:
    """``batch_auto``, checked: a clear error naming the key otherwise."""
    node = OmegaConf.select(cfg, "batch_auto", default=None)
    if node is None:
        raise BatchProbeError("data.batch_size=auto needs batch_auto (conf/data_base.yaml)")
    found = OmegaConf.to_container(node, resolve=True)
    for key in ("cpu", "max_batch", "steps", "warmup_steps"):
        value = found.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BatchProbeError(f"batch_auto.{key} must be an integer >= 1, got {value!r}")
    gain = found.get("min_gain")
    if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not 0 <= gain < 10:
        raise BatchProbeError(f"batch_auto.min_gain must be a fraction such as 0.05, got {gain!r}")
    return found


def choose_batch(cfg: DictConfig, cuda: bool, device_index: int = 0, jobs_per_gpu: int = 1) -> BatchChoice:
    """``data.batch_size`` as an integer: as given, or for ``auto`` the CPU batch or the (cached) probe."""
    value = OmegaConf.select(cfg, "data.batch_size")
    if str(value) != "auto":
        return BatchChoice(int(value), None, "config")
    found = settings(cfg)
    if not cuda:
        log.info("data.batch_size=auto on a CPU: batch %d (batch_auto.cpu)", found["cpu"])
        return BatchChoice(int(found["cpu"]), None, "cpu")
    return _probe_cuda(cfg, found, device_index, jobs_per_gpu)


def _probe_cuda(cfg: DictConfig, found: dict, device_index: int, jobs_per_gpu: int) -> BatchChoice:
    import torch

    from seti.runtime import resolve_precision

    device = torch.device("cuda", device_index)
    start = int(OmegaConf.select(cfg, "model.optimizer.reference_batch", default=None) or 16)
    limit = None
    if jobs_per_gpu > 1:
        auto = OmegaConf.select(cfg, "launcher.auto", default=None) or {}
        total = torch.cuda.get_device_properties(device).total_memory / GIB
        headroom = float(auto.get("memory_headroom", 0.9))
        limit = total * headroom / jobs_per_gpu - float(auto.get("job_overhead_gib", 1.0))
    precision = resolve_precision(OmegaConf.select(cfg, "trainer.precision", default="auto"), True)
    key = probe_key(
        gpu=torch.cuda.get_device_name(device),
        model=OmegaConf.select(cfg, "model.backbone.name", default=None) or cfg.model.get("name"),
        image_size=list(cfg.data.image_size),
        panels=cfg.data.get("panels"),
        layout=cfg.data.get("layout"),
        transforms=cfg.data.get("transforms"),
        precision=precision,
        channels_last=cfg.model.get("channels_last"),
        compile=cfg.model.get("compile"),
        grad_checkpointing=OmegaConf.select(cfg, "model.backbone.grad_checkpointing", default=False),
        torch=torch.__version__,
        start=start,
        max_batch=found["max_batch"],
        min_gain=found["min_gain"],
        memory_limit_gib=None if limit is None else round(limit, 1),
    )

    def run() -> ProbeResult:
        log.info("data.batch_size=auto: probing batches from %d on %s (%s)", start, key["gpu"], key["model"])
        measure = step_measure(cfg, device, precision, found["steps"], found["warmup_steps"])
        try:
            return search(measure, start, found["max_batch"], found["min_gain"], limit)
        finally:
            del measure  # the probe's model and optimizer go before the run's are built
            gc.collect()
            torch.cuda.empty_cache()

    result, cached = cached_search(found["cache_dir"], key, run)
    log.info(
        "data.batch_size=auto: batch %d (%.0f samples/s; %s; tried %s)%s",
        result.batch,
        result.samples_per_s,
        result.stopped,
        result.tried,
        " from the cache" if cached else "",
    )
    from seti.data.datamodule import GPU_EVAL_BATCH_FACTOR

    eval_batch = None
    if OmegaConf.select(cfg, "data.eval_batch_size", default=None) is None:
        # evaluation keeps no activations for a backward pass: where a training batch fits, it does too
        eval_batch = max(result.batch * GPU_EVAL_BATCH_FACTOR, result.largest_fit)
    return BatchChoice(result.batch, eval_batch, "cache" if cached else "probe")


def step_measure(cfg: DictConfig, device, precision: str, steps: int, warmup_steps: int) -> Callable:
    """``measure(batch)``: samples/s and peak memory of the run's real training step at ``batch`` on ``device``.

    The model is built from the run's config (its channels_last and compile settings resolved for the
    device); inputs are random raw cadences through the run's device data path, or random images on the
    workers path (whose cost is in the DataLoader processes, not on the GPU). The probe runs it on CUDA;
    on a CPU it runs too (peak memory reads 0), which is how the tests check it.
    """
    import torch

    from seti.data.layout import CADENCE_SHAPE
    from seti.runtime import autocast_for, synchronize
    from seti.training.builders import build_data_and_model

    probe_cfg = copy.deepcopy(cfg)
    OmegaConf.update(probe_cfg, "data.batch_size", 1)
    datamodule, model = build_data_and_model(probe_cfg)
    cuda = device.type == "cuda"
    datamodule.on_gpu = cuda
    model.apply_launch_settings(device)
    model.to(device).train()
    optimizer = model.optimizer_factory(params=model.parameters())
    transforms = datamodule._build_device_transforms() if datamodule.transforms == "device" else None
    height, width = (int(s) for s in cfg.data.image_size)

    def batch_of(n: int):
        y = (torch.rand(n, device=device) < 0.5).float()
        if transforms is not None:
            cadences = torch.randn(n, *CADENCE_SHAPE, device=device).half()
            return transforms.train(cadences, y)
        return torch.randn(n, datamodule.in_chans, height, width, device=device), y

    def step(n: int) -> None:
        x, y = batch_of(n)
        with autocast_for(device, precision):
            loss = model.loss_fn(model(x).float(), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def measure(batch: int):
        try:
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
            for _ in range(warmup_steps):  # cuDNN autotuning and compilation for this shape
                step(batch)
            synchronize(device)
            began = time.perf_counter()
            for _ in range(steps):
                step(batch)
            synchronize(device)
            elapsed = time.perf_counter() - began
            peak = torch.cuda.max_memory_allocated(device) / GIB if cuda else 0.0
        except torch.cuda.OutOfMemoryError:
            optimizer.zero_grad(set_to_none=True)
            if cuda:
                torch.cuda.empty_cache()
            return OOM
        return Measurement(batch * steps / elapsed, peak)

    return measure
