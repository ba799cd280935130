"""Which code, libraries and machine produced a run: recorded in metrics.json and the W&B config, so two runs'
results can be compared only when they come from the same code (``scripts/compare.py`` reads these names)."""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

#: the libraries whose versions change a result (their release, not the import name)
VERSIONED = ("torch", "lightning", "timm", "albumentations", "numpy")
_SOURCE = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(_SOURCE), *args], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def git_state() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout this package runs from; (None, None) when it is not a git checkout."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return commit.strip(), None if status is None else bool(status.strip())


def versions() -> dict[str, str | None]:
    """Installed versions of :data:`VERSIONED` (None for one that is not installed)."""
    found: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what the platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """The CPU model, and the GPU's name when torch sees one (``"<cpu>; <gpu> x N"``)."""
    text = cpu_model()
    try:
        import torch

        if torch.cuda.is_available():
            count = torch.cuda.device_count()
            text += f"; {torch.cuda.get_device_name(0)}" + (f" x {count}" if count > 1 else "")
    except Exception:  # noqa: BLE001 - a broken CUDA setup must not stop the record
        pass
    return text


@functools.lru_cache(maxsize=1)
def provenance() -> dict[str, Any]:
    """``git_commit``, ``git_dirty``, ``versions``, ``machine``: the RunMetrics fields of the same names."""
    commit, dirty = git_state()
    return {"git_commit": commit, "git_dirty": dirty, "versions": versions(), "machine": machine()}
