"""Atomic file writes: readers see the old file or the whole new one, never half of it.

One helper for every writer in the project (datasets, run outputs, reports, figures), so a kill at any
moment leaves no corrupt file behind.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


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


def atomic_write_bytes(path: str | Path, data: bytes, fsync: bool = False) -> Path:
    return atomic_write(path, lambda handle: handle.write(data), mode="wb", fsync=fsync)


def atomic_write_json(path: str | Path, data: Any, fsync: bool = False) -> Path:
    """Indented, key-sorted JSON; values JSON lacks (paths, numpy scalars) are written as strings."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", fsync=fsync)


def atomic_write_csv(path: str | Path, frame: Any, fsync: bool = False, **to_csv: Any) -> Path:
    """A pandas DataFrame as CSV (no index unless ``index=True`` is passed)."""
    to_csv.setdefault("index", False)
    return atomic_write_text(path, frame.to_csv(**to_csv), fsync=fsync)


def atomic_save_figure(path: str | Path, figure: Any, **savefig: Any) -> Path:
    """A matplotlib Figure, in the format the suffix names (png, svg, pdf)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    return atomic_write(path, lambda handle: figure.savefig(handle, format=fmt, **savefig), mode="wb")
