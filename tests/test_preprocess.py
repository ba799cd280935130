"""Preprocessing (:mod:`seti.data.preprocess`): the torch core against an independent numpy/cv2 reference,
its resize and background removal, and the batched entry point against one call per cadence."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from helpers import random_cadences, sample_cadences

from seti.data.layout import CADENCE_SHAPE
from seti.data.preprocess import (
    Preprocessor,
    kth_smallest,
    remove_background,
    remove_background_robust,
)
from seti.resample import resize, resize_weights


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
    torch.testing.assert_close(
        remove_background_robust(x, use_numpy=True), remove_background_robust(x, use_numpy=False)
    )


def test_robust_background_matches_an_independent_numpy_computation():
    """Odd row and channel counts, where the selected median is numpy's median: channel median, row median,
    per-channel MAD floored at a tenth of the panel's median MAD."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 6, 13, 41)) * rng.uniform(0.5, 3.0, size=(1, 1, 1, 41)) + rng.normal(size=(2, 6, 13, 1))
    x[0, 1, :, 7] = 0.0  # a dead channel: the floor, not a division by ~0
    ref = x - np.median(x, axis=2, keepdims=True)
    ref -= np.median(ref, axis=3, keepdims=True)
    mad = np.median(np.abs(ref), axis=2, keepdims=True) * 1.4826
    ref /= np.maximum(mad, 0.1 * np.median(mad, axis=3, keepdims=True) + 1e-6)
    got = remove_background_robust(torch.from_numpy(x).float()).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_robust_background_removes_gain_steps_that_median_keeps():
    """A gain step (every channel brighter for a few rows) survives the per-channel median, not the row median."""
    rng = np.random.default_rng(4)
    cadence = rng.normal(size=CADENCE_SHAPE).astype(np.float32)
    cadence[:, 100:140] += 8.0
    settings = dict(clip=None, image_size=(273, 256), layout="channels")
    median = Preprocessor(background="median", **settings)(cadence)
    robust = Preprocessor(background="robust", **settings)(cadence)
    assert median[100:140].mean() > 2.0 and abs(robust[100:140].mean()) < 0.1
    assert abs(robust.std() - 1.0) < 0.1


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
