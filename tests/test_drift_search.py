"""The torch drift search (seti.models.drift_search) and the hybrid model built on it (model=hybrid).

Checked against independent computations: the numpy baseline's Taylor tree, a line summed by hand, the numpy
dedoppler's scores on the same cadences; the ON-OFF label rule on planted needles; the feature memo against
no memo; and model=hybrid trained through train.py and re-scored by the predict path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import CONF, auroc_by_hand, score_checkpoint, train_in_process
from hydra.utils import instantiate
from omegaconf import OmegaConf
from scipy.stats import spearmanr

from seti.baselines import dedoppler
from seti.data.synthetic import SyntheticParams, ensure_dataset
from seti.models.classifier import CadenceClassifier
from seti.models.drift_search import DriftSearch, drift_maps, taylor_tree
from seti.models.hybrid import FeatureCache, panel_resize

ROWS, WIDTH = 30, 256  # the hybrid's panels: 180x256 stacked


def test_the_restated_cadence_facts_agree_with_the_data_layer():
    from seti.data import layout
    from seti.models import drift_search

    assert drift_search.PANELS == layout.CADENCE_SHAPE[0] and drift_search.KAGGLE_CHANNELS == layout.CADENCE_SHAPE[2]
    assert (drift_search.ON_PANELS, drift_search.OFF_PANELS) == (layout.ON_PANELS, layout.OFF_PANELS)
    assert drift_search.MAD_TO_STD == layout.MAD_TO_STD


def test_taylor_tree_equals_the_numpy_baselines():
    x = np.random.default_rng(0).normal(size=(3, 2, 32, 40)).astype(np.float32)
    np.testing.assert_allclose(taylor_tree(torch.from_numpy(x)).numpy(), dedoppler.taylor_tree(x), atol=1e-4)
    with pytest.raises(ValueError, match="power-of-two"):
        taylor_tree(torch.zeros(2, 30, 8))


def _line(panels: torch.Tensor, panel: int, start: float, drift: float, value: float) -> None:
    """Add ``value`` along a straight line: ``drift`` channels over the panel's ROWS rows from ``start``."""
    for t in range(ROWS):
        panels[:, panel, t, int(round(start + drift * t / (ROWS - 1)))] += value


