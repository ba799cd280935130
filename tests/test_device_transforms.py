"""The batched torch data path: preprocessing against an independent numpy reference, and (further down)
the device-side augmentations, label rules, needle bank and mixup against the workers path."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from seti.data.layout import CADENCE_SHAPE, cadence_path, load_cadence, read_id_table
from seti.data.preprocess import Preprocessor, kth_smallest, remove_background, resize, resize_weights


# ---- the reference: the numpy/cv2 preprocessing this project shipped before the torch core -------------
def reference_preprocess(
    cadence: np.ndarray,
    panels=(0, 1, 2, 3, 4, 5),
    layout="stack",
    background="median",
    image_size=(96, 128),
    clip=(-5.0, 20.0),
) -> np.ndarray:
    """(6, 273, 256) -> (H, W, C): the earlier implementation, kept here verbatim in substance."""
    x = cadence[list(panels)].astype(np.float32)
    height, width = image_size
    panel_height = max(4, round(height / len(panels))) if layout == "stack" else height
    x = _reference_resize(x, panel_height, width)
    if background == "median":
        x = _reference_background(x)
    if clip is not None:
        np.clip(x, *clip, out=x)
    if layout == "stack":
        stacked = x.reshape(1, -1, x.shape[-1])
        if stacked.shape[1] != height:
            stacked = _reference_resize(stacked, height, width)
        return np.ascontiguousarray(stacked[0][:, :, None])
    return np.ascontiguousarray(x.transpose(1, 2, 0))


def _reference_resize(planes, height, width):
    if planes.shape[1:] == (height, width):
        return np.array(planes, dtype=np.float32, copy=True)
    shrinking = height * width < planes.shape[1] * planes.shape[2]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.stack([cv2.resize(p, (width, height), interpolation=interpolation) for p in planes])


def _reference_background(panels):
    rows = panels.shape[1]
    by_channel = np.ascontiguousarray(panels.transpose(0, 2, 1))
    median = np.partition(by_channel, rows // 2, axis=2)[:, :, rows // 2]
    centred = panels - median[:, None, :]
    sample = np.abs(centred[:, ::3, ::3]).reshape(len(panels), -1)
    half = sample.shape[1] // 2
    mad = np.partition(sample, half, axis=1)[:, half].reshape(-1, 1, 1)
    centred /= 1.4826 * mad + 1e-6
    return centred


def sample_cadences(sample_root) -> list[np.ndarray]:
    ids = read_id_table(sample_root / "train_labels.csv", require_binary_target=True)["id"]
    return [load_cadence(cadence_path(sample_root, "train", i)) for i in ids]


def random_cadences(n: int, seed: int = 0) -> np.ndarray:
    """Kaggle-like float16 cadences: noise plus per-channel stripes plus a bright line."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *CADENCE_SHAPE)) + rng.normal(scale=3, size=(n, 6, 1, 256))
    x[:, ::2, :, 100:103] += 4.0
    return x.astype(np.float16)


# ---- preprocessing ------------------------------------------------------------------------------
# Settings where every resized axis shrinks (cv2 INTER_AREA) or every axis grows (INTER_LINEAR): the old
# implementation is the reference there. Mixed settings are tested against per-axis cv2 below.
SAME_AS_BEFORE = [
    dict(layout="stack", panels="all", image_size=(96, 128)),  # the CPU default
    dict(layout="stack", panels="on", image_size=(128, 128)),
    dict(layout="channels", panels="all", image_size=(256, 256)),
    dict(layout="channels", panels="on", image_size=(300, 300)),
    dict(layout="stack", panels="all", image_size=(96, 128), background="none", clip=None),
    dict(layout="stack", panels="all", image_size=(128, 64), clip=None),
]


@pytest.mark.parametrize("settings", SAME_AS_BEFORE, ids=lambda s: "-".join(str(v) for v in s.values()))
def test_torch_preprocessing_matches_the_numpy_reference(sample_root, settings):
    pre = Preprocessor(**settings)
    reference_kwargs = dict(settings, panels=pre.panel_indices)
    cadences = sample_cadences(sample_root) + list(random_cadences(2))
    for cadence in cadences:
        expected = reference_preprocess(cadence, **reference_kwargs)
        got = pre(cadence)
        assert got.shape == expected.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=2e-4)


