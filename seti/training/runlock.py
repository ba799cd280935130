"""One process owns a run directory at a time: an exclusive ``flock`` on ``<run dir>/.run.lock``.

Held for the whole run and released when the process ends, however it ends: the kernel drops a flock
with its last open descriptor, so a run killed with -9 leaves no stale lock. A second claimant (the same
sweep started twice, a re-run while an orphaned worker still trains) is refused at once, and the message
names the owner's PID and host from the file. Refusing beats waiting: the owner may train for hours, and
a waiting claimant would then skip the finished run anyway.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

from seti.errors import SetiError

LOCK_NAME = ".run.lock"
#: how long a claimant waits when the recorded owner has exited but a child (a DataLoader worker) still
#: holds the inherited lock for the moment it takes to notice
EXITING_OWNER_WAIT_S = 15.0


class RunDirBusy(SetiError, RuntimeError):
    """Another live process trains this run directory."""


class RunDirLock:
    """``acquire()`` takes the lock or raises :class:`RunDirBusy`; ``release()`` (or process exit) frees it."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> RunDirLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise RunDirBusy(
                f"cannot open the run directory's lock file {self.path}: {err.strerror or err}; make the run "
                "directory writable, or train into another one (hydra.run.dir=...)"
            ) from err
        deadline = time.monotonic() + EXITING_OWNER_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                owner = _read_owner(fd)
                if _owner_exited(owner) and time.monotonic() < deadline:
                    time.sleep(0.2)  # its DataLoader workers inherited the lock and are exiting
                    continue
                os.close(fd)
                raise RunDirBusy(
                    f"run directory {self.path.parent} is in use by {owner}, which is training it now; wait for it "
                    "to end (or stop it: kill <pid>), or train into another directory (hydra.run.dir=... / "
                    "hydra.sweep.dir=...)"
                ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays (harmless, reused next time)
            self._fd = None


def _owner_exited(owner: str) -> bool:
    """True when the recorded owner ran on this host and is gone (a child of it may hold the lock a moment)."""
    parts = owner.split()
    if len(parts) != 5 or parts[0] != "pid" or parts[4] != socket.gethostname():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError):
        return False
    return False


def _read_owner(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "another process (PID not yet written)"