def test_drift_map_peaks_on_a_planted_line_with_its_summed_snr():
    panels = torch.randn(1, 6, ROWS, WIDTH, generator=torch.Generator().manual_seed(0))
    _line(panels, 2, start=100, drift=24, value=2.0)
    maps, drifts = drift_maps(panels, max_drift=85)
    best = int(maps[0, 2].argmax())
    drift, channel = drifts[best // WIDTH], best % WIDTH
    assert abs(drift - 24 * ROWS / (ROWS - 1)) <= 1.5 and abs(channel - 100) <= 1
    # S/N of the line by hand: 30 rows of +2 over unit noise, sqrt(30) noise -> ~11 (the map's MAD scale ~1)
    assert maps[0, 2].max() == pytest.approx(2.0 * ROWS / np.sqrt(ROWS), rel=0.25)
    assert float(maps[0, 1].max()) < 6  # no line in an OFF panel: the noise maximum only


def _cadence_image(on: bool, off: bool, seed: int) -> torch.Tensor:
    """A (1, 1, 180, 256) stack of noise with one needle continued through the cadence (10 channels of drift
    per panel), in the ON panels and/or the OFF panels."""
    panels = torch.randn(1, 6, ROWS, WIDTH, generator=torch.Generator().manual_seed(seed))
    for p in range(6):
        if (p % 2 == 0 and on) or (p % 2 == 1 and off):
            _line(panels, p, start=60 + 10 * p, drift=10 * (ROWS - 1) / ROWS, value=3.0)
    return panels.reshape(1, 1, 6 * ROWS, WIDTH)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_label_rule_on_planted_needles(seed):
    """ON only scores high; the same needle also OFF (interference) or OFF only scores like noise. The needle
    sums to S/N ~16; the veto subtracts the largest OFF S/N in its wide window, ~5 on pure noise."""
    search = DriftSearch()
    score = {
        name: float(search(_cadence_image(on, off, seed))[0, 0] * search.scale)
        for name, on, off in [("on", True, False), ("all", True, True), ("off", False, True), ("none", False, False)]
    }
    assert score["on"] > 8, score
    for other in ("all", "off", "none"):
        assert score[other] < score["on"] - 6, score
    # evidence alone (feature 2) sees the needle whenever it is ON, veto or not
    assert float(search(_cadence_image(True, True, seed))[0, 2]) * search.scale > 12


def test_scores_agree_with_the_numpy_dedoppler_on_generated_cadences(tmp_path):
    """The same method on the same cleaned input: the numpy baseline (its own drift grid) and the torch search
    rank 40 default-generator cadences alike."""
    root = ensure_dataset(
        tmp_path / "d", n=40, test_n=0, positive_rate=0.5, seed=2, params=SyntheticParams(engine="numpy"), workers=1
    )
    labels = pd.read_csv(root / "train_labels.csv", dtype={"id": str})
    raw = np.stack([np.load(root / "train" / i[0] / f"{i}.npy") for i in labels["id"]])
    pre = dedoppler.preprocess(raw)  # (40, 6, 30, 256)
    reference = dedoppler.DedopplerScorer(max_drift_channels=85, off_drift_tol=2)(raw)
    ours = DriftSearch()(torch.from_numpy(pre).reshape(len(raw), 1, 6 * ROWS, WIDTH))[:, 0].numpy() * 10
    assert spearmanr(reference, ours).statistic > 0.9
    assert auroc_by_hand(labels["target"], ours) > 0.8


def test_input_that_is_not_a_six_panel_stack_is_refused():
    with pytest.raises(ValueError, match="data.layout=stack"):
        DriftSearch()(torch.zeros(2, 6, 30, 256))
    with pytest.raises(ValueError, match="divisible by 6"):
        DriftSearch()(torch.zeros(2, 1, 100, 256))
    with pytest.raises(ValueError, match="max_drift"):
        DriftSearch(max_drift=0)
    with pytest.raises(ValueError, match="off_freq_tol"):
        DriftSearch(off_freq_tol=-1)


def test_the_memo_changes_nothing_and_recomputes_only_new_images():
    images = torch.randn(5, 1, 6 * ROWS, WIDTH, generator=torch.Generator().manual_seed(3))
    search, cache = DriftSearch(), FeatureCache()
    first = cache(images, search)
    torch.testing.assert_close(first, search(images))
    assert (cache.misses, cache.hits) == (5, 0)
    changed = images.clone()
    changed[1, 0, 7, 9] += 1e-3  # one pixel of one image: a new image
    torch.testing.assert_close(cache(changed, search), search(changed))
    assert (cache.misses, cache.hits) == (6, 4)


def test_panel_resize_keeps_panels_apart():
    image = torch.zeros(1, 1, 6 * ROWS, WIDTH)
    image[0, 0, ROWS : 2 * ROWS] = 1.0  # panel 1 only
    small = panel_resize(image, (96, 128))
    assert small.shape == (1, 1, 96, 128)
    torch.testing.assert_close(small[0, 0, 16:32], torch.ones(16, 128))
    assert small[0, 0, :16].abs().max() == 0 and small[0, 0, 32:].abs().max() == 0
    with pytest.raises(ValueError, match="divisible by 6"):
        panel_resize(image, (100, 128))


def _hybrid(**hybrid) -> CadenceClassifier:
    cfg = OmegaConf.merge(OmegaConf.load(CONF / "model_base.yaml"), OmegaConf.load(CONF / "model" / "tiny.yaml"))
    cfg = OmegaConf.merge(cfg, {"hybrid": {**OmegaConf.load(CONF / "model" / "hybrid.yaml").hybrid, **hybrid}})
    cfg = OmegaConf.to_container(cfg)
    cfg.pop("defaults", None)
    return instantiate(cfg, in_chans=1, mixup=None, _convert_="partial")


def test_the_hybrid_adds_the_search_head_to_the_cnn_and_the_ablation_has_no_cnn():
    images = torch.cat([_cadence_image(True, False, 0), _cadence_image(True, True, 0)])
    model, search_only = _hybrid().eval(), _hybrid(cnn=False).eval()
    assert search_only.net is None and not any("net." in k for k in search_only.state_dict())
    with torch.no_grad():
        features = model.drift(images)
        cnn = model.net(panel_resize(images, (96, 128))).squeeze(1)
        torch.testing.assert_close(model(images), model.head(features).squeeze(1) + cnn)
        # at initialisation the head is the classical score itself
        torch.testing.assert_close(search_only(images), features[:, 0])
    assert model.hparams["hybrid"]["cnn_size"] == [96, 128]


def test_model_hybrid_trains_through_train_py_and_predict_rescores_it(tmp_path):
    """The real configs: model=hybrid picks its input (conf/model_input/hybrid.yaml), trains, and the
    predict path reproduces the saved validation predictions from the checkpoint."""
    root = ensure_dataset(
        tmp_path / "data", n=48, test_n=0, positive_rate=0.5, seed=4, params=SyntheticParams(engine="numpy"), workers=1
    )
    run = tmp_path / "run"
    overrides = ["data=kaggle", f"data.root={root}", "model=hybrid", "aug=none", "data.num_folds=2"]
    overrides += ["data.num_workers=0", "data.batch_size=8", "trainer.max_epochs=1", "test_after_fit=false"]
    metrics = train_in_process([*overrides, "logger=csv"], run)
    assert metrics["status"] == "finished" and metrics["model"] == "hybrid"
    saved = pd.read_csv(run / "val_predictions.csv", dtype={"id": str})
    config = OmegaConf.load(run / "run_config.yaml").config
    assert list(config["data.image_size"]) == [180, 256] and config["data.layout"] == "stack"
    rescored = score_checkpoint(run, root, "train", saved["id"].tolist())
    np.testing.assert_allclose(rescored, saved["pred"], atol=1e-5)
    # the search at the start already separates this generator's cadences; one epoch must not undo it
    assert metrics["best_val_auroc"] >= 0.75, metrics["best_val_auroc"]