def test_area_resize_equals_cv2_inter_area_when_both_axes_shrink(sample_root):
    panels = np.stack(sample_cadences(sample_root))[:, :, :, :].astype(np.float32)
    for height, width in [(16, 128), (85, 200), (45, 256), (91, 97)]:
        expected = np.stack([[cv2.resize(p, (width, height), interpolation=cv2.INTER_AREA) for p in c] for c in panels])
        got = resize(torch.from_numpy(panels), height, width).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_mixed_resize_is_area_on_the_shrinking_axis_and_linear_on_the_growing_one(sample_root):
    """512x512 stack: height 273 -> 85 shrinks, width 256 -> 512 grows. cv2's INTER_AREA would switch to a
    bilinear-like kernel for both axes; here each axis gets its own rule, so per-axis cv2 is the reference."""
    panel = sample_cadences(sample_root)[0][0].astype(np.float32)
    rows_only = cv2.resize(panel, (256, 85), interpolation=cv2.INTER_AREA)
    expected = cv2.resize(rows_only, (512, 85), interpolation=cv2.INTER_LINEAR)
    got = resize(torch.from_numpy(panel), 85, 512).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # flux: each time-average over the shrunk axis is kept exactly
    np.testing.assert_allclose(
        resize(torch.from_numpy(panel), 85, 256).numpy().mean(axis=0), panel.mean(axis=0), atol=1e-5
    )


def test_resize_weights_rows_sum_to_one():
    for n_in, n_out in [(273, 85), (273, 16), (256, 512), (510, 512), (7, 7)]:
        weights = resize_weights(n_in, n_out)
        np.testing.assert_allclose(weights.sum(axis=1), 1.0)
        if n_out < n_in:
            np.testing.assert_allclose(weights.sum(axis=0), n_out / n_in)


def test_median_and_mad_agree_between_numpy_and_torch_selection():
    x = torch.randn(3, 6, 17, 40)
    np.testing.assert_array_equal(kth_smallest(x, 8, use_numpy=True), kth_smallest(x, 8, use_numpy=False))
    torch.testing.assert_close(remove_background(x, use_numpy=True), remove_background(x, use_numpy=False))


@pytest.mark.parametrize(
    "settings",
    [
        SAME_AS_BEFORE[0],
        dict(layout="channels", panels="on", image_size=(64, 96)),
        dict(layout="stack", image_size=(512, 512)),
    ],
)
def test_batch_equals_one_call_per_cadence(settings):
    pre = Preprocessor(**settings)
    cadences = random_cadences(4, seed=1)
    batch = pre.batch(torch.from_numpy(cadences))
    assert batch.shape == (4, pre.in_chans, *pre.image_size) and batch.dtype == torch.float32
    for cadence, image in zip(cadences, batch):
        np.testing.assert_allclose(image.permute(1, 2, 0).numpy(), pre(cadence), rtol=1e-5, atol=1e-5)
    # float16 in, same as float32 in (the cast happens once, inside)
    torch.testing.assert_close(pre.batch(torch.from_numpy(cadences).float()), batch)


def test_batch_refuses_wrong_shapes():
    pre = Preprocessor()
    with pytest.raises(ValueError, match=r"\(B, 6, 273, 256\)"):
        pre.batch(torch.zeros(6, 273, 256))
    with pytest.raises(ValueError, match="floating-point"):
        pre.batch(torch.zeros(1, 6, 273, 256, dtype=torch.int32))


# ---- the device path against the workers path ---------------------------------------------------------
def datamodule(root, transforms, aug=None, **kwargs):
    from seti.data.datamodule import CadenceDataModule

    settings = dict(
        root=str(root),
        num_folds=3,
        batch_size=4,
        num_workers=0,
        image_size=(96, 128),
        layout="stack",
        transforms=transforms,
        aug=aug,
        cache=False,
    )
    settings.update(kwargs)
    dm = CadenceDataModule(**settings)
    dm.setup("fit")
    return dm


