"""The dedoppler ON-OFF baseline: input validation, the tree, and that it ranks the physics right."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import CONF, compose_train
from omegaconf import OmegaConf

from seti.baselines import DedopplerScorer, dedoppler_scores
from seti.baselines.dedoppler import _dilate, _median, dedoppler_maps, preprocess, taylor_tree


def make_cadence(rng: np.random.Generator, panels, *, amp=0.8, f0=60.0, rate=0.05, width=1.5) -> np.ndarray:
    """Gaussian noise cadence, a Gaussian-profile line whose drift continues through the whole cadence
    (panel p starts p*273 rows later) added to ``panels``, each panel z-scored, stored as float16 like Kaggle."""
    x = rng.standard_normal((6, 273, 256)).astype(np.float32)
    chan = np.arange(256)
    for p in panels:
        centre = f0 + rate * (p * 273 + np.arange(273))
        x[p] += amp * np.exp(-0.5 * ((chan[None, :] - centre[:, None]) / width) ** 2)
    x = (x - x.mean(axis=(1, 2), keepdims=True)) / x.std(axis=(1, 2), keepdims=True)
    return x.astype(np.float16)


def batch(seed: int, panels, n: int = 3, **kw) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([make_cadence(rng, panels, **kw) for _ in range(n)])


@pytest.mark.parametrize("rate,f0", [(0.05, 60.0), (-0.1, 200.0)])
def test_on_only_line_beats_rfi_and_noise(rate, f0):
    on = dedoppler_scores(batch(1, (0, 2, 4), rate=rate, f0=f0))
    rfi = dedoppler_scores(batch(2, range(6), rate=rate, f0=f0))  # same line in all six panels: terrestrial
    noise = dedoppler_scores(batch(3, ()))
    assert on.min() > rfi.max() + 1.0, (on, rfi)
    assert on.min() > noise.max() + 1.0, (on, noise)


def test_needle_in_two_of_three_on_panels_still_scores():
    partial = dedoppler_scores(batch(4, (0, 4)))
    noise = dedoppler_scores(batch(5, ()))
    assert partial.min() > noise.max() + 1.0, (partial, noise)


def test_float16_and_float32_agree_and_single_cadence_gets_batch_axis():
    x16 = batch(6, (0, 2, 4), n=2)
    s16 = dedoppler_scores(x16)
    s32 = dedoppler_scores(x16.astype(np.float32))
    assert s16.shape == (2,) and s16.dtype == np.float32 and np.isfinite(s16).all()
    np.testing.assert_allclose(s16, s32, rtol=1e-5, atol=1e-5)
    assert dedoppler_scores(x16[0]).shape == (1,)


def test_scorer_matches_function_and_chunking_does_not_matter():
    x = np.concatenate([batch(7, (0, 2, 4), n=2), batch(8, (), n=3)])
    scorer = DedopplerScorer(chunk_size=2)
    np.testing.assert_allclose(scorer(x), dedoppler_scores(x, chunk_size=16), rtol=1e-6)
    assert scorer.params()["chunk_size"] == 2


@pytest.mark.parametrize("shape", [(6, 273, 255), (2, 3, 273, 256), (1, 6, 256, 273), (273, 256), (1, 1, 6, 273, 256)])
def test_wrong_shape_names_expected_shape(shape):
    with pytest.raises(ValueError, match=r"\(N, 6, 273, 256\)"):
        dedoppler_scores(np.zeros(shape, np.float16))


def test_non_float_dtype_rejected():
    with pytest.raises(ValueError, match="floating point"):
        dedoppler_scores(np.zeros((1, 6, 273, 256), np.int16))


def test_bad_parameters_rejected():
    with pytest.raises(ValueError, match="time_bin"):
        DedopplerScorer(time_bin=0)
    with pytest.raises(ValueError, match="max_drift_channels"):
        DedopplerScorer(max_drift_channels=-1)
    with pytest.raises(ValueError, match="chunk_size"):
        DedopplerScorer(chunk_size=0)
    with pytest.raises(ValueError, match="on_reduce"):
        DedopplerScorer(on_reduce="median")


@pytest.mark.parametrize("on_reduce", ["mean", "min", "subset"])
def test_other_on_reductions_also_rank_on_above_rfi(on_reduce):
    on = dedoppler_scores(batch(10, (0, 2, 4), n=2), on_reduce=on_reduce)
    rfi = dedoppler_scores(batch(11, range(6), n=2), on_reduce=on_reduce)
    assert on.min() > rfi.max(), (on, rfi)


@pytest.mark.parametrize("drift", [0, 1, 8, 16, 31])
def test_taylor_tree_recovers_straight_line(drift):
    n, width = 32, 64
    x = np.zeros((2, n, width), np.float32)
    for t in range(n):
        x[1, t, 10 + int(round(drift * t / (n - 1)))] = 1.0
    out = taylor_tree(x)
    assert out.shape == x.shape
    assert out[0].max() == 0.0
    # Taylor's piecewise path may miss a pixel or two of an exactly straight line
    assert out[1, drift, 10] >= n - 4
    assert np.unravel_index(out[1].argmax(), out[1].shape) == (drift, 10)


def test_taylor_tree_needs_power_of_two_rows():
    with pytest.raises(ValueError, match="power-of-two"):
        taylor_tree(np.zeros((30, 8), np.float32))


def test_maps_find_the_injected_drift_and_channel():
    x = batch(9, (0, 2, 4), n=1, amp=1.5, f0=60.0, rate=0.05)
    maps, drifts = dedoppler_maps(preprocess(x))
    assert drifts[0] < 0 < drifts[-1] and 0.0 in drifts
    d, f = np.unravel_index(maps[0, 0].argmax(), maps[0, 0].shape)
    assert abs(drifts[d] - 0.05 * 273) <= 2.0 and abs(f - 60) <= 2
    assert maps[0, 0].max() > 10 and maps[0, 1].max() < 6  # OFF panel 1 holds only noise


def test_helpers_match_numpy_and_scipy():
    from scipy.ndimage import maximum_filter1d

    a = np.random.default_rng(0).random((3, 30, 40)).astype(np.float32)
    for axis in range(3):
        np.testing.assert_allclose(_median(a, axis), np.median(a, axis=axis, keepdims=True), rtol=1e-6)
    for radius in range(5):
        expected = maximum_filter1d(a, 2 * radius + 1, axis=2, mode="nearest")
        np.testing.assert_array_equal(_dilate(a, radius, 2), expected)


def test_real_sample_bright_needle_ranks_above_negatives(sample_root):
    import pandas as pd

    from seti.data.layout import cadence_path, load_cadence

    labels = pd.read_csv(sample_root / "train_labels.csv", dtype={"id": str})
    x = np.stack([load_cadence(cadence_path(sample_root, "train", i)) for i in labels["id"]])
    scores = dict(zip(labels["id"], dedoppler_scores(x)))
    negatives = [scores[i] for i, t in zip(labels["id"], labels["target"]) if t == 0]
    assert all(np.isfinite(list(scores.values())))
    assert scores["0028a35de92941d"] > max(negatives) + 5  # its needle is plain to the eye in panels 2 and 4


# ================================================================================= its config
RAW_INPUT = {"panels": "all", "layout": "channels", "image_size": [273, 256], "background": "none", "clip": None}


def _data(overrides: list[str]) -> dict:
    return OmegaConf.to_container(compose_train(overrides, hydra=False).data, resolve=True)


def test_model_dedoppler_composes_the_raw_input_it_needs_and_nothing_else():
    """model=dedoppler sets exactly the data keys of conf/model_input/dedoppler.yaml; every other data key,
    and data=kaggle's, stay as the data config has them."""
    plain, dedoppler = _data([]), _data(["model=dedoppler"])
    declared = OmegaConf.to_container(OmegaConf.load(CONF / "model_input" / "dedoppler.yaml"))
    assert {k: dedoppler[k] for k in RAW_INPUT} == RAW_INPUT and dedoppler["cache"] is False
    assert {k for k in plain if plain[k] != dedoppler[k]} <= set(declared)
    kaggle = _data(["model=dedoppler", "data=kaggle", "data.root=/nowhere"])
    assert kaggle["source"] == "kaggle" and {k: kaggle[k] for k in RAW_INPUT} == RAW_INPUT
    assert _data(["model=dedoppler", "data.image_size=[96,128]"])["image_size"] == [96, 128]  # the command line wins


