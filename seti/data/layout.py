"""The Kaggle "E.T. Signal Search" file layout and safe, validated loading of one cadence.

Everything that touches files on disk goes through here, so every bad input gets the same clear error.
"""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from seti.errors import SetiError

#: panels x time rows x frequency channels, cadence order A B A C A D
CADENCE_SHAPE = (6, 273, 256)
CADENCE_DTYPE = np.float16
ON_PANELS = (0, 2, 4)
OFF_PANELS = (1, 3, 5)
PANEL_NAMES = ("A (ON)", "B (OFF)", "A (ON)", "C (OFF)", "A (ON)", "D (OFF)")
ID_PATTERN = re.compile(r"^[0-9a-f]{15}$")
LABELS_CSV = "train_labels.csv"
SUBMISSION_CSV = "sample_submission.csv"
TEST_LABELS_CSV = "test_labels.csv"  # synthetic data only: Kaggle's test labels are private
#: MAD -> standard deviation of a normal distribution (1 / Phi^-1(3/4)): the robust noise scale every
#: background cleaner (preprocess, the dedoppler baseline) puts cadence pixels on. Here, at the bottom of the
#: imports, so the numpy-only baseline need not import the torch preprocessing to share it.
MAD_TO_STD = 1.4826


class CadenceDataError(SetiError, ValueError):
    """Bad input data: the message names the file or row and says how to fix it."""


def check_id(cadence_id: object, where: str = "") -> str:
    """Return ``cadence_id`` if it is 15 lowercase hex characters; rejects path tricks like ``../x``."""
    text = str(cadence_id)
    if not ID_PATTERN.fullmatch(text):
        raise CadenceDataError(
            f"{where}invalid cadence id {text!r}: ids are 15 lowercase hexadecimal characters "
            "(e.g. '0000799a2b2c42d'); fix or remove this row"
        )
    return text