@pytest.mark.parametrize("settings", [dict(), dict(layout="channels", panels="on", image_size=(64, 96))])
def test_device_path_preprocesses_like_the_workers_path(sample_root, settings):
    workers = datamodule(sample_root, "workers", **settings)
    device = datamodule(sample_root, "device", **settings)
    assert workers.transforms == "workers" and device.transforms == "device"
    for expected, raw in zip(workers.val_dataloader(), device.val_dataloader()):
        assert raw[0].dtype == torch.float16 and tuple(raw[0].shape[1:]) == CADENCE_SHAPE  # workers only read
        images, targets, index = device.on_after_batch_transfer(raw, 0)
        torch.testing.assert_close(images, expected[0], rtol=1e-4, atol=2e-4)
        assert torch.equal(targets, expected[1]) and torch.equal(index, expected[2])


ALL_ON = {
    "name": "all-on",
    "cadence": {"shuffle_off_p": 1.0, "swap_on_off_p": 1.0, "inject_needle_p": 1.0},
    "image": [{"_target_": "albumentations.HorizontalFlip", "p": 1.0}],
    "mixup": {"alpha": 1.0, "p": 1.0},
}


def test_eval_batches_are_preprocessed_only(sample_root, tmp_path):
    plain = datamodule(sample_root, "workers")
    device = datamodule(sample_root, "device", aug=ALL_ON, needle_bank_dir=str(tmp_path), needle_bank_size=2)
    expected = next(iter(plain.val_dataloader()))
    images, targets, _ = device.on_after_batch_transfer(next(iter(device.val_dataloader())), 0)  # no trainer: eval
    torch.testing.assert_close(images, expected[0], rtol=1e-4, atol=2e-4)
    assert torch.equal(targets, expected[1])


def marked_batch(targets) -> tuple[torch.Tensor, torch.Tensor]:
    """Panel p of every cadence is filled with p, so moved panels can be traced."""
    x = torch.arange(6, dtype=torch.float32)[None, :, None, None].expand(len(targets), 6, 273, 256).clone()
    return x.half(), torch.tensor(targets, dtype=torch.float32)


def device_augment(**cadence):
    from seti.data.augment import CadenceAugment
    from seti.data.device_transforms import DeviceTransforms

    return DeviceTransforms(Preprocessor(), CadenceAugment(**cadence))


def test_swap_on_off_makes_every_cadence_negative():
    x, y = marked_batch([1, 0, 1, 1])
    out, targets = device_augment(swap_on_off_p=1.0).augment_cadences(x, y)
    assert targets.tolist() == [0, 0, 0, 0]
    assert out[:, :, 0, 0].tolist() == [[1, 0, 3, 2, 5, 4]] * 4


def test_shuffle_off_moves_only_off_panels_and_keeps_labels():
    torch.manual_seed(0)
    x, y = marked_batch([1, 0] * 16)
    out, targets = device_augment(shuffle_off_p=1.0).augment_cadences(x, y)
    assert torch.equal(targets, y)
    panels = out[:, :, 0, 0]
    assert (panels[:, [0, 2, 4]] == torch.tensor([0.0, 2.0, 4.0])).all()
    assert (panels[:, [1, 3, 5]].sort(dim=1).values == torch.tensor([1.0, 3.0, 5.0])).all()
    assert len({tuple(row) for row in panels[:, [1, 3, 5]].tolist()}) > 1  # drawn per sample


def test_probabilities_are_drawn_per_sample():
    torch.manual_seed(0)
    x, y = marked_batch([1] * 64)
    _, targets = device_augment(swap_on_off_p=0.5).augment_cadences(x, y)
    assert 10 < int((targets == 0).sum()) < 54


