"""A synthetic dataset on disk in the Kaggle layout: ids, labels, manifest, parallel writing, locking.

Output bytes depend only on (seed, n, test_n, positive_rate, params): each cadence has its own random
stream, so the worker count and the fork/spawn choice change nothing. Every file is written atomically, a
manifest written last marks a finished dataset, and an interrupted run is finished by re-running it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import stat
import time
from pathlib import Path
from typing import Any

import numpy as np

from seti.atomic import atomic_write, atomic_write_text
from seti.data.layout import (
    LABELS_CSV,
    SUBMISSION_CSV,
    TEST_LABELS_CSV,
    CadenceDataError,
    cadence_path,
    check_id,
    load_cadence,
)
from seti.data.synthetic.backgrounds import generate_cadence
from seti.data.synthetic.needles import _setigen
from seti.data.synthetic.params import SyntheticParams
from seti.data.synthetic.real import BACKGROUNDS_CSV, GENERATED, BackgroundSource, load_background, vary_background

log = logging.getLogger(__name__)

#: bump when the generator's output for the same (seed, params) changes: a manifest of another version
#: no longer matches, so ensure_dataset never silently mixes two generators in one folder.
SYNTHETIC_VERSION = 1
MANIFEST_NAME = "synthetic.json"
PARTIAL_MANIFEST_NAME = ".synthetic.partial.json"
LOCK_NAME = ".synthetic.lock"
_SPLIT_CODES = {"train": 0, "test": 1}


def synthetic_id(seed: int, split: str, index: int) -> str:
    """Deterministic id: 15 lowercase hex characters of sha256("seti-synthetic/<seed>/<split>/<index>")."""
    if split not in _SPLIT_CODES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    digest = hashlib.sha256(f"seti-synthetic/{int(seed)}/{split}/{int(index)}".encode()).hexdigest()
    return digest[:15]


def _cadence_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """Each cadence's own stream: independent of the worker count and of the other cadences."""
    return np.random.default_rng([int(seed), _SPLIT_CODES[split], 1, int(index)])


def _labels(seed: int, split: str, n: int, positive_rate: float) -> np.ndarray:
    """Exactly round(n * positive_rate) positives, at positions shuffled by the seed."""
    n_pos = int(round(n * positive_rate))
    labels = np.zeros(n, dtype=np.int64)
    labels[:n_pos] = 1
    return np.random.default_rng([int(seed), _SPLIT_CODES[split], 2]).permutation(labels)


def _is_valid(path: Path) -> bool:
    try:
        load_cadence(path)
        return True
    except CadenceDataError:
        return False


def _work_chunk(
    root: str, seed: int, params_dict: dict, real: tuple[str, float] | None, tasks: list[tuple]
) -> tuple[int, int]:
    """Worker: generate and atomically save each (split, index, id, label, background id or None) unless a
    valid file exists. ``real`` is (background folder, real_noise) when some cadences use real backgrounds."""
    params = SyntheticParams.from_dict(params_dict)
    made = skipped = 0
    for split, index, cadence_id, label, background_id in tasks:
        path = cadence_path(root, split, cadence_id)
        if path.exists() and _is_valid(path):
            skipped += 1
            continue
        rng = _cadence_rng(seed, split, index)
        background = None
        if background_id is not None:
            background = vary_background(rng, load_background(real[0], background_id), real[1])
        cadence = generate_cadence(rng, bool(label), params, background)
        # no fsync (atomic_write's default): a killed run is covered without it, and it costs ms per file
        atomic_write(path, lambda fh, cadence=cadence: np.save(fh, cadence, allow_pickle=False))
        made += 1
    return made, skipped


