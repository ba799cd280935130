"""The Kaggle-layout reader, bad-input errors, folds, preprocessing and the DataModule on real files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from seti.data.datamodule import CadenceDataModule, UnpaddedDistributedSampler
from seti.data.dataset import CadenceDataset
from seti.data.folds import assign_folds, split_fold
from seti.data.layout import (
    CADENCE_SHAPE,
    OFF_PANELS,
    ON_PANELS,
    CadenceDataError,
    cadence_path,
    load_cadence,
    read_id_table,
)
from seti.data.preprocess import Preprocessor
from seti.data.synthetic import synthetic_id

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


@pytest.mark.parametrize("source", ["sample", "synthetic"])
def test_datamodule_on_kaggle_layout(request, source):
    root = request.getfixturevalue(f"{source}_root")
    labels = read_id_table(root / "train_labels.csv", require_binary_target=True)
    dm = make_dm(root, num_folds=3)
    dm.setup("fit")
    assert len(dm.train_set) + len(dm.val_set) == len(labels)
    x, y, index = next(iter(dm.train_dataloader()))
    assert x.shape == (2, 6, 32, 64) and x.dtype == torch.float32 and set(y.tolist()) <= {0.0, 1.0}
    # unlabelled cadences (the DataModule has no predict stage: predict.py has its own loader)
    ids = pd.read_csv(root / "sample_submission.csv").id.tolist()
    unlabelled = CadenceDataset(root, "test", ids, None, dm.preprocess)
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


def a_negative(root) -> str:
    labels = read_id_table(root / "train_labels.csv", require_binary_target=True)
    return str(labels.loc[labels.target == 0, "id"].iloc[0])


@pytest.mark.parametrize("how", sorted(BAD_FILES))
def test_load_cadence_rejects(writable_root, how):
    bad = a_negative(writable_root)
    path = cadence_path(writable_root, "train", bad)
    corrupt(path, how)
    with pytest.raises(CadenceDataError, match=BAD_FILES[how]) as info:
        load_cadence(path)
    if how != "missing":
        assert bad in str(info.value)


@pytest.mark.parametrize("how", ["missing", "truncated", "shape", "pickle", "not_numpy"])
def test_bad_file_found_before_training(writable_root, how):
    bad = a_negative(writable_root)
    corrupt(cadence_path(writable_root, "train", bad), how)
    with pytest.raises(CadenceDataError, match=f"{bad}.*|.*on_error=skip"):
        make_dm(writable_root, num_folds=2).setup("fit")


def test_nan_found_by_full_check_and_skipped(writable_root):
    bad = a_negative(writable_root)
    total = len(read_id_table(writable_root / "train_labels.csv", require_binary_target=True))
    corrupt(cadence_path(writable_root, "train", bad), "nan")
    make_dm(writable_root, num_folds=2).setup("fit")  # the header check cannot see NaN...
    with pytest.raises(CadenceDataError, match="NaN"):
        make_dm(writable_root, num_folds=2, check="full").setup("fit")  # ...the full check can
    dm = make_dm(writable_root, num_folds=2, check="full", on_error="skip")
    dm.setup("fit")
    assert [s["id"] for s in dm.skipped] == [bad]
    assert bad not in dm.train_set.ids + dm.val_set.ids
    assert len(dm.train_set) + len(dm.val_set) == total - 1


def test_empty_split_is_an_error(writable_root):
    labels = read_id_table(writable_root / "train_labels.csv", require_binary_target=True)
    write_labels(writable_root, labels.loc[labels.target == 0, ["id", "target"]].iloc[:2].values.tolist())
    with pytest.raises(CadenceDataError, match="only class 0"):
        make_dm(writable_root).setup("fit")


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


def synthetic_labels(n: int, positives: int) -> pd.DataFrame:
    """A label table like train_labels_full.csv (real-looking ids, ``positives`` of them 1), without files."""
    ids = [synthetic_id(0, "train", i) for i in range(n)]
    return pd.DataFrame({"id": ids, "target": [int(i < positives) for i in range(n)]})


def test_folds_on_a_synthetic_table_are_stratified_disjoint_and_cover_every_id():
    """The fold checks above without the sample: every id is validated exactly once across the folds, and a
    fold's validation ids never appear among its training ids."""
    labels = synthetic_labels(500, 50)
    folds = assign_folds(labels, num_folds=5, seed=7)
    assert sorted(folds.value_counts()) == [100] * 5
    assert set(labels.groupby(folds).target.sum()) == {10}
    again = assign_folds(labels.sample(frac=1.0, random_state=1), num_folds=5, seed=7)
    assert (folds.loc[again.index].to_numpy() == again.to_numpy()).all()
    validated = []
    for fold in range(5):
        train, val = split_fold(labels, 5, fold, seed=7)
        assert set(train.id).isdisjoint(val.id) and len(train) + len(val) == 500
        validated += list(val.id)
    assert sorted(validated) == sorted(labels.id)


