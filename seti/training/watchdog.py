"""A sweep worker dies with the launcher that started it, even one killed with -9.

joblib's loky workers (``launcher=gpus``) are reused across jobs and outlive a killed launcher: re-parented
to init, they finish the job they run (racing a re-run in the same run directory), then idle holding
about 1 GB each. ``prctl(PR_SET_PDEATHSIG)`` does not fit them: it fires when the *thread* that forked the
worker ends, and loky may start workers from its manager thread, so a healthy sweep could lose workers.
So a daemon thread in each worker polls ``os.getppid()``: once the launcher is gone, a running job gets
SIGTERM (recorded as ``interrupted``, resumable) and ``GRACE_S`` seconds to record it; then, or at once
when idle, the worker exits. Its resource tracker and DataLoader workers see their parent end and follow.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator

log = logging.getLogger(__name__)

POLL_S = 0.5
GRACE_S = 20.0
_state = {"thread": None, "active": 0}
_guard = threading.Lock()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_S)
    log.error("the sweep launcher (PID %d) is gone: this worker (PID %d) stops", parent, os.getpid())
    if _state["active"]:
        os.kill(os.getpid(), signal.SIGTERM)  # the running job records itself as interrupted
        deadline = time.monotonic() + GRACE_S
        while _state["active"] and time.monotonic() < deadline:
            time.sleep(0.1)
    os._exit(128 + signal.SIGTERM)


@contextlib.contextmanager
def watch_launcher() -> Iterator[None]:
    """While a job runs in a multiprocessing child (a loky worker), watch for the launcher's death.

    Outside such a worker (``python train.py``, the basic launcher, joblib with one job in-process) nothing
    is watched: a run started from a shell must survive that shell (nohup).
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        yield
        return
    with _guard:
        if _state["thread"] is None:
            ppid = os.getppid()
            if ppid == 1 or (parent.pid is not None and parent.pid != ppid):
                os._exit(128 + signal.SIGTERM)  # the launcher died before this job even started
            thread = threading.Thread(target=_watch, args=(ppid,), name="seti-launcher-watchdog", daemon=True)
            thread.start()
            _state["thread"] = thread
        _state["active"] += 1
    try:
        yield
    finally:
        with _guard:
            _state["active"] -= 1
