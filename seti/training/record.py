"""A run's bookkeeping, kept apart from the training steps: its metrics.json in the making, and what
happens when the run fails or is interrupted.

:func:`recorded_run` wraps one run. Whatever ends it (an exception, SIGTERM from a scheduler, Ctrl-C) is
written to metrics.json (``failed`` or ``interrupted``) and error.txt before it propagates, so a sweep
lists the run and its other jobs go on; a signal ends the process with 128 + signal (not Lightning's 0),
and the same command resumes from checkpoints/last.ckpt.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

from lightning.pytorch.utilities.exceptions import SIGTERMException

from seti.atomic import atomic_write_text
from seti.rundir import ERROR_TXT, METRICS_JSON, RunMetrics, write_metrics
from seti.training import ddp
from seti.training.callbacks import AttemptClock
from seti.training.loggers import finish_wandb

log = logging.getLogger(__name__)


class Interrupted(BaseException):
    """SIGTERM or SIGINT arrived: unwinds the run (not an ``Exception``, so nothing swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


@contextlib.contextmanager
def signals_interrupt() -> Iterator[dict]:
    """While a run is in progress, SIGTERM/SIGINT raise :class:`Interrupted` in the main thread.

    Yields a dict whose ``signum`` is set once a signal arrived. Outside the main thread (a launcher's
    worker thread) it changes nothing.
    """
    state: dict[str, int | None] = {"signum": None}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return
    owner = os.getpid()

    def handler(signum, frame):
        if os.getpid() != owner:  # a forked DataLoader worker that inherited this handler
            os._exit(128 + signum)
        if state["signum"] is None:
            state["signum"] = signum
            raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield state
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class RunRecord:
    """The run's :class:`~seti.rundir.RunMetrics` while it runs, and the loggers to close when it ends."""

    def __init__(self, output_dir: Path, metrics: RunMetrics) -> None:
        self.output_dir = output_dir
        self.metrics = metrics
        self.started = time.time()
        self.clock: AttemptClock | None = None
        self.loggers: list = []

    def start_clock(self, resumed: bool) -> None:
        """Time every attempt on disk (attempts.json): a resumed run reports the wall time of all of them."""
        self.clock = AttemptClock(self.output_dir, resumed=resumed, started=self.started)

    def warn(self, step: str, err: BaseException) -> None:
        """A step after training failed: recorded as a warning, the trained model stands."""
        message = f"{step} failed after training finished: {type(err).__name__}: {err}"
        self.metrics.warnings.append(message)
        log.warning("%s (the run stays finished)", message)

    def finish(self, status: str, error: str | None = None) -> None:
        """Set the status and the wall time of this attempt and of all attempts, and write metrics.json."""
        if self.clock is not None:
            self.clock.stop(status)
            attempts = self.clock.wall_times()
        else:
            attempts = [time.time() - self.started]
        m = self.metrics
        m.status, m.error = status, error if error is not None else m.error
        m.attempts, m.resumed = len(attempts), len(attempts) > 1
        m.wall_time_s, m.wall_time_s_attempts = float(sum(attempts)), [float(t) for t in attempts]
        self.write()

    def write(self) -> None:
        write_metrics(self.output_dir, self.metrics)


def resume_command(output_dir: Path) -> str:
    """The command that resumes this run: the same overrides, pinned to this run's directory (the default
    ``hydra.run.dir`` is a new timestamp each time, so "the same command" would start over elsewhere)."""
    from hydra.core.hydra_config import HydraConfig

    script = shlex.quote(sys.argv[0]) if sys.argv and sys.argv[0] else "train.py"
    if not HydraConfig.initialized():
        return f"python {script} hydra.run.dir={shlex.quote(str(output_dir))}"
    hc = HydraConfig.get()
    if ddp.in_multirun():
        return f"the same sweep command (python {script} -m ...) with hydra.sweep.dir={shlex.quote(str(hc.sweep.dir))}"
    task = " ".join(shlex.quote(str(o)) for o in hc.overrides.task)
    return f"python {script} {task} hydra.run.dir={shlex.quote(str(output_dir))}".replace("  ", " ")


def _signal_of(err: BaseException, received: dict) -> int | None:
    if received.get("signum") is not None:
        return received["signum"]
    if isinstance(err, SIGTERMException):  # Lightning's own SIGTERM handling (DDP)
        return signal.SIGTERM
    if isinstance(err, KeyboardInterrupt):
        return signal.SIGINT
    return None


@contextlib.contextmanager
def recorded_run(record: RunRecord) -> Iterator[contextlib.ExitStack]:
    """Run the body with signals turned into :class:`Interrupted`, and record how it ended.

    Yields an ExitStack for resources the run takes (a GPU slot); they are released last, after the W&B
    run is closed and the DDP process group torn down.
    """
    with contextlib.ExitStack() as resources, signals_interrupt() as received:
        try:
            yield resources
        except BaseException as err:
            signum = _signal_of(err, received)
            if ddp.is_rank_zero():
                if signum is not None:
                    name = signal.Signals(signum).name
                    error = f"interrupted by {name}; to resume from checkpoints/last.ckpt, run: {resume_command(record.output_dir)}"
                    status = "interrupted"
                else:
                    error, status = f"{type(err).__name__}: {err}", "failed"
                record.output_dir.mkdir(parents=True, exist_ok=True)
                record.finish(status, error)
                atomic_write_text(record.output_dir / ERROR_TXT, traceback.format_exc(), fsync=True)
                log.error("run %s (%s); recorded in %s", status, error, record.output_dir / METRICS_JSON)
            finish_wandb(record.loggers, exit_code=1)
            record.loggers = []
            if signum is not None:
                raise SystemExit(128 + int(signum)) from err
            raise
        finally:
            finish_wandb(record.loggers, exit_code=0)
            ddp.teardown_ddp()
