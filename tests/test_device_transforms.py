"""The device data path (``data.transforms=device``) against the workers path: the same preprocessing for
training and evaluation batches, the batched cadence transforms' label rules, the needle bank and its
cache, and the image ops against albumentations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import CONF, TINY, random_cadences, read_metrics_json, sample_cadences, train_in_process
from omegaconf import OmegaConf

from seti.data.layout import CADENCE_SHAPE
from seti.data.preprocess import Preprocessor


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


def test_device_training_batches_are_preprocessed_like_evaluation_and_the_workers_path(sample_root):
    """With aug=none, a training batch on the device path (a real Trainer in its training stage) is exactly
    its evaluation batch, and the workers path's training images: background removal, clipping and resizing
    are never skipped or changed for training (mutation M7b)."""
    import lightning as L

    none = OmegaConf.load(CONF / "aug" / "none.yaml")
    workers = datamodule(sample_root, "workers", aug=none)
    device = datamodule(sample_root, "device", aug=none)
    order = list(range(len(device.train_set)))
    raw = device.train_set.collate([device.train_set[i] for i in order])
    expected = workers.train_set.collate([workers.train_set[i] for i in order])
    device.trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
    device.trainer.training = True
    trained, targets, index = device.on_after_batch_transfer(raw, 0)
    device.trainer.training = False
    evaluated, _, _ = device.on_after_batch_transfer(raw, 0)
    assert torch.equal(trained, evaluated)
    torch.testing.assert_close(trained, expected[0], rtol=1e-4, atol=2e-4)
    assert torch.equal(targets, expected[1]) and torch.equal(index, expected[2])
    assert trained.abs().max() > 1.0 and trained.min() >= -5.0  # background removed and clipped, not raw z-scores


def marked_batch(targets) -> tuple[torch.Tensor, torch.Tensor]:
    """Panel p of every cadence is filled with p, so moved panels can be traced."""
    x = torch.arange(6, dtype=torch.float32)[None, :, None, None].expand(len(targets), 6, 273, 256).clone()
    return x.half(), torch.tensor(targets, dtype=torch.float32)


def device_augment(**cadence):
    from seti.data.augment import CadenceAugment

    return CadenceAugment(**cadence)


def test_swap_on_off_makes_every_cadence_negative():
    x, y = marked_batch([1, 0, 1, 1])
    out, targets = device_augment(swap_on_off_p=1.0).batch(x, y)
    assert targets.tolist() == [0, 0, 0, 0]
    assert out[:, :, 0, 0].tolist() == [[1, 0, 3, 2, 5, 4]] * 4


def test_shuffle_off_moves_only_off_panels_and_keeps_labels():
    torch.manual_seed(0)
    x, y = marked_batch([1, 0] * 16)
    out, targets = device_augment(shuffle_off_p=1.0).batch(x, y)
    assert torch.equal(targets, y)
    panels = out[:, :, 0, 0]
    assert (panels[:, [0, 2, 4]] == torch.tensor([0.0, 2.0, 4.0])).all()
    assert (panels[:, [1, 3, 5]].sort(dim=1).values == torch.tensor([1.0, 3.0, 5.0])).all()
    assert len({tuple(row) for row in panels[:, [1, 3, 5]].tolist()}) > 1  # drawn per sample


def test_probabilities_are_drawn_per_sample():
    torch.manual_seed(0)
    x, y = marked_batch([1] * 64)
    _, targets = device_augment(swap_on_off_p=0.5).batch(x, y)
    assert 10 < int((targets == 0).sum()) < 54


def test_injection_only_turns_negatives_positive(tmp_path):
    from seti.data.augment import CadenceAugment
    from seti.data.augment.needles import NeedleBank, load_or_draw
    from seti.data.synthetic import SyntheticParams

    bank = NeedleBank(load_or_draw(tmp_path, SyntheticParams(), 3))
    x = torch.from_numpy(random_cadences(4, seed=3))
    y = torch.tensor([0.0, 1.0, 0.0, 1.0])
    out, targets = CadenceAugment(inject_needle_p=1.0).batch(x, y, bank)
    assert targets.tolist() == [1.0, 1.0, 1.0, 1.0]
    changed = (out - x.float()).abs().amax(dim=(2, 3))  # (B, 6)
    assert (changed[[0, 2]][:, [0, 2, 4]] > 0.5).all() and (changed[[0, 2]][:, [1, 3, 5]] == 0).all()
    assert (changed[[1, 3]] == 0).all()  # positives already hold a needle: untouched
    on = out[[0, 2]][:, [0, 2, 4]].flatten(2)
    torch.testing.assert_close(on.mean(-1), torch.zeros(2, 3), atol=1e-4, rtol=0)  # re-z-scored
    torch.testing.assert_close(on.std(-1, unbiased=False), torch.ones(2, 3), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="needs a needle bank"):
        CadenceAugment(inject_needle_p=1.0).batch(x, y)


def test_bank_needles_are_the_per_sample_draws_injected_as_setigen_scales_them(sample_root, tmp_path):
    """Bank needle i is the workers path's draw from rng (seed, i); injecting it matches a numpy reference:
    scaled by the first ON panel's sigma-clipped noise (setigen's estimate), then ON panels z-scored."""
    from seti.data.augment.needles import NeedleBank, draw_needle, inject_needles, load_or_draw
    from seti.data.layout import ON_PANELS
    from seti.data.synthetic import SyntheticParams, sigma_clipped_std

    params = SyntheticParams(snr_range=(25.0, 150.0), faint_fraction=0.0, sine_fraction=0.5)
    bank = NeedleBank(load_or_draw(tmp_path, params, 3, seed=7))
    cadence = sample_cadences(sample_root)[0].astype(np.float32)
    for i in range(3):
        needle = draw_needle(np.random.default_rng([7, i]), params)
        assert np.array_equal(bank.needles[i].numpy(), needle.astype(np.float16))
        expected = cadence.copy()
        on = expected[list(ON_PANELS)] + needle * sigma_clipped_std(cadence[0], stride=3)
        on -= on.mean(axis=(1, 2), keepdims=True)
        expected[list(ON_PANELS)] = on / on.std(axis=(1, 2), keepdims=True)
        picked = bank.pick(1, torch.device("cpu"), picks=torch.tensor([i]))
        got = inject_needles(torch.from_numpy(cadence)[None], torch.tensor([True]), picked)[0]
        assert np.abs(expected - cadence).max() > 0.5
        np.testing.assert_allclose(got.numpy(), expected, atol=5e-3)  # float16 bank


def test_needle_bank_is_cached_on_disk_by_params_and_size(tmp_path):
    from seti.data.augment.needles import load_or_draw
    from seti.data.synthetic import SyntheticParams

    first = load_or_draw(tmp_path, SyntheticParams(), 2)
    files = list(tmp_path.glob("needles-*.npy"))
    assert len(files) == 1 and first.shape == (2, 3, 273, 256) and first.dtype == np.float16
    assert files[0].with_name(files[0].name + ".sha256").is_file()
    stamp = files[0].stat().st_mtime_ns
    again = load_or_draw(tmp_path, SyntheticParams(), 2)
    assert np.array_equal(first, again) and files[0].stat().st_mtime_ns == stamp  # read, not drawn again
    load_or_draw(tmp_path, SyntheticParams(), 3)
    load_or_draw(tmp_path, SyntheticParams(max_drift_hz_s=0.1), 2)
    assert len(list(tmp_path.glob("needles-*.npy"))) == 3 and not list(tmp_path.glob(".*tmp*"))


def test_a_corrupt_needle_bank_is_drawn_again_with_a_warning(tmp_path, caplog):
    """N10: a bank with a valid .npy header but NaN data (even with a matching checksum), or bytes that no
    longer match the checksum, is never used: a NaN needle makes blank ON panels labelled 1."""
    import hashlib

    from seti.data.augment.needles import bank_path, checksum_path, load_or_draw
    from seti.data.synthetic import SyntheticParams

    params = SyntheticParams()
    good = load_or_draw(tmp_path, params, 2)
    path = bank_path(tmp_path, params, 2)
    np.save(path, np.full_like(good, np.nan), allow_pickle=False)  # a valid header, NaN data
    checksum_path(path).write_text(hashlib.sha256(path.read_bytes()).hexdigest())  # and a checksum to match
    with caplog.at_level("WARNING", logger="seti.data.augment.needles"):
        bank = load_or_draw(tmp_path, params, 2)
    assert np.array_equal(bank, good) and np.isfinite(np.load(path)).all()
    assert str(path) in caplog.text and "non-finite" in caplog.text
    caplog.clear()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # one flipped byte in the data
    path.write_bytes(bytes(data))
    with caplog.at_level("WARNING", logger="seti.data.augment.needles"):
        assert np.array_equal(load_or_draw(tmp_path, params, 2), good)
    assert "does not match its checksum" in caplog.text


def test_an_unusable_needle_bank_dir_names_the_key_and_the_fix(sample_root, tmp_path):
    """N13: a data.needle_bank_dir that cannot be created or written is refused before any drawing, naming
    the folder and the key. (Tests run as root, which writes through chmod 555; a folder below a regular file
    fails for everyone.)"""
    from seti.data.augment.needles import NeedleBankError

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    strong = OmegaConf.load(CONF / "aug" / "strong.yaml")
    with pytest.raises(NeedleBankError) as err:
        datamodule(sample_root, "device", aug=strong, needle_bank_dir=str(blocker / "banks"))
    message = str(err.value)
    assert str(blocker / "banks") in message and "data.needle_bank_dir=" in message and "writable" in message


def test_the_needle_bank_is_drawn_in_setup_not_when_the_datamodule_is_made(sample_root, tmp_path):
    from seti.data.datamodule import CadenceDataModule

    strong = OmegaConf.load(CONF / "aug" / "strong.yaml")
    dm = CadenceDataModule(
        root=str(sample_root),
        num_folds=3,
        transforms="device",
        aug=strong,
        needle_bank_dir=str(tmp_path),
        needle_bank_size=2,
    )
    assert dm.device_image_ops is not None and not list(tmp_path.iterdir())  # aug checked, nothing drawn yet
    dm.setup("fit")
    assert dm.device_transforms.needles is not None and len(list(tmp_path.glob("needles-*.npy"))) == 1


def test_sigma_clipped_std_matches_setigens_estimate(sample_root):
    from seti.data.augment.needles import sigma_clipped_std
    from seti.data.synthetic import sigma_clipped_std as reference

    panels = np.stack([c[0] for c in sample_cadences(sample_root)]).astype(np.float32)
    got = sigma_clipped_std(torch.from_numpy(panels)).numpy()
    np.testing.assert_allclose(got, [reference(p, stride=3) for p in panels], rtol=1e-3)


# ---- image transforms: albumentations' arguments, batched ---------------------------------------------
def translate(*specs):
    from seti.data.augment.image import build_image_augment, translate_image_augment

    return translate_image_augment(build_image_augment(list(specs)))


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
    from seti.data.augment import build_augment
    from seti.data.augment.image import translate_image_augment
    from seti.data.device_transforms import build_device_transforms

    for name in ("none", "light", "strong"):
        cfg = OmegaConf.load(CONF / "aug" / f"{name}.yaml")
        cadence, image = build_augment(cfg)
        preprocess = Preprocessor(image_size=(32, 64), layout="stack")
        transforms = build_device_transforms(preprocess, cadence, translate_image_augment(image), str(tmp_path), 2)
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


def test_one_rule_decides_where_transforms_run(sample_root):
    """auto = the device path on CUDA, the workers elsewhere, for training and predict.py alike."""
    from seti.data.datamodule import CadenceDataModule
    from seti.runtime import resolve_transforms

    assert resolve_transforms("auto", "cpu") == "workers" and resolve_transforms("auto", "cuda:1") == "device"
    assert resolve_transforms("device", "cpu") == "device" and resolve_transforms("workers", "cuda") == "workers"
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
    """train.py's pipeline with data.transforms=device on CPU, on a small set of clearly visible needles: the
    device path (raw reads, batched preprocessing, mixup in the model) must learn far above chance."""
    easy = [
        "+data.synthetic.params.snr_range=[80,200]",
        "+data.synthetic.params.faint_fraction=0.0",
        "+data.synthetic.params.partial_on_fraction=0.0",
        "+data.synthetic.params.rfi_rate=0.0",
        "+data.synthetic.params.all_panel_signal_fraction=0.0",
        "+data.synthetic.params.off_only_signal_fraction=0.0",
    ]
    args = [
        *TINY,
        "data=synthetic",
        "data.synthetic.n=240",
        "data.synthetic.test_n=4",
        "data.synthetic.positive_rate=0.5",
        "data.num_folds=3",
        *easy,
        "model.optimizer.lr=1e-2",
        "data.batch_size=16",
        "data.image_size=[48,64]",
        "trainer.max_epochs=4",
        "data.transforms=device",
        "aug.mixup.alpha=1.0",
        "aug.mixup.p=0.5",
        "+aug.mixup.off_last_fraction=0.5",
        "logger=csv",
        "test_after_fit=false",
    ]
    train_in_process(args, tmp_path / "run", home=tmp_path)
    metrics = read_metrics_json(tmp_path / "run")
    assert metrics["status"] == "finished" and metrics["num_val"] == 80
    assert metrics["best_val_auroc"] > 0.8, metrics