@pytest.mark.parametrize("source", ["sample", "synthetic"])
def test_datamodule_never_trains_on_validation_ids(request, source):
    """The leak check on real files: for every fold, the DataModule's validation ids are the fold's, none of
    them is in its training set, and together the folds validate every labelled id once."""
    root = request.getfixturevalue(f"{source}_root")
    labels = read_id_table(root / "train_labels.csv", require_binary_target=True)
    validated = []
    for fold in range(3):
        dm = make_dm(root, num_folds=3, fold=fold)
        dm.setup("fit")
        assert set(dm.train_set.ids).isdisjoint(dm.val_set.ids)
        assert sorted(dm.train_set.ids + dm.val_set.ids) == sorted(labels.id)
        assert sorted(dm.val_set.ids) == sorted(split_fold(labels, 3, fold, seed=0)[1].id)
        validated += dm.val_set.ids
    assert sorted(validated) == sorted(labels.id)


def test_too_many_folds_is_explained():
    with pytest.raises(CadenceDataError, match="lower data.num_folds"):
        assign_folds(synthetic_labels(6, 3), num_folds=5, seed=0)


# ---- preprocessing ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "panels, layout, chans", [("on", "stack", 1), ("all", "stack", 1), ("on", "channels", 3), ("all", "channels", 6)]
)
def test_preprocess_shapes(sample_root, panels, layout, chans):
    cadence = load_cadence(cadence_path(sample_root, "train", "1004c26b9a3f877"))
    pre = Preprocessor(panels=panels, layout=layout, image_size=(96, 64))
    image = pre(cadence)
    assert image.shape == (96, 64, chans) and image.dtype == np.float32 and pre.in_chans == chans


def panels_filled_with_their_index() -> np.ndarray:
    """A cadence whose panel p holds the value p everywhere: what comes out says which panels went in."""
    return np.broadcast_to(np.arange(6, dtype=np.float32)[:, None, None], CADENCE_SHAPE).copy()


def test_panels_on_means_the_target_panels_0_2_4():
    """Cadence order A B A C A D: the ON (target) panels are 0, 2, 4, written out here by hand, not read
    from seti. data.panels=on keeps exactly those, in order, in both layouts; all keeps the six."""
    assert ON_PANELS == (0, 2, 4) and OFF_PANELS == (1, 3, 5)
    cadence = panels_filled_with_their_index()
    raw = dict(background="none", clip=None, image_size=(24, 16))
    on = Preprocessor(panels="on", layout="channels", **raw)(cadence)
    assert on.shape == (24, 16, 3) and [float(v) for v in on.mean(axis=(0, 1))] == [0.0, 2.0, 4.0]
    assert np.array_equal(on, np.broadcast_to(np.array([0.0, 2.0, 4.0], np.float32), on.shape))
    every = Preprocessor(panels="all", layout="channels", **raw)(cadence)
    assert [float(v) for v in every.mean(axis=(0, 1))] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    stacked = Preprocessor(panels="on", layout="stack", **raw)(cadence)[:, :, 0]
    assert stacked.shape == (24, 16) and [float(v) for v in stacked[::8, 0]] == [0.0, 2.0, 4.0]
    assert np.array_equal(np.unique(stacked), [0.0, 2.0, 4.0])


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
