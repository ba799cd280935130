"""The Lightning callbacks every training run gets, whatever conf/callbacks holds.

- :class:`ThroughputMeter`: training samples per second by wall clock (metrics.json ``train_samples_per_s``).
- :class:`ConfigInCheckpoint`: the resolved config inside every checkpoint, so predict.py rebuilds the model
  and its preprocessing from the checkpoint alone.
- :class:`AttemptClock`: every attempt's wall time on disk (attempts.json), so a resumed run reports the
  time of all its processes.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from seti.atomic import atomic_write_json
from seti.rundir import ATTEMPTS_JSON


class ThroughputMeter(Callback):
    """Training samples per second by wall clock, validation excluded.

    The clock runs from each epoch's first training batch (DataLoader start-up excluded) to the epoch's
    end or the next validation, so it includes what a user waits for: loading, the host-to-device copy
    and the device-side transforms (``on_after_batch_transfer``), not only the optimiser step. The GPU is
    synchronised only when the clock stops, never per step.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget what was measured so far (benchmarks call it after their warm-up steps)."""
        self.samples, self.seconds, self._since = 0, 0.0, None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._since is None:
            self._since = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.samples += int(batch[0].shape[0]) * trainer.world_size

    def on_validation_start(self, trainer, pl_module) -> None:
        self._stop(pl_module)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._stop(pl_module)

    def _stop(self, pl_module) -> None:
        if self._since is None:
            return
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        self.seconds += time.perf_counter() - self._since
        self._since = None

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds else float("nan")


class ConfigInCheckpoint(Callback):
    """Store the run's resolved config in every checkpoint, so inference rebuilds the same preprocessing."""

    def __init__(self, config: dict) -> None:
        self.config = config

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint["seti_config"] = self.config


class AttemptClock(Callback):
    """Wall time of every process that trained this run dir, kept on disk in attempts.json.

    Each attempt's entry is rewritten at most every ``every_s`` seconds during training and at every
    epoch end, so even an attempt killed with -9 leaves its time (to within ``every_s``). A fresh start
    (nothing to resume from) begins a new list; a resume appends to it.
    """

    def __init__(self, output_dir: Path, resumed: bool, started: float, every_s: float = 10.0) -> None:
        self.path = Path(output_dir) / ATTEMPTS_JSON
        previous = self._read() if resumed else []
        self.started, self.every_s, self._written = started, every_s, 0.0
        self.entries = previous + [
            {"pid": os.getpid(), "started_unix": round(started, 3), "wall_time_s": 0.0, "status": "running"}
        ]
        self._write()

    def _read(self) -> list[dict]:
        try:
            data = json.loads(self.path.read_text())
            return [e for e in data.get("attempts", []) if isinstance(e, dict) and "wall_time_s" in e]
        except (FileNotFoundError, ValueError, AttributeError):
            return []

    def _write(self, status: str | None = None) -> None:
        self.entries[-1]["wall_time_s"] = round(time.time() - self.started, 3)
        if status is not None:
            self.entries[-1]["status"] = status
        atomic_write_json(self.path, {"attempts": self.entries}, fsync=True)
        self._written = time.time()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if time.time() - self._written >= self.every_s:
            self._write()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # The CSV logger keeps rows in memory for 100 steps: flush them now, before ModelCheckpoint (always
        # last in Lightning's callback order) writes last.ckpt, so a kill -9 after any finished epoch loses
        # no row that the resumed run will not write again.
        from lightning.pytorch.loggers import CSVLogger

        for logger in trainer.loggers:
            if isinstance(logger, CSVLogger):
                logger.save()
        self._write()

    def stop(self, status: str) -> None:
        self._write(status)

    def wall_times(self) -> list[float]:
        return [float(e["wall_time_s"]) for e in self.entries]