def _manifest_key(
    n: int, test_n: int, positive_rate: float, seed: int, params: SyntheticParams, source: BackgroundSource
) -> dict:
    """What makes two datasets the same: the arguments, params, generator version and, for real
    backgrounds, the background ids' hash (not workers/time/folder path). Generated datasets have no
    ``backgrounds`` entry, so their manifests stay as they always were."""
    key = {
        "version": SYNTHETIC_VERSION,
        "n": int(n),
        "test_n": int(test_n),
        "positive_rate": float(positive_rate),
        "seed": int(seed),
        "params": params.to_dict(),
    }
    if source.key() is not None:
        key["backgrounds"] = source.key()
    return key


def _same_key(found: dict, key: dict) -> bool:
    """A manifest on disk matches ``key``: every key field equal, and the backgrounds entry (absent when
    generated) equal too, so real-background and generated datasets never pass for each other."""
    return all(found.get(k) == key.get(k) for k in {*key, "backgrounds"})


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise CadenceDataError(f"{path} is not readable JSON ({err}); delete it or pick another data.root") from err


def _mismatch_error(root: Path, found: dict, wanted: dict, what: str) -> CadenceDataError:
    diffs = []
    for key in [*wanted, *([] if "backgrounds" in wanted else ["backgrounds"])]:
        if key == "params":
            fp, wp = found.get("params") or {}, wanted["params"]
            diffs += [
                f"params.{k}: on disk {fp.get(k)!r}, requested {wp.get(k)!r}"
                for k in sorted(set(fp) | set(wp))
                if fp.get(k) != wp.get(k)
            ]
        elif key == "backgrounds":
            if found.get(key) != wanted.get(key):
                diffs.append(
                    f"backgrounds: on disk {found.get(key) or 'generated'!r}, requested "
                    f"{wanted.get(key) or 'generated'!r} (a changed background folder or background settings make "
                    "another dataset)"
                )
        elif found.get(key) != wanted[key]:
            diffs.append(f"{key}: on disk {found.get(key)!r}, requested {wanted[key]!r}")
    return CadenceDataError(
        f"{root} already holds {what} synthetic dataset made with other settings ({'; '.join(diffs)}). "
        f"Pick another data.root, or delete {root} to regenerate it."
    )


def _file_record(root: Path, tables: dict[str, list[tuple[str, Any]]]) -> dict:
    """What a reuse verifies cheaply: the sha256 of each CSV and the byte size every cadence file has."""
    sizes = {cadence_path(root, split, i).stat().st_size for split, rows in tables.items() for i, _ in rows}
    return {
        "csv_sha256": {name: _sha256(root / name) for name in (LABELS_CSV, TEST_LABELS_CSV, SUBMISSION_CSV)},
        "cadence_bytes": sizes.pop() if len(sizes) == 1 else None,
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify_dataset(root: Path, manifest: dict) -> str | None:
    """Why a finished dataset no longer matches its manifest's record (a CSV edited or gone, a cadence file
    missing, replaced or of the wrong size), or None. Reads the CSVs and stats every cadence: seconds for the
    Kaggle size. A manifest without a record (older datasets) is taken as it is."""
    record = manifest.get("check")
    if not isinstance(record, dict):
        return None
    for name, digest in (record.get("csv_sha256") or {}).items():
        path = root / name
        if not path.is_file() or _sha256(path) != digest:
            return f"{path} is missing or differs from the one written with the dataset"
    size = record.get("cadence_bytes")
    for split, name in (("train", LABELS_CSV), ("test", TEST_LABELS_CSV)):
        text = (root / name).read_text().splitlines()[1:]
        for line in text:
            path = cadence_path(root, split, line.split(",", 1)[0])
            try:
                info = path.stat()
            except OSError as err:
                return f"{path}: {err.strerror or err}"
            if not stat.S_ISREG(info.st_mode) or (size is not None and info.st_size != size):
                return f"{path} is not a regular file of {size} bytes"
    return None


def _check_args(n: int, test_n: int, positive_rate: float, seed: int, workers: int) -> None:
    if int(n) != n or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n}")
    if int(test_n) != test_n or test_n < 0:
        raise ValueError(f"test_n must be an integer >= 0, got {test_n}")
    if not 0.0 <= positive_rate <= 1.0:
        raise ValueError(f"positive_rate must lie in [0, 1], got {positive_rate}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed}")
    if int(workers) != workers or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers}")


