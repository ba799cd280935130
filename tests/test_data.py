"""The Kaggle-layout reader, bad-input errors, folds, preprocessing and the DataModule on real files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from seti.data.datamodule import CadenceDataModule, UnpaddedDistributedSampler
from seti.data.dataset import CadenceDataset
from seti.data.folds import assign_folds, split_fold
from seti.data.layout import CADENCE_SHAPE, CadenceDataError, cadence_path, load_cadence, read_id_table
from seti.data.preprocess import Preprocessor

EXPECTED_LABELS = {
    "0000799a2b2c42d": 0,
    "00042890562ff68": 0,
    "0012ef703e41ef0": 0,
    "0024012d1431fbc": 1,
    "0028a35de92941d": 1,
    "1004c26b9a3f877": 1,
}


def make_dm(root, **kwargs) -> CadenceDataModule:
    defaults = dict(root=str(root), num_folds=2, fold=0, seed=0, batch_size=2, num_workers=0, image_size=(32, 64))
    defaults.update(kwargs)
    return CadenceDataModule(**defaults)


# ---- the real sample -----------------------------------------------------------------------------
def test_real_sample_labels_and_shapes(sample_root):
    labels = read_id_table(sample_root / "train_labels.csv", require_binary_target=True)
    assert dict(zip(labels.id, labels.target)) == EXPECTED_LABELS
    for cadence_id in labels.id:
        array = load_cadence(cadence_path(sample_root, "train", cadence_id))
        assert array.shape == CADENCE_SHAPE and array.dtype == np.float16
        per_panel = array.astype(np.float32).reshape(6, -1)
        assert np.allclose(per_panel.mean(1), 0, atol=0.05) and np.allclose(per_panel.std(1), 1, atol=0.05)


def test_full_label_files_are_valid(sample_root):
    full = read_id_table(sample_root / "train_labels_full.csv", require_binary_target=True)
    assert len(full) == 60000 and int(full.target.sum()) == 6000
    submission = read_id_table(sample_root / "sample_submission_full.csv", require_binary_target=False)
    assert len(submission) == 39995


def test_datamodule_on_real_sample(sample_root):
    dm = make_dm(sample_root, num_folds=3)
    dm.setup("fit")
    assert len(dm.train_set) + len(dm.val_set) == 6
    x, y, index = next(iter(dm.train_dataloader()))
    assert x.shape == (2, 6, 32, 64) and x.dtype == torch.float32 and set(y.tolist()) <= {0.0, 1.0}
    # unlabelled cadences (the DataModule has no predict stage: predict.py has its own loader)
    ids = pd.read_csv(sample_root / "sample_submission.csv").id.tolist()
    unlabelled = CadenceDataset(sample_root, "test", ids, None, dm.preprocess)
    batch = next(iter(torch.utils.data.DataLoader(unlabelled, batch_size=2, collate_fn=unlabelled.collate)))
    assert batch[0].shape[1:] == (6, 32, 64) and (batch[1] == -1).all()


# ---- bad input: each gets an error naming the file/row -----------------------------------------
def write_labels(root, rows):
    pd.DataFrame(rows, columns=["id", "target"]).to_csv(root / "train_labels.csv", index=False)


def test_missing_labels_csv(tmp_path):
    with pytest.raises(CadenceDataError, match="missing .*train_labels.csv"):
        make_dm(tmp_path).setup("fit")


@pytest.mark.parametrize(
    "content, message",
    [
        ("identifier,label\n0000799a2b2c42d,0\n", "lacks column"),
        ("id,target\n0000799a2b2c42d,0\n0000799a2b2c42d,1\n", "more than once"),
        ("id,target\n../../etc/passwd,0\n", "invalid cadence id '../../etc/passwd'"),
        ("id,target\n0000799A2B2C42D,0\n", "invalid cadence id"),
        ("id,target\n0000799a2b2c42d,2\n", "line 2: target '2' .* is not 0 or 1"),
        ("id,target\n0000799a2b2c42d,\n", "is not 0 or 1"),
        ("id,target\n", "has no rows"),
    ],
)
def test_bad_label_rows(tmp_path, content, message):
    (tmp_path / "train_labels.csv").write_text(content)
    with pytest.raises(CadenceDataError, match=message):
        read_id_table(tmp_path / "train_labels.csv", require_binary_target=True)


def corrupt(path, how):
    if how == "missing":
        path.unlink()
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:5000])
    elif how == "not_numpy":
        path.write_text("definitely not an array")
    elif how == "shape":
        np.save(path, np.zeros((6, 273, 255), np.float16))
    elif how == "dtype":
        np.save(path, np.zeros(CADENCE_SHAPE, np.int16))
    elif how == "nan":
        array = np.zeros(CADENCE_SHAPE, np.float16)
        array[2, 10, 10] = np.nan
        np.save(path, array)
    elif how == "pickle":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)


BAD_FILES = {
    "missing": "missing cadence file",
    "truncated": "truncated",
    "not_numpy": "not a valid .npy",
    "shape": r"shape \(6, 273, 255\)",
    "dtype": "dtype int16",
    "nan": "NaN/inf",
    "pickle": "pickled",
}


@pytest.mark.parametrize("how", sorted(BAD_FILES))
def test_load_cadence_rejects(sample_copy, how):
    path = cadence_path(sample_copy, "train", "0012ef703e41ef0")
    corrupt(path, how)
    with pytest.raises(CadenceDataError, match=BAD_FILES[how]) as info:
        load_cadence(path)
    if how != "missing":
        assert "0012ef703e41ef0" in str(info.value)


@pytest.mark.parametrize("how", ["missing", "truncated", "shape", "pickle", "not_numpy"])
def test_bad_file_found_before_training(sample_copy, how):
    corrupt(cadence_path(sample_copy, "train", "0012ef703e41ef0"), how)
    with pytest.raises(CadenceDataError, match="0012ef703e41ef0.*|.*on_error=skip"):
        make_dm(sample_copy, num_folds=2).setup("fit")


def test_nan_found_by_full_check_and_skipped(sample_copy):
    corrupt(cadence_path(sample_copy, "train", "0012ef703e41ef0"), "nan")
    make_dm(sample_copy, num_folds=2).setup("fit")  # the header check cannot see NaN...
    with pytest.raises(CadenceDataError, match="NaN"):
        make_dm(sample_copy, num_folds=2, check="full").setup("fit")  # ...the full check can
    dm = make_dm(sample_copy, num_folds=2, check="full", on_error="skip")
    dm.setup("fit")
    assert [s["id"] for s in dm.skipped] == ["0012ef703e41ef0"]
    assert "0012ef703e41ef0" not in dm.train_set.ids + dm.val_set.ids
    assert len(dm.train_set) + len(dm.val_set) == 5


def test_empty_split_is_an_error(sample_copy):
    write_labels(sample_copy, [("0000799a2b2c42d", 0), ("00042890562ff68", 0)])
    with pytest.raises(CadenceDataError, match="only class 0"):
        make_dm(sample_copy).setup("fit")


def test_bad_config_values():
    with pytest.raises(ValueError, match="data.panels"):
        Preprocessor(panels="odd")
    with pytest.raises(ValueError, match="data.layout"):
        Preprocessor(layout="grid")
    with pytest.raises(ValueError, match="data.image_size"):
        Preprocessor(image_size=(4, 64))
    with pytest.raises(ValueError, match="data.on_error"):
        make_dm("/x", on_error="ignore")
    with pytest.raises(ValueError, match="data.root is not set"):
        make_dm("???")


# ---- folds -----------------------------------------------------------------------------------------
def test_folds_are_deterministic_stratified_and_order_free(sample_root):
    full = read_id_table(sample_root / "train_labels_full.csv", require_binary_target=True).iloc[:5000]
    folds = assign_folds(full, num_folds=5, seed=7)
    shuffled = full.sample(frac=1.0, random_state=1)
    again = assign_folds(shuffled, num_folds=5, seed=7)
    assert (folds.loc[shuffled.index].to_numpy() == again.to_numpy()).all()
    rates = full.groupby(folds).target.mean()
    assert rates.max() - rates.min() < 0.01
    assert sorted(folds.value_counts()) == [1000] * 5
    assert (assign_folds(full, 5, seed=8) != folds).any()
    train, val = split_fold(full, 5, 2, seed=7)
    assert set(train.id).isdisjoint(val.id) and len(train) + len(val) == 5000


def test_too_many_folds_is_explained(sample_root):
    labels = read_id_table(sample_root / "train_labels.csv", require_binary_target=True)
    with pytest.raises(CadenceDataError, match="lower data.num_folds"):
        assign_folds(labels, num_folds=5, seed=0)


# ---- preprocessing ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "panels, layout, chans", [("on", "stack", 1), ("all", "stack", 1), ("on", "channels", 3), ("all", "channels", 6)]
)
def test_preprocess_shapes(sample_root, panels, layout, chans):
    cadence = load_cadence(cadence_path(sample_root, "train", "1004c26b9a3f877"))
    pre = Preprocessor(panels=panels, layout=layout, image_size=(96, 64))
    image = pre(cadence)
    assert image.shape == (96, 64, chans) and image.dtype == np.float32 and pre.in_chans == chans


def test_background_removal_kills_channel_stripes():
    rng = np.random.default_rng(0)
    cadence = rng.normal(size=CADENCE_SHAPE).astype(np.float32) + np.linspace(-50, 50, 256)[None, None, :]
    raw = Preprocessor(background="none", clip=None, image_size=(273, 256))(cadence)
    clean = Preprocessor(background="median", clip=None, image_size=(273, 256))(cadence)
    assert raw.mean(axis=0).std() > 10 and clean.mean(axis=0).std() < 0.2


def test_unpadded_sampler_covers_each_index_once():
    data = list(range(7))
    seen = [i for rank in range(3) for i in UnpaddedDistributedSampler(data, 3, rank)]
    assert sorted(seen) == data and len(UnpaddedDistributedSampler(data, 3, 0)) == 3