@pytest.mark.parametrize("model", ["tiny", "b0", "v2s"])
def test_picking_a_cnn_leaves_the_data_config_as_it_is(model):
    """Only the dedoppler and the hybrid have a model_input file: the plain CNNs' data is the data group's own."""
    data = _data([f"model={model}"])
    assert data == _data(["model=tiny"])
    assert {k: data[k] for k in RAW_INPUT} == {
        "panels": "all",
        "layout": "stack",
        "image_size": [96, 128],
        "background": "robust",
        "clip": [-5.0, 20.0],
    }
    assert sorted(p.stem for p in (CONF / "model_input").glob("*.yaml")) == ["dedoppler", "hybrid"]


def test_model_hybrid_composes_the_drift_search_input_and_the_command_line_still_wins():
    hybrid = _data(["model=hybrid"])
    assert {k: hybrid[k] for k in ("panels", "layout", "image_size")} == {
        "panels": "all",
        "layout": "stack",
        "image_size": [180, 256],
    }
    assert {k for k in hybrid if hybrid[k] != _data(["model=tiny"])[k]} == {"image_size"}
    assert _data(["model=hybrid", "data.image_size=[120,256]"])["image_size"] == [120, 256]


def test_fitted_on_is_report_only_and_never_reaches_the_constructor():
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    from seti.baselines.module import DedopplerModule
    from seti.config import model_arguments

    model = compose_train(["model=dedoppler"], hydra=False).model
    assert "seed 1" in model.meta.fitted_on and "fitted_on" not in model
    built = instantiate(model_arguments(model), in_chans=6, mixup=None)
    assert isinstance(built, DedopplerModule) and "meta" not in built.hparams
    with pytest.raises(InstantiationException, match="unexpected keyword argument 'meta'"):  # no **_ any more
        instantiate(model, in_chans=6, mixup=None, _convert_="partial")
    with pytest.raises(ValueError, match="all six raw panels.*conf/model_input/dedoppler.yaml"):
        DedopplerModule(in_chans=1)
