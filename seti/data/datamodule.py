"""``CadenceDataModule``: Kaggle-layout (real or synthetic) cadences -> train/val/test loaders."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, DistributedSampler

from seti.data.augment import build_augment
from seti.data.augment.image import translate_image_augment
from seti.data.dataset import CadenceDataset, find_bad_files
from seti.data.folds import split_fold
from seti.data.layout import LABELS_CSV, TEST_LABELS_CSV, CadenceDataError, cadence_path, read_id_table
from seti.data.preprocess import Preprocessor
from seti.runtime import resolve_transforms

log = logging.getLogger(__name__)

ON_ERROR = ("raise", "skip")
CHECKS = ("header", "full", "none")
SOURCES = ("kaggle", "synthetic")
#: eval batches on a GPU hold no gradients or activations to keep: this many training batches' worth
GPU_EVAL_BATCH_FACTOR = 4
CACHE_AUTO_MB = 1024


class UnpaddedDistributedSampler(DistributedSampler):
    """Shards evaluation data across ranks without padding, so no id is scored twice under DDP.

    Lightning's default sampler pads with duplicates to equal lengths, which biases exact AUROC. Being a
    ``DistributedSampler`` subclass, Lightning leaves it in place.
    """

    def __init__(self, dataset, num_replicas: int, rank: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)
        self.num_samples = len(range(rank, len(dataset), num_replicas))
        self.total_size = len(dataset)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, len(self.dataset), self.num_replicas))


class CadenceDataModule(L.LightningDataModule):
    """Reads ``ROOT/train_labels.csv`` (and, for the test stage, ``ROOT/test_labels.csv``) in the Kaggle layout.

    ``source=synthetic`` first generates such a layout under ``root`` with setigen (once; a file lock
    keeps parallel sweep jobs from racing). Validation is fold ``fold`` of a deterministic stratified
    ``num_folds``-fold split seeded by ``seed``; the test set is ``ROOT/test`` scored against
    ``ROOT/test_labels.csv`` where one exists (synthetic data). Predictions for a submission are not made
    here: ``predict.py`` (seti.inference) reads ``ROOT/sample_submission.csv`` with its own loader.

    ``transforms``: where cadences become model inputs. ``workers``: preprocessing and albumentations in
    the DataLoader workers. ``device``: workers only read raw float16 cadences, and
    :class:`~seti.data.device_transforms.DeviceTransforms` does the rest batched on the training device in
    :meth:`on_after_batch_transfer`. ``auto``: device when the trainer runs on CUDA, else workers
    (:func:`seti.runtime.resolve_transforms`). The ``aug`` config is checked and built here, once per run;
    the device path's needle bank is drawn or loaded in :meth:`setup`, once the trainer's device is known.
    """

    def __init__(
        self,
        root: str,
        source: str = "kaggle",
        synthetic: dict | DictConfig | None = None,
        num_folds: int = 5,
        fold: int = 0,
        seed: int = 42,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        num_workers: int = 2,
        pin_memory: bool | str = "auto",
        persistent_workers: bool = True,
        multiprocessing_context: str | None = None,
        panels: str = "all",
        layout: str = "channels",
        background: str = "median",
        image_size: list[int] | tuple[int, int] = (256, 256),
        clip: list[float] | None = (-5.0, 20.0),
        on_error: str = "raise",
        check: str = "header",
        limit_train: int | None = None,
        cache: bool | str = "auto",
        transforms: str = "auto",
        needle_bank_dir: str | None = None,
        needle_bank_size: int = 256,
        aug: DictConfig | dict | None = None,
    ) -> None:
        super().__init__()
        if source not in SOURCES:
            raise ValueError(f"data.source must be one of {list(SOURCES)}, got {source!r}")
        if on_error not in ON_ERROR:
            raise ValueError(f"data.on_error must be one of {list(ON_ERROR)}, got {on_error!r}")
        if check not in CHECKS:
            raise ValueError(f"data.check must be one of {list(CHECKS)}, got {check!r}")
        if int(batch_size) < 1:
            raise ValueError(f"data.batch_size must be >= 1, got {batch_size}")
        if int(num_workers) < 0:
            raise ValueError(f"data.num_workers must be >= 0, got {num_workers}")
        if eval_batch_size is not None and int(eval_batch_size) < 1:
            raise ValueError(f"data.eval_batch_size must be >= 1 or null, got {eval_batch_size}")
        if int(needle_bank_size) < 1:
            raise ValueError(f"data.needle_bank_size must be >= 1, got {needle_bank_size}")
        if root in (None, "", "???"):
            raise ValueError(
                "data.root is not set: pass data.root=/path/to/kaggle/data (the folder holding train_labels.csv)"
            )
        self.root = Path(os.path.expanduser(str(root)))
        self.source = source
        self.synthetic = (
            OmegaConf.to_container(synthetic, resolve=True)
            if isinstance(synthetic, DictConfig)
            else dict(synthetic or {})
        )
        self.num_folds, self.fold, self.seed = int(num_folds), int(fold), int(seed)
        self.batch_size = int(batch_size)
        self.eval_batch_size_setting = None if eval_batch_size is None else int(eval_batch_size)
        self.num_workers = int(num_workers)
        self.pin_memory = torch.cuda.is_available() if pin_memory == "auto" else bool(pin_memory)
        self.persistent_workers = bool(persistent_workers) and self.num_workers > 0
        self.multiprocessing_context = multiprocessing_context if self.num_workers > 0 else None
        self.preprocess = Preprocessor(
            panels=panels,
            layout=layout,
            background=background,
            image_size=tuple(image_size),
            clip=None if clip is None else tuple(clip),
        )
        self.on_error, self.check = on_error, check
        self.limit_train = limit_train
        if cache not in ("auto", True, False):
            raise ValueError(f"data.cache must be auto, true or false, got {cache!r}")
        self.cache = cache
        self.cadence_augment, self.image_augment = build_augment(aug)
        self.transforms_setting = transforms
        self.needle_bank_dir, self.needle_bank_size = needle_bank_dir, int(needle_bank_size)
        self.on_gpu = torch.cuda.is_available()  # until a trainer says where it runs (setup)
        self.device_image_ops = None
        self.device_transforms = None
        if self.transforms == "device":
            self.device_image_ops = translate_image_augment(self.image_augment)  # an unsupported entry fails now
        self.skipped: list[dict[str, str]] = []
        self.train_set: CadenceDataset | None = None
        self.val_set: CadenceDataset | None = None
        self.test_set: CadenceDataset | None = None

    @property
    def in_chans(self) -> int:
        return self.preprocess.in_chans

    @property
    def transforms(self) -> str:
        """``workers`` or ``device``: ``data.transforms`` resolved for where the run trains."""
        return resolve_transforms(self.transforms_setting, "cuda" if self.on_gpu else "cpu", "data.transforms")

    @property
    def eval_batch_size(self) -> int:
        """``data.eval_batch_size``, or null: GPU_EVAL_BATCH_FACTOR x batch_size on a GPU, batch_size on CPU."""
        if self.eval_batch_size_setting is not None:
            return self.eval_batch_size_setting
        return self.batch_size * (GPU_EVAL_BATCH_FACTOR if self.on_gpu else 1)

    @property
    def dataset_preprocess(self) -> Preprocessor | None:
        """What the Datasets run in workers: the preprocessing, or nothing on the device path."""
        return None if self.transforms == "device" else self.preprocess

    def _build_device_transforms(self):
        """The device path's transforms, built once (the needle bank is drawn or loaded here)."""
        if self.device_transforms is None:
            from seti.data.device_transforms import build_device_transforms

            if self.device_image_ops is None:
                self.device_image_ops = translate_image_augment(self.image_augment)
            self.device_transforms = build_device_transforms(
                self.preprocess,
                self.cadence_augment,
                self.device_image_ops,
                self.needle_bank_dir,
                self.needle_bank_size,
                bank_seed=self.seed,
            )
        return self.device_transforms

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """On the device path, turn raw cadences into model inputs here (augmented in training only)."""
        if self.transforms != "device":
            return batch
        transforms = self._build_device_transforms()
        x, y, index = batch
        trainer = getattr(self, "trainer", None)
        if trainer is not None and trainer.training:
            x, y = transforms.train(x, y)
        else:
            x = transforms.eval(x)
        return x, y, index

    # ---- Lightning hooks -------------------------------------------------------------------------
    def prepare_data(self) -> None:
        if self.source == "synthetic":
            from seti.data.synthetic import SyntheticParams, ensure_dataset

            spec = dict(self.synthetic)
            params = SyntheticParams(**spec.pop("params", {}) or {})
            ensure_dataset(self.root, params=params, **spec)

    def setup(self, stage: str | None = None) -> None:
        trainer = getattr(self, "trainer", None)
        if trainer is not None:
            self.on_gpu = trainer.strategy.root_device.type == "cuda"
        if self.transforms == "device":
            self._build_device_transforms()
        if stage in (None, "fit", "validate") and self.val_set is None:
            labels = read_id_table(self.root / LABELS_CSV, require_binary_target=True)
            labels = self._drop_bad(labels, "train")
            train, val = split_fold(labels, self.num_folds, self.fold, self.seed)
            if self.limit_train:
                train = train.sample(n=min(int(self.limit_train), len(train)), random_state=self.seed)
            for name, table in (("train", train), ("validation", val)):
                if table.empty or table["target"].nunique() < 2:
                    raise CadenceDataError(
                        f"the {name} split of fold {self.fold} holds {len(table)} cadence(s) "
                        f"and classes {sorted(table['target'].unique())}; it needs both classes: "
                        "use more data or fewer folds"
                    )
            self.train_set = self._dataset("train", train, augment=True)
            self.val_set = self._dataset("train", val, augment=False)
            log.info(
                "fold %d/%d: %d train (%d positive), %d validation (%d positive)",
                self.fold,
                self.num_folds,
                len(train),
                int(train.target.sum()),
                len(val),
                int(val.target.sum()),
            )
        if stage == "test" and self.test_set is None:
            path = self.root / TEST_LABELS_CSV
            if not path.is_file():
                raise CadenceDataError(
                    f"no {path}: the test stage needs test labels (synthetic data has them; Kaggle's test "
                    "labels are private, use predict.py for a submission instead)"
                )
            labels = self._drop_bad(read_id_table(path, require_binary_target=True), "test")
            self.test_set = self._dataset("test", labels, augment=False)

    def train_dataloader(self) -> DataLoader:
        return self._loader(
            self.train_set, shuffle=True, batch_size=self.batch_size, drop_last=len(self.train_set) > self.batch_size
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False, batch_size=self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False, batch_size=self.eval_batch_size)

    def state_dict(self) -> dict[str, Any]:
        return {"skipped": self.skipped}

    # ---- helpers ---------------------------------------------------------------------------------
    def _dataset(self, split: str, table: pd.DataFrame, augment: bool) -> CadenceDataset:
        workers = self.transforms == "workers"
        return CadenceDataset(
            self.root,
            split,
            table["id"].tolist(),
            table["target"].tolist(),
            self.dataset_preprocess,
            cadence_augment=self.cadence_augment if augment and workers else None,
            image_augment=self.image_augment if augment and workers else None,
            cache=workers and self._use_cache(len(table)),
            on_error=self.on_error,
            replace_failed=augment,
            check=self.check,
        )

    def _use_cache(self, num_samples: int) -> bool:
        """``auto``: cache preprocessed images when a split's images fit in CACHE_AUTO_MB per process."""
        if self.cache != "auto":
            return bool(self.cache)
        height, width = self.preprocess.image_size
        megabytes = num_samples * height * width * self.in_chans * 4 / 2**20
        return megabytes <= CACHE_AUTO_MB

    def _drop_bad(self, table: pd.DataFrame, split: str) -> pd.DataFrame:
        """Check the files behind ``table``; raise on the first bad one, or skip and record them all."""
        if self.check == "none":
            return table
        paths = [cadence_path(self.root, split, cadence_id) for cadence_id in table["id"]]
        bad = find_bad_files(paths, full=self.check == "full")
        if not bad:
            return table
        if self.on_error == "raise":
            first = min(bad)
            raise CadenceDataError(
                f"{len(bad)} of {len(paths)} {split} cadence(s) are unusable; first: {bad[first]}. "
                "Fix or remove them, or set data.on_error=skip to leave them out (they are listed in the run log)"
            )
        for position, reason in sorted(bad.items()):
            self.skipped.append({"id": table["id"].iloc[position], "split": split, "reason": reason})
            log.warning("skipping %s: %s", table["id"].iloc[position], reason)
        log.warning("data.on_error=skip: skipped %d of %d %s cadence(s)", len(bad), len(paths), split)
        keep = [i for i in range(len(table)) if i not in bad]
        return table.iloc[keep].reset_index(drop=True)

    def _loader(
        self, dataset: CadenceDataset | None, shuffle: bool, batch_size: int, drop_last: bool = False
    ) -> DataLoader:
        if dataset is None:
            raise RuntimeError("call setup() for this stage before asking for its loader")
        sampler = None
        trainer = getattr(self, "trainer", None)
        if not shuffle and trainer is not None and trainer.world_size > 1:
            sampler = UnpaddedDistributedSampler(dataset, trainer.world_size, trainer.global_rank)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle and sampler is None,
            sampler=sampler,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
            multiprocessing_context=self.multiprocessing_context,
            drop_last=drop_last,
            collate_fn=dataset.collate,
        )