def write_dataset(
    out_dir: str | Path,
    n: int,
    test_n: int = 0,
    positive_rate: float = 0.2,
    seed: int = 0,
    workers: int = 1,
    params: SyntheticParams | None = None,
    progress: bool = True,
    *,
    backgrounds: str = GENERATED,
    background_root: str | Path | None = None,
    real_fraction: float = 0.5,
    real_noise: float = 0.5,
) -> Path:
    """Write a synthetic dataset in the Kaggle layout under ``out_dir`` and return its path.

    Files: ``train_labels.csv``, ``train/<id[0]>/<id>.npy``, ``test/<id[0]>/<id>.npy``,
    ``sample_submission.csv`` (target 0.5; header only when test_n is 0), ``test_labels.csv`` (the test
    answers, for scoring) and ``synthetic.json`` (arguments, params, version), written last as the
    "complete" marker. Output bytes depend only on (seed, n, test_n, positive_rate, params), not on
    ``workers``. Every file is written atomically; re-running after an interruption keeps the valid
    cadences and writes the rest. A folder begun or finished with other settings is refused
    (:class:`CadenceDataError`), because reusing its files would silently mix two datasets.
    Not safe for two processes writing one folder at once: use :func:`ensure_dataset`, which locks.

    ``backgrounds`` real or mix draws all, or ``real_fraction`` of, the cadences on varied label-0 cadences of
    ``background_root`` (:mod:`seti.data.synthetic.real`); ``backgrounds.csv`` then records which one each
    cadence used. Bytes then depend on that folder's files too.
    """
    _check_args(n, test_n, positive_rate, seed, workers)
    params = params or SyntheticParams()
    source = BackgroundSource.load(backgrounds, background_root, real_fraction, real_noise)
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    key = _manifest_key(n, test_n, positive_rate, seed, params, source)
    for name, what in ((MANIFEST_NAME, "a complete"), (PARTIAL_MANIFEST_NAME, "a partly written")):
        found = _read_json(root / name)
        if found is not None and not _same_key(found, key):
            raise _mismatch_error(root, found, key, what)
    atomic_write_text(root / PARTIAL_MANIFEST_NAME, json.dumps(key, indent=2))

    started = time.perf_counter()
    tables: dict[str, list[tuple[str, int]]] = {}
    tasks: list[tuple[str, int, str, int, str | None]] = []
    seen: set[str] = set()
    for split, count in (("train", int(n)), ("test", int(test_n))):
        labels = _labels(seed, split, count, positive_rate) if count else np.zeros(0, dtype=np.int64)
        plan = source.plan(seed, _SPLIT_CODES[split], count)
        rows = []
        for index, label in enumerate(labels):
            cadence_id = check_id(synthetic_id(seed, split, index))
            if cadence_id in seen:  # 60-bit hashes: never expected, but a collision must not go unnoticed
                raise RuntimeError(f"synthetic id collision at {split}[{index}]: {cadence_id}")
            seen.add(cadence_id)
            rows.append((cadence_id, int(label)))
            tasks.append((split, index, cadence_id, int(label), plan[index]))
        tables[split] = rows

    real = (str(source.root), source.real_noise) if source.key() is not None else None
    made, skipped = _run_tasks(root, seed, params, real, tasks, workers, progress)

    def table(rows: list[tuple[str, Any]]) -> str:
        return "id,target\n" + "".join(f"{i},{t}\n" for i, t in rows)

    atomic_write_text(root / LABELS_CSV, table(tables["train"]))
    atomic_write_text(root / TEST_LABELS_CSV, table(tables["test"]))
    atomic_write_text(root / SUBMISSION_CSV, table([(i, 0.5) for i, _ in tables["test"]]))
    if real is not None:
        atomic_write_text(
            root / BACKGROUNDS_CSV,
            "id,split,background\n" + "".join(f"{t[2]},{t[0]},{t[4] or GENERATED}\n" for t in tasks),
        )
    elapsed = time.perf_counter() - started
    manifest = dict(key)
    manifest["check"] = _file_record(root, tables)
    if real is not None:
        used = sorted({t[4] for t in tasks if t[4] is not None})
        manifest["background_root"] = str(source.root.resolve())
        manifest["backgrounds_used"] = {
            "cadences_on_real": sum(t[4] is not None for t in tasks),
            "distinct_backgrounds": len(used),
            "table": BACKGROUNDS_CSV,
        }
    manifest.update(
        {
            "generator": "seti.data.synthetic",
            "layout": "kaggle",
            "counts": {
                "train": len(tables["train"]),
                "train_positive": sum(t for _, t in tables["train"]),
                "test": len(tables["test"]),
                "test_positive": sum(t for _, t in tables["test"]),
            },
            "last_run": {
                "generated": made,
                "skipped": skipped,
                "workers": int(workers),
                "elapsed_s": round(elapsed, 3),
                "finished_unix": round(time.time(), 3),
            },
        }
    )
    atomic_write_text(root / MANIFEST_NAME, json.dumps(manifest, indent=2))
    (root / PARTIAL_MANIFEST_NAME).unlink(missing_ok=True)
    _remove_stale_tmp(root)
    log.info("synthetic dataset %s: %d generated, %d kept, %.1f s", root, made, skipped, elapsed)
    return root


