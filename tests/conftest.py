"""Shared fixtures: the real Kaggle sample (located by SETI_SAMPLE_DIR), and quiet offline W&B.

Only tests that ask for ``sample_root`` / ``sample_copy`` need the sample; without it they SKIP with a
one-line reason, and everything else runs. CI (``.ci/run``) sets SETI_SAMPLE_DIR and fails if the
sample is missing, so there the sample tests always run. Paths and ways to run a job live in helpers.py.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers import SAMPLE_ROOT

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


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """A tiny synthetic set in the Kaggle layout (12 labelled cadences, 3 positive; 2 test): the always-present
    stand-in for the sample in tests of the layout, the folds and the DataModule."""
    from seti.data.synthetic import SyntheticParams, write_dataset

    root = tmp_path_factory.mktemp("synthetic") / "data"
    return write_dataset(
        root, n=12, test_n=2, positive_rate=0.25, seed=5, params=SyntheticParams(engine="numpy"), progress=False
    )


@pytest.fixture(params=["sample", "synthetic"])
def writable_root(request, tmp_path: Path) -> Path:
    """A writable copy of the sample (skipped without it) and of the synthetic set: tests that break files."""
    source = request.getfixturevalue("sample_root" if request.param == "sample" else "synthetic_root")
    root = tmp_path / request.param
    shutil.copytree(source, root)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root
