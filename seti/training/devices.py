"""One GPU per sweep job on a multi-GPU machine: jobs take a free GPU from a pool of lock files.

joblib's workers are reused across jobs and get no GPU of their own, so each job picks the first GPU
whose lock it can take and holds it until the job ends. Using ``trainer.devices=[i]`` (not
CUDA_VISIBLE_DEVICES) keeps this correct in a reused worker whose CUDA is already initialised.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from filelock import FileLock, Timeout


def gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - no CUDA runtime at all
        return 0


def acquire_gpu(lock_dir: str | Path | None = None, poll_s: float = 2.0, timeout_s: float = 24 * 3600) -> tuple[int, FileLock] | None:
    """Block until a GPU is free; return (index, held lock), or None on a machine without GPUs."""
    count = gpu_count()
    if count == 0:
        return None
    lock_dir = Path(lock_dir or Path(tempfile.gettempdir()) / "seti-gpu-locks")
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    while True:
        for index in range(count):
            lock = FileLock(str(lock_dir / f"gpu{index}.lock"))
            try:
                lock.acquire(timeout=0)
            except Timeout:
                continue
            return index, lock
        if time.monotonic() > deadline:
            raise TimeoutError(f"no GPU became free within {timeout_s:.0f} s (locks in {lock_dir})")
        time.sleep(poll_s)