def test_injection_only_turns_negatives_positive(tmp_path):
    from seti.data.augment import CadenceAugment
    from seti.data.device_transforms import DeviceTransforms
    from seti.data.needle_bank import NeedleBank, load_or_draw
    from seti.data.synthetic import SyntheticParams

    bank = NeedleBank(load_or_draw(tmp_path, SyntheticParams(), 3))
    transforms = DeviceTransforms(Preprocessor(), CadenceAugment(inject_needle_p=1.0), needles=bank)
    x = torch.from_numpy(random_cadences(4, seed=3))
    y = torch.tensor([0.0, 1.0, 0.0, 1.0])
    out, targets = transforms.augment_cadences(x, y)
    assert targets.tolist() == [1.0, 1.0, 1.0, 1.0]
    changed = (out - x.float()).abs().amax(dim=(2, 3))  # (B, 6)
    assert (changed[[0, 2]][:, [0, 2, 4]] > 0.5).all() and (changed[[0, 2]][:, [1, 3, 5]] == 0).all()
    assert (changed[[1, 3]] == 0).all()  # positives already hold a needle: untouched
    on = out[[0, 2]][:, [0, 2, 4]].flatten(2)
    torch.testing.assert_close(on.mean(-1), torch.zeros(2, 3), atol=1e-4, rtol=0)  # re-z-scored
    torch.testing.assert_close(on.std(-1, unbiased=False), torch.ones(2, 3), atol=1e-4, rtol=0)


def test_bank_needles_inject_like_inject_needle(sample_root, tmp_path):
    """Bank needle i is inject_needle's draw with rng (seed, i): same spec, scale and re-z-scoring."""
    from seti.data.needle_bank import NeedleBank, load_or_draw
    from seti.data.synthetic import SyntheticParams, inject_needle

    params = SyntheticParams(snr_range=(25.0, 150.0), faint_fraction=0.0, sine_fraction=0.5)
    bank = NeedleBank(load_or_draw(tmp_path, params, 3, seed=7))
    cadence = sample_cadences(sample_root)[0].astype(np.float32)
    for i in range(3):
        expected = inject_needle(cadence, np.random.default_rng([7, i]), params)
        got = bank.inject(torch.from_numpy(cadence)[None], torch.tensor([True]), picks=torch.tensor([i]))[0]
        assert np.abs(expected - cadence).max() > 0.5
        np.testing.assert_allclose(got.numpy(), expected, atol=5e-3)  # float16 bank


def test_needle_bank_is_cached_on_disk_by_params_and_size(tmp_path):
    from seti.data.needle_bank import load_or_draw
    from seti.data.synthetic import SyntheticParams

    first = load_or_draw(tmp_path, SyntheticParams(), 2)
    files = list(tmp_path.glob("needles-*.npy"))
    assert len(files) == 1 and first.shape == (2, 3, 273, 256) and first.dtype == np.float16
    stamp = files[0].stat().st_mtime_ns
    again = load_or_draw(tmp_path, SyntheticParams(), 2)
    assert np.array_equal(first, again) and files[0].stat().st_mtime_ns == stamp  # read, not drawn again
    load_or_draw(tmp_path, SyntheticParams(), 3)
    load_or_draw(tmp_path, SyntheticParams(max_drift_hz_s=0.1), 2)
    assert len(list(tmp_path.glob("needles-*.npy"))) == 3 and not list(tmp_path.glob(".*tmp*"))


def test_sigma_clipped_std_matches_setigens_estimate(sample_root):
    from seti.data.needle_bank import sigma_clipped_std
    from seti.data.synthetic import sigma_clipped_std as reference

    panels = np.stack([c[0] for c in sample_cadences(sample_root)]).astype(np.float32)
    got = sigma_clipped_std(torch.from_numpy(panels)).numpy()
    np.testing.assert_allclose(got, [reference(p, stride=3) for p in panels], rtol=1e-3)


# ---- image transforms: albumentations' arguments, batched ---------------------------------------------
def translate(*specs):
    from seti.data.device_transforms import translate_image_augment

    return translate_image_augment(list(specs))


