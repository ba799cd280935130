"""A torch Dataset of cadence files, and the cheap up-front file check that keeps errors out of workers."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from seti.data.augment import CadenceAugment
from seti.data.layout import (
    CADENCE_SHAPE,
    CadenceDataError,
    cadence_array_problem,
    cadence_path,
    load_cadence,
    missing_cadence,
    not_regular,
)
from seti.data.preprocess import Preprocessor

log = logging.getLogger(__name__)


def check_header(path: Path) -> str | None:
    """Return why ``path`` is unusable judging by its .npy header and size alone, or None if it looks fine.

    Reads a few hundred bytes, so a whole Kaggle split is checked in seconds in the main process.
    NaN/inf needs the full read (``data.check=full``).
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        return missing_cadence(path)
    except OSError as err:  # a symlink loop, an unreadable directory, ...
        return f"cannot read {path}: {err.strerror or err}"
    odd = not_regular(path)
    if odd is not None:  # never opened: a FIFO would block this check forever
        return f"{odd}; replace it with the real cadence file or remove this cadence"
    size = info.st_size
    try:
        with path.open("rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
            offset = handle.tell()
    except OSError as err:  # unreadable (permissions), a directory where the file should be, ...
        return f"cannot read {path}: {err.strerror or err}"
    except Exception as err:  # noqa: BLE001 - any header failure means "not a .npy file"
        return f"{path} is not a valid .npy file (truncated or corrupt?): {err}"
    problem = cadence_array_problem(path, shape, dtype)
    if problem is not None:
        return problem
    expected = offset + int(np.prod(shape)) * dtype.itemsize
    if size < expected:
        return f"{path} is truncated: {size} bytes, expected {expected}"
    return None


def check_full(path: Path) -> str | None:
    """Like :func:`check_header` but loads the array, so NaN/inf are found too."""
    try:
        load_cadence(path)
    except CadenceDataError as err:
        return str(err)
    except OSError as err:
        return f"cannot read {path}: {err.strerror or err}"
    return None


def find_bad_files(paths: list[Path], full: bool = False, workers: int | None = None) -> dict[int, str]:
    """Check every file (threads: the work is I/O); return {position: reason} for the bad ones.

    Daemon threads, waited on in short joins: the main thread stays free to take SIGTERM/SIGINT (recorded
    as ``interrupted``), and a thread stuck on a slow file cannot keep the process from exiting.
    """
    check = check_full if full else check_header
    workers = max(1, min(workers or min(8, (os.cpu_count() or 1) * 2), len(paths)))
    reasons: list[str | None] = [None] * len(paths)
    errors: list[BaseException] = []
    todo = iter(range(len(paths)))
    guard = threading.Lock()

    def work() -> None:
        while not errors:
            with guard:
                index = next(todo, None)
            if index is None:
                return
            try:
                reasons[index] = check(paths[index])
            except BaseException as err:  # noqa: BLE001 - re-raised in the main thread
                errors.append(err)

    threads = [threading.Thread(target=work, name="seti-file-check", daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
    if errors:
        raise errors[0]
    return {i: reason for i, reason in enumerate(reasons) if reason is not None}


class CadenceDataset(Dataset):
    """Cadences of one split: returns ``(image float32 (C, H, W), target float32, index)``.

    ``targets`` is None for unlabelled cadences (target -1). Cadence augmentation may change the
    label (see :class:`seti.data.augment.CadenceAugment`); image augmentation never does. With
    ``preprocess=None`` (``data.transforms=device``) it returns the raw float16 (6, 273, 256) cadence as
    read and validated, and the device does the rest.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        ids: list[str],
        targets: list[int] | None,
        preprocess: Preprocessor | None,
        cadence_augment: CadenceAugment | None = None,
        image_augment: A.Compose | None = None,
        cache: bool = False,
        on_error: str = "raise",
        replace_failed: bool = False,
        check: str = "header",
    ) -> None:
        if targets is not None and len(targets) != len(ids):
            raise ValueError(f"{len(ids)} ids but {len(targets)} targets")
        self.root = Path(root)
        self.split = split
        self.ids = list(ids)
        self.targets = None if targets is None else np.asarray(targets, dtype=np.int64)
        self.preprocess = preprocess
        self.cadence_augment = cadence_augment
        self.image_augment = image_augment
        self._seeded_for: int | None = None
        # Preprocessed images of cadences as stored, kept per process: epochs after the first skip loading and
        # cleaning (the CPU default's bottleneck). With cadence augmentation only the cadences it left
        # untouched in an epoch reuse them; a transformed one is loaded, transformed and cleaned again.
        self.cache_enabled = bool(cache) and preprocess is not None
        self._cache: dict[int, np.ndarray] = {}
        if on_error not in ("raise", "skip"):
            raise ValueError(f"data.on_error must be raise or skip, got {on_error!r}")
        # A cadence that passed the up-front check but fails to load (a NaN behind a valid header): with
        # on_error=skip, training replaces it by the next loadable cadence (same batch size; harmless),
        # evaluation drops it (see collate). Either way its id goes to the skip log: one file per process
        # in a folder made here, in the main process, so DataLoader workers' records reach the run.
        self.on_error, self.replace_failed, self.check = on_error, bool(replace_failed), check
        self.skip_log = Path(tempfile.mkdtemp(prefix="seti-skipped-")) if on_error == "skip" else None

    def __len__(self) -> int:
        return len(self.ids)

    def path(self, index: int) -> Path:
        return cadence_path(self.root, self.split, self.ids[index])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int] | None:
        try:
            return self._item(index)
        except (CadenceDataError, OSError) as err:
            if self.on_error == "raise":
                if self.targets is None:  # unlabelled, not from the DataModule: no data.* keys to suggest
                    raise
                raise CadenceDataError(
                    f"{err} (found while loading; data.check={self.check} did not catch it up front: set "
                    "data.check=full to check every array before training, or data.on_error=skip to leave bad "
                    "cadences out, listed in skipped_ids.csv)"
                ) from err
            self._record_failure(index, err)
        if not self.replace_failed:
            return None  # evaluation: dropped by collate
        for step in range(1, len(self)):
            candidate = (index + step) % len(self)
            try:
                return self._item(candidate)
            except (CadenceDataError, OSError) as err:
                self._record_failure(candidate, err)
        raise CadenceDataError(f"no cadence of the {self.split} split under {self.root} could be loaded")

    def _record_failure(self, index: int, err: BaseException) -> None:
        reason = " ".join(str(err).split())
        log.warning("data.on_error=skip: skipping %s: %s", self.ids[index], reason)
        with open(self.skip_log / f"{os.getpid()}.tsv", "a", encoding="utf-8") as handle:
            handle.write(f"{self.ids[index]}\t{self.split}\t{reason}\n")

    def failures(self) -> list[dict[str, str]]:
        """Ids that failed to load so far, in any process (deduplicated, in first-seen order per process)."""
        if self.skip_log is None or not self.skip_log.is_dir():
            return []
        seen: dict[str, dict[str, str]] = {}
        for path in sorted(self.skip_log.glob("*.tsv")):
            for line in path.read_text(encoding="utf-8").splitlines():
                cadence_id, split, reason = (line.split("\t", 2) + ["", ""])[:3]
                seen.setdefault(cadence_id, {"id": cadence_id, "split": split, "reason": reason})
        return list(seen.values())

    def collate(self, samples: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``default_collate`` without the samples that failed to load (None); an all-failed batch is empty."""
        kept = [sample for sample in samples if sample is not None]
        if kept:
            return default_collate(kept)
        if self.preprocess is None:  # data.transforms=device: raw cadences
            empty = torch.empty(0, *CADENCE_SHAPE, dtype=torch.float16)
        else:
            height, width = self.preprocess.image_size
            empty = torch.empty(0, self.preprocess.in_chans, height, width)
        return empty, torch.empty(0), torch.empty(0, dtype=torch.long)

    def _item(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        target = -1 if self.targets is None else int(self.targets[index])
        if self.preprocess is None:
            return torch.from_numpy(load_cadence(self.path(index))), torch.tensor(float(target)), index
        if self.cadence_augment is not None or self.image_augment is not None:
            self._reseed_for_worker()
        drawn = None
        if self.cadence_augment is not None and target >= 0:
            rng = np.random.default_rng([torch.initial_seed() % 2**63, index])
            drawn = self.cadence_augment.draw(target, rng)
        if drawn is not None:
            cadence, target = self.cadence_augment.apply_drawn(load_cadence(self.path(index)), target, drawn)
            image = self.preprocess(cadence)
        else:
            image = self._cache.get(index) if self.cache_enabled else None
            if image is None:
                image = self.preprocess(load_cadence(self.path(index)))
                if self.cache_enabled:
                    self._cache[index] = image
        if self.image_augment is not None:
            image = self.image_augment(image=image)["image"]
        tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))
        return tensor, torch.tensor(float(target)), index

    def _reseed_for_worker(self) -> None:
        """Give albumentations a worker- and epoch-specific seed: forked workers otherwise share one."""
        seed = torch.initial_seed()
        if self._seeded_for != seed and self.image_augment is not None:
            self.image_augment.set_random_seed(seed % 2**32)
        self._seeded_for = seed