def cadence_path(root: str | Path, split: str, cadence_id: str) -> Path:
    """``ROOT/<split>/<id[0]>/<id>.npy``: the folder is the id's first character, not the label."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    cadence_id = check_id(cadence_id)
    return Path(root) / split / cadence_id[0] / f"{cadence_id}.npy"


def read_id_table(csv_path: str | Path, *, require_binary_target: bool) -> pd.DataFrame:
    """Read an ``id,target`` CSV and validate every row; raises :class:`CadenceDataError`.

    ``require_binary_target`` is True for ``train_labels.csv`` (targets must be 0 or 1) and False for
    ``sample_submission.csv`` (whose target column is a placeholder).
    """
    csv_path = Path(csv_path)
    odd = not_regular(csv_path)
    if odd is not None:
        raise CadenceDataError(f"{odd}; data.root must hold the real {csv_path.name}")
    if not csv_path.is_file():
        raise CadenceDataError(
            f"missing {csv_path}: expected the Kaggle layout ROOT/{LABELS_CSV}, ROOT/train/, "
            f"ROOT/test/, ROOT/{SUBMISSION_CSV}; check data.root"
        )
    try:
        table = pd.read_csv(csv_path, dtype={"id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise CadenceDataError(f"{csv_path} is not a readable CSV: {err}") from err
    except OSError as err:  # permissions, a directory of that name, ...
        raise CadenceDataError(f"cannot read {csv_path}: {err.strerror or err}") from err
    missing = {"id", "target"} - set(table.columns)
    if missing:
        raise CadenceDataError(
            f"{csv_path} lacks column(s) {sorted(missing)}; found {list(table.columns)}, expected 'id,target'"
        )
    if table.empty:
        raise CadenceDataError(f"{csv_path} has no rows")
    for row, cadence_id in enumerate(table["id"], start=2):  # row 1 is the header
        check_id(cadence_id, where=f"{csv_path} line {row}: ")
    duplicated = table["id"][table["id"].duplicated()].unique()
    if len(duplicated):
        raise CadenceDataError(
            f"{csv_path} lists {len(duplicated)} id(s) more than once, e.g. {list(duplicated[:5])}; "
            "each cadence must appear once"
        )
    if require_binary_target:
        target = pd.to_numeric(table["target"], errors="coerce")
        bad = ~target.isin([0, 1])
        if bad.any():
            first = int(np.flatnonzero(bad.to_numpy())[0])
            raise CadenceDataError(
                f"{csv_path} line {first + 2}: target '{table['target'].iloc[first]}' for id "
                f"{table['id'].iloc[first]} is not 0 or 1 ({int(bad.sum())} bad row(s) in all)"
            )
        table["target"] = target.astype(np.int64)
    return table[["id", "target"]].reset_index(drop=True)


def load_cadence(path: str | Path) -> np.ndarray:
    """Load one cadence safely (no pickles) and check shape, dtype and finiteness.

    Returns the array as stored (float16, (6, 273, 256)). Raises :class:`CadenceDataError` naming the
    file for a missing, truncated, pickled, misshapen or non-finite array.
    """
    path = Path(path)
    odd = not_regular(path)
    if odd is not None:
        raise CadenceDataError(f"{odd}; replace it with the real cadence file or remove this cadence")
    if not path.is_file():
        raise CadenceDataError(missing_cadence(path))
    try:
        with path.open("rb") as handle:
            magic = handle.read(6)
    except OSError as err:  # unreadable file or directory, a directory in its place, ...
        raise CadenceDataError(
            f"cannot read {path}: {err.strerror or err}; fix its permissions or remove this cadence"
        ) from err
    if magic != b"\x93NUMPY":
        raise CadenceDataError(f"{path} is not a valid .npy file (no NumPy header: corrupt, or another format)")
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as err:
        if "pickle" in str(err).lower():
            raise CadenceDataError(_pickled(path)) from err
        raise CadenceDataError(f"{path} is not a valid .npy file (truncated or corrupt?): {err}") from err
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise CadenceDataError(f"{path} is not a valid .npy file (truncated or corrupt?): {err}") from err
    if not isinstance(array, np.ndarray):
        raise CadenceDataError(f"{path} holds an .npz archive, expected a single .npy array")
    problem = cadence_array_problem(path, array.shape, array.dtype)
    if problem is not None:
        raise CadenceDataError(problem)
    if not _all_finite(array):
        bad = int((~np.isfinite(array)).sum())
        raise CadenceDataError(f"{path} holds {bad} NaN/inf value(s); re-download or remove this cadence")
    return array


def cadence_array_problem(path: str | Path, shape: tuple[int, ...], dtype: np.dtype) -> str | None:
    """Why an array of this shape and dtype is not a cadence, or None: the one rule for every cadence check.

    :func:`load_cadence` applies it to the loaded array, ``seti.data.dataset.check_header`` to the .npy header
    alone, so both accept and word things alike.
    """
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        return _pickled(path)
    if tuple(shape) != CADENCE_SHAPE:
        return f"{path} has shape {tuple(shape)}, expected {CADENCE_SHAPE} (panels, time, frequency)"
    if dtype.kind != "f":
        return f"{path} has dtype {dtype}, expected float16 (float32/64 also accepted)"
    return None


_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def not_regular(path: str | Path) -> str | None:
    """Why ``path`` must not be opened (a FIFO, socket or device: reading it can block forever), or None for a
    regular file, a folder, or nothing there (opening those fails at once, and callers say so)."""
    try:
        mode = Path(path).stat().st_mode
    except OSError:
        return None
    kind = _KINDS.get(stat.S_IFMT(mode))
    return None if kind is None else f"{path} is {kind}, not a regular file"


def missing_cadence(path: str | Path) -> str:
    """The message for a cadence file that is not there (the header check and :func:`load_cadence` share it)."""
    return f"missing cadence file {path}: check data.root and that the download is complete"


def _pickled(path: str | Path) -> str:
    return (
        f"{path} holds a pickled object array; refusing to unpickle an untrusted file. "
        "Re-save it with np.save(path, float16_array)"
    )


def _all_finite(array: np.ndarray) -> bool:
    """NaN/inf check; for float16 on the bit pattern (exponent all ones), ~10x faster than np.isfinite."""
    if array.dtype == np.float16:
        return not ((array.view(np.uint16) & 0x7C00) == 0x7C00).any()
    return bool(np.isfinite(array).all())