def test_flip_and_shift_match_albumentations():
    import albumentations as A

    images = torch.randn(3, 1, 16, 40)
    (flip,) = translate({"_target_": "albumentations.HorizontalFlip", "p": 1.0})
    (shift,) = translate({"_target_": "albumentations.Affine", "translate_px": {"x": [3, 3], "y": [0, 0]}, "p": 1.0})
    reference = A.Affine(translate_px={"x": (3, 3), "y": (0, 0)}, border_mode=0, fill=0.0, p=1.0)
    for image, flipped, shifted in zip(images, flip(images), shift(images)):
        hwc = image.permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(flipped.permute(1, 2, 0).numpy(), A.HorizontalFlip(p=1.0)(image=hwc)["image"])
        np.testing.assert_allclose(shifted.permute(1, 2, 0).numpy(), reference(image=hwc)["image"], atol=1e-6)


def test_masking_and_dropout_follow_their_arguments():
    import albumentations as A

    torch.manual_seed(0)
    images = torch.ones(200, 1, 40, 60)
    (stripes,) = translate(
        {
            "_target_": "albumentations.XYMasking",
            "num_masks_x": [2, 2],
            "num_masks_y": 0,
            "mask_x_length": [5, 5],
            "mask_y_length": 0,
            "fill": 0.0,
            "p": 1.0,
        }
    )
    masked_columns = (stripes(images)[:, 0] == 0).all(dim=1).sum(dim=1)
    assert masked_columns.min() >= 5 and masked_columns.max() <= 10 and (masked_columns == 10).any()
    spec = {
        "_target_": "albumentations.CoarseDropout",
        "num_holes_range": [1, 8],
        "hole_height_range": [0.02, 0.08],
        "hole_width_range": [0.02, 0.08],
        "fill": 0.0,
        "p": 0.5,
    }
    (dropout,) = translate(spec)
    device_fraction = (dropout(images) == 0).float().mean().item()
    reference = A.CoarseDropout(**{k: v for k, v in spec.items() if k != "_target_"})
    reference.set_random_seed(0)
    hwc = np.ones((40, 60, 1), np.float32)
    albumentations_fraction = np.mean([(reference(image=hwc)["image"] == 0).mean() for _ in range(400)])
    assert device_fraction == pytest.approx(albumentations_fraction, rel=0.3)
    untouched = (dropout(images) != 0).all(dim=(1, 2, 3)).float().mean().item()
    assert 0.35 < untouched < 0.65  # p=0.5, drawn per sample


def test_every_shipped_aug_translates(tmp_path):
    from omegaconf import OmegaConf

    from seti.data.device_transforms import build_device_transforms

    for name in ("none", "light", "strong"):
        cfg = OmegaConf.load(Path(__file__).resolve().parents[1] / "conf" / "aug" / f"{name}.yaml")
        transforms = build_device_transforms(cfg, Preprocessor(image_size=(32, 64), layout="stack"), str(tmp_path), 2)
        x, y = torch.from_numpy(random_cadences(4)), torch.tensor([0.0, 1.0, 0.0, 1.0])
        images, targets = transforms.train(x, y)
        assert images.shape == (4, 1, 32, 64) and torch.isfinite(images).all() and set(targets.tolist()) <= {0.0, 1.0}
        assert len(transforms.image_ops) == len(cfg.image)


@pytest.mark.parametrize(
    "spec, culprit",
    [
        ({"_target_": "albumentations.GaussNoise", "p": 0.5}, "GaussNoise has no device version"),
        ({"_target_": "albumentations.Affine", "rotate": [-5, 5], "p": 0.5}, "only a translation along x"),
        (
            {"_target_": "albumentations.Affine", "translate_percent": {"x": [0, 0], "y": [-0.1, 0.1]}},
            "only a translation along x",
        ),
        ({"_target_": "albumentations.CoarseDropout", "fill": "random", "p": 0.5}, "fill='random'"),
    ],
)
def test_unsupported_transforms_are_refused_with_the_way_out(spec, culprit):
    with pytest.raises(ValueError, match="data.transforms=workers") as err:
        translate({"_target_": "albumentations.HorizontalFlip", "p": 0.5}, spec)
    assert "aug.image[1]" in str(err.value) and culprit in str(err.value)


