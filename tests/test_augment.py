"""Every aug pipeline keeps shape and dtype, and cadence transforms obey the ON/OFF label rules."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import CONF
from omegaconf import OmegaConf

from seti.data.augment import CadenceAugment, build_augment
from seti.data.layout import CADENCE_SHAPE, OFF_PANELS, ON_PANELS
from seti.data.preprocess import Preprocessor
from seti.data.synthetic import SyntheticParams, generate_cadence
from seti.models.mixup import Mixup, build_mixup

AUGS = ["none", "light", "strong"]


def marked_cadence() -> np.ndarray:
    """Panel p is filled with the value p, so moved panels can be traced."""
    return np.broadcast_to(np.arange(6, dtype=np.float32)[:, None, None], CADENCE_SHAPE).copy()


@pytest.mark.parametrize("name", AUGS)
@pytest.mark.parametrize("layout, panels", [("channels", "all"), ("stack", "on")])
def test_pipelines_keep_shape_and_dtype(name, layout, panels):
    cfg = OmegaConf.load(CONF / "aug" / f"{name}.yaml")
    cadence_aug, image_aug = build_augment(cfg)
    mixup = build_mixup(cfg.get("mixup"))
    pre = Preprocessor(panels=panels, layout=layout, image_size=(64, 96))
    cadence = generate_cadence(np.random.default_rng(3), True, SyntheticParams(engine="numpy")).astype(np.float16)
    rng = np.random.default_rng(0)
    for _ in range(5):
        raw, target = cadence_aug(cadence, 0, rng) if cadence_aug else (cadence, 0)
        assert raw.shape == CADENCE_SHAPE and target in (0, 1)
        image = pre(raw)
        if image_aug is not None:
            image = image_aug(image=image)["image"]
        assert image.shape == (64, 96, pre.in_chans) and image.dtype == np.float32 and np.isfinite(image).all()
    assert isinstance(mixup, Mixup)
    assert mixup.enabled == (name == "strong")


def test_shuffle_off_moves_only_off_panels_and_keeps_label():
    aug = CadenceAugment(shuffle_off_p=1.0)
    rng = np.random.default_rng(1)
    seen = set()
    for target in (0, 1):
        for _ in range(20):
            out, new_target = aug(marked_cadence(), target, rng)
            assert new_target == target
            assert [out[p, 0, 0] for p in ON_PANELS] == list(ON_PANELS)
            seen.add(tuple(out[p, 0, 0] for p in OFF_PANELS))
            assert sorted(out[p, 0, 0] for p in OFF_PANELS) == list(OFF_PANELS)
    assert len(seen) > 1


@pytest.mark.parametrize("target", [0, 1])
def test_swap_on_off_makes_a_negative(target):
    out, new_target = CadenceAugment(swap_on_off_p=1.0)(marked_cadence(), target, np.random.default_rng(0))
    assert new_target == 0
    assert [out[p, 0, 0] for p in ON_PANELS] == list(OFF_PANELS)
    assert [out[p, 0, 0] for p in OFF_PANELS] == list(ON_PANELS)


def test_inject_needle_makes_positive_with_signal_only_on():
    rng = np.random.default_rng(3)
    noise = rng.normal(size=CADENCE_SHAPE).astype(np.float32)
    out, target = CadenceAugment(inject_needle_p=1.0)(noise, 0, rng)
    assert target == 1
    changed = np.abs(out - noise).reshape(6, -1).max(axis=1)
    assert all(changed[p] > 0.5 for p in ON_PANELS)
    assert all(changed[p] == 0 for p in OFF_PANELS)
    assert out.dtype == np.float32 and out.shape == CADENCE_SHAPE
    for p in ON_PANELS:  # re-z-scored, as the generator leaves every panel
        assert out[p].mean() == pytest.approx(0.0, abs=1e-4) and out[p].std() == pytest.approx(1.0, abs=1e-4)
    # positives are never injected into (they already hold a needle)
    again, target = CadenceAugment(inject_needle_p=1.0)(noise, 1, rng)
    assert target == 1 and np.array_equal(again, noise)


def test_strong_injects_needles_from_its_own_distribution():
    """aug=strong must not inject needles drawn like the synthetic evaluation set's (an oracle augmentation):
    its needle block sets another distribution, and the injected needles follow it."""
    from seti.data.synthetic import sample_needle

    cadence_aug, _ = build_augment(OmegaConf.load(CONF / "aug" / "strong.yaml"))
    params, evaluation = cadence_aug._needle_params, SyntheticParams()
    differ = [
        k
        for k in ("snr_range", "faint_fraction", "max_drift_hz_s", "sine_fraction", "width_range_hz", "profiles")
        if getattr(params, k) != getattr(evaluation, k)
    ]
    assert len(differ) >= 3, differ
    rng = np.random.default_rng(0)
    needles = [sample_needle(rng, params, ON_PANELS) for _ in range(300)]
    lo, hi = params.snr_range
    assert all(lo <= n.snr <= hi for n in needles)
    assert all(abs(n.drift_hz_s) <= params.max_drift_hz_s for n in needles)
    assert {n.profile for n in needles} == set(params.profiles)
    assert all(n.sine_amplitude_hz == 0 for n in needles) == (params.sine_fraction == 0)
    # the evaluation generator's draws fall outside that distribution often (faint needles, sine paths)
    evaluation_needles = [sample_needle(rng, evaluation, ON_PANELS) for _ in range(300)]
    assert sum(not lo <= n.snr <= hi for n in evaluation_needles) > 30


def test_bad_aug_configs_are_rejected():
    with pytest.raises(ValueError, match="aug.cadence.swap_on_off_p"):
        CadenceAugment(swap_on_off_p=1.5)
    with pytest.raises(ValueError, match="aug.mixup.label"):
        build_mixup({"_target_": "seti.models.mixup.Mixup", "alpha": 1, "p": 1, "label": "or"})
    with pytest.raises(ValueError, match="unknown key"):
        build_augment({"name": "x", "mixer": {}})
    with pytest.raises(ValueError, match="unknown key"):
        build_augment({"name": "x", "cadence": {"shuffle_of_p": 0.2}})
    with pytest.raises(ValueError, match=r"aug.image\[0\]"):
        # albumentations 2.x renamed max_holes; strict Compose turns the old name into an error
        build_augment({"name": "x", "image": [{"_target_": "albumentations.CoarseDropout", "max_holes": 8}]})


def test_untouched_cadences_reuse_cached_images_and_transformed_ones_never_enter_the_cache(tmp_path):
    """With cadence augmentation the dataset caches only what it would have computed anyway: an untouched
    cadence's image (reused, equal to a fresh one) and never a transformed one (an injected needle must not
    stick to a cadence in later epochs)."""
    from helpers import random_cadences

    from seti.data.dataset import CadenceDataset

    cadences = random_cadences(12, seed=5)
    ids = [f"{i:015x}" for i in range(len(cadences))]
    for cadence_id, cadence in zip(ids, cadences):
        (tmp_path / "train" / cadence_id[0]).mkdir(parents=True, exist_ok=True)
        np.save(tmp_path / "train" / cadence_id[0] / f"{cadence_id}.npy", cadence)
    pre = Preprocessor(panels="all", layout="stack", image_size=(48, 64))
    augment = CadenceAugment(inject_needle_p=0.5, needle={"engine": "numpy"})
    data = CadenceDataset(tmp_path, "train", ids, [0] * len(ids), pre, cadence_augment=augment, cache=True)
    assert data.cache_enabled
    items = [data[i] for i in range(len(ids))]
    injected = {i for i, (_, target, _) in enumerate(items) if float(target) == 1.0}
    assert 0 < len(injected) < len(ids), "p=0.5 over 12 negatives should inject some and leave some"
    assert set(data._cache) == set(range(len(ids))) - injected
    for i in set(data._cache):
        np.testing.assert_array_equal(data._cache[i], pre(cadences[i].astype(np.float32)))
        np.testing.assert_array_equal(items[i][0].numpy(), data._cache[i].transpose(2, 0, 1))
    for i in injected:
        assert not np.allclose(items[i][0].numpy(), pre(cadences[i].astype(np.float32)).transpose(2, 0, 1))
