"""Shared fixtures: the real Kaggle sample beside the checkout, and quiet offline W&B."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_ROOT = Path(os.environ.get("SETI_SAMPLE_DIR") or REPO.parent / "shared" / "data" / "kaggle-sample")

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def sample_root() -> Path:
    if not (SAMPLE_ROOT / "train_labels.csv").is_file():
        pytest.fail(f"the real Kaggle sample is missing at {SAMPLE_ROOT} (expected shared/ beside the checkout, or set SETI_SAMPLE_DIR)")
    return SAMPLE_ROOT


@pytest.fixture
def sample_copy(tmp_path: Path, sample_root: Path) -> Path:
    """A writable copy of the real sample, for tests that break files on purpose."""
    root = tmp_path / "kaggle"
    shutil.copytree(sample_root, root)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root