def test_bad_transforms_setting_is_refused(sample_root):
    from seti.data.datamodule import CadenceDataModule

    with pytest.raises(ValueError, match="data.transforms must be one of"):
        CadenceDataModule(root=str(sample_root), transforms="gpu")


# ---- launch overhead settings -------------------------------------------------------------------------
def classifier(**kwargs):
    from seti.models.classifier import CadenceClassifier

    return CadenceClassifier(backbone={"name": "test_efficientnet"}, in_chans=1, optimizer=None, **kwargs)


def test_launch_settings_resolve_auto_per_device():
    module = classifier(channels_last="auto", compile="auto")
    keys = list(module.state_dict())
    module.apply_launch_settings(torch.device("cpu"))
    assert not module.channels_last and not module.compiled  # auto: off on CPU
    module.apply_launch_settings(torch.device("cuda"))  # resolving needs no GPU; nothing runs here
    assert module.channels_last and module.compiled
    assert list(module.state_dict()) == keys  # compiled in place: checkpoints keep their keys
    assert module.hparams["channels_last"] == "auto" and module.hparams["compile"] == "auto"
    assert classifier(channels_last=True).channels_last  # explicit: applied without a trainer
    for key, value in (("channels_last", "yes"), ("compile", 1)):
        with pytest.raises(ValueError, match=f"model.{key} must be true, false or auto"):
            classifier(**{key: value})


def test_benchmark_and_eval_batch_size_follow_the_device(sample_root):
    from seti.data.datamodule import CadenceDataModule
    from seti.runtime import resolve_benchmark

    assert resolve_benchmark("auto", "cpu") is False and resolve_benchmark("auto", "gpu") is True
    assert resolve_benchmark(None, "gpu") is None and resolve_benchmark(False, "gpu") is False
    with pytest.raises(ValueError, match="trainer.benchmark"):
        resolve_benchmark("fast", "gpu")
    dm = CadenceDataModule(root=str(sample_root), batch_size=8)
    dm.on_gpu = False
    assert dm.eval_batch_size == 8 and dm.transforms == "workers"
    dm.on_gpu = True
    assert dm.eval_batch_size == 32 and dm.transforms == "device"
    assert CadenceDataModule(root=str(sample_root), batch_size=8, eval_batch_size=5).eval_batch_size == 5
    with pytest.raises(ValueError, match="data.eval_batch_size"):
        CadenceDataModule(root=str(sample_root), eval_batch_size=0)


# ---- it learns --------------------------------------------------------------------------------------
def test_train_py_learns_on_the_device_path(tmp_path):
    """train.py with data.transforms=device on CPU, on a small set of clearly visible needles: the device
    path (raw reads, batched preprocessing, mixup in the model) must learn far above chance."""
    import json
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    easy = [
        "+data.synthetic.params.snr_range=[80,200]",
        "+data.synthetic.params.faint_fraction=0.0",
        "+data.synthetic.params.partial_on_fraction=0.0",
        "+data.synthetic.params.rfi_rate=0.0",
        "+data.synthetic.params.all_panel_signal_fraction=0.0",
        "+data.synthetic.params.off_only_signal_fraction=0.0",
    ]
    args = [
        "data=synthetic",
        "data.synthetic.n=240",
        "data.synthetic.test_n=4",
        "data.synthetic.positive_rate=0.5",
        "data.num_folds=3",
        *easy,
        "model=tiny",
        "model.optimizer.lr=1e-2",
        "data.batch_size=16",
        "data.num_workers=0",
        "data.image_size=[48,64]",
        "trainer.max_epochs=4",
        "data.transforms=device",
        "aug.mixup.alpha=1.0",
        "aug.mixup.p=0.5",
        "+aug.mixup.off_last_fraction=0.5",
        "logger=csv",
        "test_after_fit=false",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    env = {**os.environ, "WANDB_MODE": "offline", "SETI_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, str(repo / "train.py"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["num_val"] == 80
    assert metrics["best_val_auroc"] > 0.8, metrics
