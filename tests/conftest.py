"""Shared fixtures: the real Kaggle sample (located by SETI_SAMPLE_DIR), and quiet offline W&B.

Only tests that ask for ``sample_root`` / ``sample_copy`` need the sample; without it they SKIP with a
one-line reason, and everything else runs. CI (``.ci/run``) sets SETI_SAMPLE_DIR and fails if the
sample is missing, so there the sample tests always run.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from helpers import REPO, SAMPLE_ROOT  # noqa: F401 - REPO re-exported for older imports

SAMPLE_MISSING = (
    f"needs the 8-cadence Kaggle sample (train_labels.csv, train/, test/) at {SAMPLE_ROOT}: "
    "set SETI_SAMPLE_DIR to a folder holding it"
)

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def have_sample() -> bool:
    return (SAMPLE_ROOT / "train_labels.csv").is_file()


#: for module-level ``pytestmark`` / ``skipif`` where a fixture does not fit
needs_sample = pytest.mark.skipif(not have_sample(), reason=SAMPLE_MISSING)


@pytest.fixture(scope="session")
def sample_root() -> Path:
    if not have_sample():
        pytest.skip(SAMPLE_MISSING)
    return SAMPLE_ROOT


@pytest.fixture
def sample_copy(tmp_path: Path, sample_root: Path) -> Path:
    """A writable copy of the real sample, for tests that break files on purpose."""
    root = tmp_path / "kaggle"
    shutil.copytree(sample_root, root)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


def read_complete_run(directory: Path, timeout: float = 60.0):
    """The W&B offline run file under ``directory``, read once it is complete.

    ``run.finish()`` can return while W&B's service process is still writing the ``.wandb`` file (a reader
    then sees only its header), so poll until the file holds the run's exit record, with a timeout.
    """
    from seti.training.wandb_offline import find_run_files, read_offline_run

    deadline = time.monotonic() + timeout
    last = "no run-*.wandb file yet"
    while True:
        files = find_run_files(directory)
        if len(files) > 1:
            pytest.fail(f"expected one W&B run file under {directory}, found {files}")
        if files:
            try:
                logged = read_offline_run(files[0])
            except Exception as exc:  # a block still being written: not yet parseable  # noqa: BLE001
                last = f"unreadable so far: {exc!r}"
            else:
                if logged.exit_code is not None:
                    return logged
                last = f"no exit record yet ({len(logged.history)} history rows)"
        if time.monotonic() > deadline:
            pytest.fail(f"the W&B run file under {directory} was not complete after {timeout:.0f} s: {last}")
        time.sleep(0.2)