def _run_tasks(
    root: Path,
    seed: int,
    params: SyntheticParams,
    real: tuple[str, float] | None,
    tasks: list,
    workers: int,
    progress: bool,
) -> tuple[int, int]:
    from tqdm.auto import tqdm

    params_dict = params.to_dict()
    if params.engine == "setigen":
        _setigen()  # import once here: forked workers inherit it, and a broken install fails early
    bar = tqdm(total=len(tasks), desc="synthetic cadences", unit="cad", disable=not progress)
    made = skipped = 0
    try:
        parallel = workers > 1 and len(tasks) > 1
        context = _mp_context() if parallel else None
        if parallel and context is None:
            log.info(
                "generating in this process: it runs under the %r start method (a joblib/loky sweep job), which "
                "spawned workers cannot restore, and forking a multi-threaded process can deadlock",
                multiprocessing.get_start_method(allow_none=True),
            )
        if context is None:
            for task in tasks:
                m, s = _work_chunk(str(root), seed, params_dict, real, [task])
                made, skipped = made + m, skipped + s
                bar.update(1)
            return made, skipped
        chunk = max(1, min(32, len(tasks) // (workers * 4) or 1))
        chunks = [tasks[i : i + chunk] for i in range(0, len(tasks), chunk)]
        pool = context.Pool(workers, initializer=_worker_dies_with_parent, initargs=(os.getpid(),))
        try:
            args = [(str(root), seed, params_dict, real, c) for c in chunks]
            for m, s, n_tasks in pool.imap_unordered(_work_chunk_counted, args):
                made, skipped = made + m, skipped + s
                bar.update(n_tasks)
            pool.close()
        finally:
            # An error, Ctrl-C or SIGTERM (turned into an exception by the caller) must not leave workers
            # generating behind us: stop them now instead of waiting for their queue to drain.
            pool.terminate()
            pool.join()
        return made, skipped
    finally:
        bar.close()


def _work_chunk_counted(args: tuple) -> tuple[int, int, int]:
    made, skipped = _work_chunk(*args)
    return made, skipped, len(args[-1])


def _worker_dies_with_parent(parent_pid: int) -> None:
    """Pool initializer: a worker must not outlive the process that started it (even one killed with -9).

    Linux: the kernel sends SIGKILL to this worker when its parent dies (prctl PR_SET_PDEATHSIG), and a
    parent that died before this ran is caught by the ppid check. A half-written cadence is only a hidden
    temp file, removed by the next run. SIGTERM/SIGINT get their default action here: the parent, not the
    worker, decides how to shut down.
    """
    import signal
    import sys

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent terminates us
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:
        os._exit(1)


def _mp_context():
    """fork when this process runs a single Python thread (workers inherit the imports: setigen alone takes
    ~5 s to import), else spawn, because forking a process whose other threads may hold locks (a logger, a
    DataLoader, W&B) can deadlock the child. Output is the same either way.

    None when neither is safe: a spawned child re-applies its parent's global start method, and inside a
    joblib/loky sweep job that is 'loky', which the child cannot load; its Pool would then respawn dying
    workers forever. The caller generates in-process instead.
    """
    import threading

    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if multiprocessing.get_start_method(allow_none=True) not in (None, *multiprocessing.get_all_start_methods()):
        return None
    return multiprocessing.get_context("spawn")


def _remove_stale_tmp(root: Path) -> None:
    """Remove temp files an interrupted run left (ours only: '.<name>.tmp-<pid>-<hex>')."""
    for sub in (root, root / "train", root / "test"):
        if not sub.is_dir():
            continue
        for path in [*sub.glob(".*.tmp-*"), *sub.glob("*/.*.tmp-*")]:
            path.unlink(missing_ok=True)


def ensure_dataset(
    root: str | Path,
    n: int,
    test_n: int = 0,
    positive_rate: float = 0.2,
    seed: int = 0,
    params: SyntheticParams | None = None,
    *,
    workers: int = 1,
    progress: bool = True,
    backgrounds: str = GENERATED,
    background_root: str | Path | None = None,
    real_fraction: float = 0.5,
    real_noise: float = 0.5,
) -> Path:
    """Return ``root`` holding the requested synthetic dataset, generating it once if needed.

    A finished dataset with the same arguments is reused at once; one with other arguments is refused
    with a clear error (pick another data.root or delete it). Generation runs under a file lock
    (``root/.synthetic.lock``) with a re-check after acquiring it, so parallel sweep jobs that ask for
    the same data wait for one writer instead of racing.
    """
    from filelock import FileLock

    params = params or SyntheticParams()
    _check_args(n, test_n, positive_rate, seed, workers)
    background = {
        "backgrounds": backgrounds,
        "background_root": background_root,
        "real_fraction": real_fraction,
        "real_noise": real_noise,
    }
    source = BackgroundSource.load(**background)
    root = Path(root)
    key = _manifest_key(n, test_n, positive_rate, seed, params, source)

    def finished() -> bool:
        found = _read_json(root / MANIFEST_NAME)
        if found is None:
            return False
        if not _same_key(found, key):
            raise _mismatch_error(root, found, key, "a complete")
        problem = verify_dataset(root, found)
        if problem is not None:
            log.warning(
                "synthetic dataset %s is damaged (%s): checking every file and regenerating the bad ones", root, problem
            )
            return False
        return True

    if finished():
        log.info("synthetic dataset %s is complete (n=%d, test_n=%d, seed=%d): reusing it", root, n, test_n, seed)
        return root
    root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(root / LOCK_NAME))
    log.info("waiting for lock %s", root / LOCK_NAME)
    with lock:
        if finished():
            log.info("synthetic dataset %s was completed by another process: reusing it", root)
            return root
        log.info(
            "generating synthetic dataset in %s: n=%d, test_n=%d, positive_rate=%g, seed=%d, workers=%d",
            root,
            n,
            test_n,
            positive_rate,
            seed,
            workers,
        )
        return write_dataset(root, n, test_n, positive_rate, seed, workers, params, progress, **background)
