"""Atomic file writes: readers see the old file or the whole new one, never half of it.

One helper for every writer in the project (datasets, run outputs, reports, figures), so a kill at any
moment leaves no corrupt file behind.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import IO, Any, Callable


def temp_name(path: Path) -> Path:
    """Hidden and not ending in the real suffix: never mistaken for a finished cadence or table."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def atomic_write(path: str | Path, writer: Callable[[IO[Any]], Any], mode: str = "wb", fsync: bool = False) -> Path:
    """Write through ``writer(file)`` to a temp file beside ``path``, then ``os.replace`` it into place.

    ``fsync`` also survives power loss; it costs milliseconds per file, so bulk writers (the synthetic
    generator) leave it off: a killed process is covered without it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        with open(tmp, mode) as handle:
            writer(handle)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str, fsync: bool = False) -> Path:
    return atomic_write(path, lambda handle: handle.write(text), mode="w", fsync=fsync)
