"""After fit: what the run's outputs are made of.

The best checkpoint's per-id validation predictions (scored outside the Trainer, so no logged metric is
overwritten), whether the test stage runs, and the cadences that were left out.
"""

from __future__ import annotations

import resource
import shutil
from pathlib import Path

import lightning as L
import pandas as pd
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig

from seti.atomic import atomic_write_csv
from seti.checkpoints import load_checkpoint_file, load_state_into
from seti.data.layout import TEST_LABELS_CSV
from seti.models.scoring import predict_probabilities
from seti.rundir import SKIPPED_CSV


def best_checkpoint_callback(trainer: L.Trainer) -> ModelCheckpoint | None:
    """The ModelCheckpoint that tracks the best val AUROC (the one with a monitor; last.ckpt's has none)."""
    monitored = [c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint) and c.monitor]
    return monitored[0] if monitored else None


def validation_predictions(model, datamodule, best_path: str, trainer: L.Trainer) -> pd.DataFrame:
    """The best checkpoint's probabilities for every validation id, computed without logging anything."""
    if best_path:
        load_state_into(model, load_checkpoint_file(best_path)["state_dict"], best_path)
    loader = torch.utils.data.DataLoader(
        datamodule.val_set,
        batch_size=datamodule.eval_batch_size,
        shuffle=False,
        num_workers=datamodule.num_workers,
        multiprocessing_context=datamodule.multiprocessing_context,
        collate_fn=datamodule.val_set.collate,
    )
    device = trainer.strategy.root_device
    if datamodule.transforms == "device":
        from seti.data.device_transforms import PreprocessThen

        model = PreprocessThen(datamodule.preprocess, model)  # the loader yields raw cadences on this path
    indices, probs = predict_probabilities(model, loader, device=device, precision=str(trainer.precision))
    val = datamodule.val_set
    return pd.DataFrame({"id": [val.ids[i] for i in indices], "target": val.targets[indices], "pred": probs})


def should_test(cfg: DictConfig, datamodule) -> bool:
    """``auto``: test when ROOT/test_labels.csv lists at least one cadence (an empty split is not scored)."""
    choice = cfg.get("test_after_fit", "auto")
    if choice == "auto":
        path = Path(datamodule.root) / TEST_LABELS_CSV
        if not path.is_file():
            return False
        try:
            return len(pd.read_csv(path)) > 0
        except pd.errors.EmptyDataError:
            return False
    return bool(choice)


def write_skipped(output_dir: Path, datamodule) -> int:
    """Every cadence left out, whether refused up front or failing in a DataLoader worker: skipped_ids.csv.

    Returns how many distinct cadences were left out."""
    rows = list(getattr(datamodule, "skipped", []))
    for name in ("train_set", "val_set", "test_set"):
        dataset = getattr(datamodule, name, None)
        if dataset is not None and hasattr(dataset, "failures"):
            rows += dataset.failures()
            if getattr(dataset, "skip_log", None) is not None:  # read: the temp folder has done its job
                shutil.rmtree(dataset.skip_log, ignore_errors=True)
    unique = list({(row["id"], row.get("split")): row for row in rows}.values())
    if unique:
        atomic_write_csv(output_dir / SKIPPED_CSV, pd.DataFrame(unique), fsync=True)
    return len({row["id"] for row in unique})


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
