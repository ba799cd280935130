"""CUDA MPS for a ``launcher=gpus`` sweep with several jobs per GPU (``launcher.mps``).

Without MPS, processes sharing a GPU time-slice it: six jobs on one H200 trained as fast together as one
alone. An MPS control daemon lets their kernels run at once. :class:`SweepMps` is a Hydra callback
(conf/launcher/gpus.yaml) that runs in the process launching the sweep: when the sweep runs more than one
job per GPU and no daemon runs yet, it starts ``nvidia-cuda-mps-control -d`` with its pipe and log folders
under the sweep directory, exports ``CUDA_MPS_PIPE_DIRECTORY`` / ``CUDA_MPS_LOG_DIRECTORY`` to the jobs
(joblib's workers start after it and inherit them), and quits it (``echo quit | nvidia-cuda-mps-control``)
at the sweep's end, when the sweep fails (atexit) and on SIGTERM.

``auto``: only on CUDA GPUs and when the binary is on PATH; ``true``: whenever jobs share a device
(refused when the binary is missing); ``false``: never. Where MPS cannot run, ``launcher.jobs_per_gpu=auto``
picks one job per GPU (:func:`mps_unavailable_reason`, used by :mod:`.devices`).
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from seti.errors import SetiError
from seti.runtime import gpu_count

log = logging.getLogger(__name__)

CONTROL = "nvidia-cuda-mps-control"
MPS_SETTINGS = ("auto", True, False)
#: where a daemon started without CUDA_MPS_PIPE_DIRECTORY listens (NVIDIA's default)
DEFAULT_PIPE_DIR = "/tmp/nvidia-mps"
MPS_DIR = ".mps"


class MpsError(SetiError, RuntimeError):
    """launcher.mps is unusable as set, or the daemon did not start."""


def check_setting(value: Any) -> bool | str:
    if value is True or value is False or value == "auto":
        return value
    raise MpsError(f"launcher.mps must be auto, true or false, got {value!r}")


def running_daemon() -> str | None:
    """The pipe folder of an MPS daemon this process's jobs would already use, or None."""
    pipe = Path(os.environ.get("CUDA_MPS_PIPE_DIRECTORY") or DEFAULT_PIPE_DIR)
    return str(pipe) if (pipe / "control").exists() else None


def mps_unavailable_reason(setting: Any, gpus: int | None = None) -> str | None:
    """Why jobs sharing a GPU would time-slice it (None when MPS runs or can be started for the sweep)."""
    setting = check_setting(setting)
    if setting is False:
        return "launcher.mps=false"
    if running_daemon():
        return None
    if shutil.which(CONTROL) is None:
        return f"{CONTROL} is not on PATH"
    if setting == "auto" and (gpu_count() if gpus is None else gpus) == 0:
        return "no CUDA GPU"
    return None


class MpsDaemon:
    """One MPS control daemon with private pipe and log folders under ``root``; :meth:`stop` is idempotent."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.pipe_dir, self.log_dir = self.root / "pipe", self.root / "log"
        self.started = False

    @property
    def env(self) -> dict[str, str]:
        return {"CUDA_MPS_PIPE_DIRECTORY": str(self.pipe_dir), "CUDA_MPS_LOG_DIRECTORY": str(self.log_dir)}

    def start(self) -> None:
        for folder in (self.pipe_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [CONTROL, "-d"], env={**os.environ, **self.env}, capture_output=True, text=True, timeout=60
        )
        if proc.returncode != 0:
            raise MpsError(
                f"{CONTROL} -d failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()[-500:]}; "
                f"see {self.log_dir}, or run the sweep with launcher.mps=false"
            )
        self.started = True
        os.environ.update(self.env)  # the sweep's job processes start after this and inherit it
        log.info("CUDA MPS daemon started for this sweep (pipe %s, log %s)", self.pipe_dir, self.log_dir)

    def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        try:
            proc = subprocess.run(
                [CONTROL], input="quit\n", env={**os.environ, **self.env}, capture_output=True, text=True, timeout=60
            )
            if proc.returncode != 0:
                log.warning("%s quit failed (%d): %s", CONTROL, proc.returncode, proc.stderr.strip()[-300:])
            else:
                log.info("CUDA MPS daemon of this sweep stopped")
        except (OSError, subprocess.SubprocessError) as err:
            log.warning("could not stop the sweep's MPS daemon (%s): echo quit | %s with %s", err, CONTROL, self.env)


def jobs_per_device(config: DictConfig) -> int:
    """Jobs the sweep runs at once per GPU (per machine without one): joblib's n_jobs over the GPUs."""
    n_jobs = OmegaConf.select(config, "hydra.launcher.n_jobs", default=None)
    if n_jobs is None:
        return 1
    return max(1, math.ceil(int(n_jobs) / max(1, gpu_count())))


class SweepMps(Callback):
    """Hydra callback of launcher=gpus: an MPS daemon for the sweep's lifetime where ``launcher.mps`` asks."""

    def __init__(self) -> None:
        self.daemon: MpsDaemon | None = None
        self._previous_sigterm: Any = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        setting = check_setting(OmegaConf.select(config, "launcher.mps", default="auto"))
        if setting is False or jobs_per_device(config) < 2:
            return
        if running_daemon():
            log.info("CUDA MPS: a daemon already runs (pipe %s); the sweep's jobs use it", running_daemon())
            return
        why = mps_unavailable_reason(setting)
        if why is not None:
            if setting is True:
                raise MpsError(f"launcher.mps=true but {why}: install the NVIDIA driver's MPS, or launcher.mps=auto")
            log.info("CUDA MPS not started (%s): jobs sharing a GPU time-slice it", why)
            return
        self.daemon = MpsDaemon(Path(str(config.hydra.sweep.dir)) / MPS_DIR)
        self.daemon.start()
        atexit.register(self.daemon.stop)  # the sweep failed: Hydra reports it and the process exits
        self._previous_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        if self.daemon is not None:
            self.daemon.stop()
        previous = self._previous_sigterm
        if callable(previous):
            previous(signum, frame)
            return
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.daemon is not None:
            self.daemon.stop()
            if self._previous_sigterm is not None:
                signal.signal(signal.SIGTERM, self._previous_sigterm)
