"""Backgrounds that look like Green Bank's, and the cadences built on them.

Chi-square radiometer noise shaped by a bandpass (smooth shape, stripes, a bright channel) and per-row gain
drift, terrestrial interference in all six panels, label-independent look-alike signals, then the positive's
needle; every panel z-scored last. Augmentation adds a needle to an existing cadence with
:func:`seti.data.augment.needles.inject_needles` instead.
"""

from __future__ import annotations

import math

import numpy as np

from seti.data.layout import CADENCE_SHAPE, OFF_PANELS
from seti.data.synthetic.needles import (
    _FS,
    DF_HZ,
    FCHANS,
    N_PANELS,
    PANEL_S,
    TCHANS,
    NeedleSpec,
    _draw_needle,
    _loguniform,
    render_numpy,
    sample_needle,
    sample_on_panels,
)
from seti.data.synthetic.params import PROFILES, SyntheticParams


def _chi2_noise(rng: np.random.Generator, k: int, shape: tuple[int, ...]) -> np.ndarray:
    """chi2_k / k noise (mean 1), float32, via the Wilson-Hilferty cube of a normal.

    Why not rng.chisquare: it costs ~55 ms per cadence, the cube ~20 ms; for k >= 4 the two agree to
    within ~1% in mean, variance, skew and kurtosis (checked), far below what z-scored float16 shows.
    """
    a = np.float32(2.0 / (9.0 * k))
    z = rng.standard_normal(size=shape, dtype=np.float32)
    z *= np.sqrt(a)
    z += np.float32(1.0) - a
    np.maximum(z, 0.0, out=z)
    cube = z * z
    cube *= z
    return cube


def _smooth_series(rng: np.random.Generator, n: int, n_terms: int) -> np.ndarray:
    """A random smooth curve on n points (sum of low-frequency cosines), scaled to peak-to-peak 1."""
    x = np.linspace(0.0, np.pi, n)
    k = np.arange(1, n_terms + 1)
    coef = rng.normal(size=n_terms) / k
    phase = rng.uniform(0, 2 * np.pi, size=n_terms)
    y = (coef[:, None] * np.cos(k[:, None] * x[None, :] + phase[:, None])).sum(0)
    span = y.max() - y.min()
    return (y - y.mean()) / (span if span > 0 else 1.0)


def _bandpass(rng: np.random.Generator, params: SyntheticParams) -> np.ndarray:
    """(6, 256) per-panel channel gains: smooth shape, edge roll-off, stripes, a bright channel.

    Shared across the cadence with small per-panel changes, as in real data (column means of the six
    panels correlate 0.9-1.0 in the Kaggle samples).
    """
    amp = _loguniform(rng, params.bandpass_amplitude_range)
    shape = 1.0 + amp * _smooth_series(rng, FCHANS, 5)
    if rng.random() < 0.25:  # coarse-channel edge roll-off on one side
        depth = rng.uniform(0.1, 0.6)
        width = rng.uniform(2.0, 12.0)
        dist = np.arange(FCHANS, dtype=np.float64)
        if rng.random() < 0.5:
            dist = dist[::-1]
        shape *= 1.0 - depth / (1.0 + np.exp((dist - 3.0 * width) / width))
    stripes = np.ones(FCHANS)
    for _ in range(int(rng.poisson(params.stripe_rate))):
        start = int(rng.integers(0, FCHANS))
        span = int(rng.choice([1, 1, 1, 2, 3, 6, 12]))
        factor = 1.0 + _loguniform(rng, params.stripe_amplitude_range)
        stripes[start : start + span] *= factor if rng.random() < 0.7 else 1.0 / factor
    if rng.random() < params.bright_channel_fraction:
        j = int(rng.integers(0, FCHANS))
        peak = _loguniform(rng, params.bright_channel_range)
        stripes[j] *= peak
        for d in (-1, 1):
            if 0 <= j + d < FCHANS and rng.random() < 0.5:
                stripes[j + d] *= 1.0 + (peak - 1.0) * rng.uniform(0.02, 0.3)
    out = np.empty((N_PANELS, FCHANS))
    for p in range(N_PANELS):
        wobble = 1.0 + 0.1 * amp * _smooth_series(rng, FCHANS, 3)
        jitter = 1.0 + (stripes - 1.0) * rng.normal(1.0, 0.05, size=FCHANS)
        out[p] = np.maximum(shape * wobble * jitter, 0.05)
    return out


def _gain(rng: np.random.Generator, params: SyntheticParams) -> np.ndarray:
    """(6, 273) per-row gains: slow wander plus occasional broadband bursts (bright horizontal rows)."""
    amp = _loguniform(rng, params.gain_drift_range)
    out = np.empty((N_PANELS, TCHANS))
    for p in range(N_PANELS):
        walk = np.cumsum(rng.normal(size=TCHANS))
        walk -= np.linspace(0, walk[-1], TCHANS) * rng.uniform(0, 1)
        walk = (walk - walk.mean()) / (np.ptp(walk) or 1.0)
        g = 1.0 + amp * (walk + 0.5 * _smooth_series(rng, TCHANS, 4))
        if rng.random() < params.burst_fraction:
            for _ in range(int(rng.integers(1, 6))):
                start = int(rng.integers(0, TCHANS))
                g[start : start + int(rng.integers(1, 12))] *= 1.0 + _loguniform(rng, (0.02, 0.5))
        out[p] = g * rng.uniform(0.8, 1.25)  # panel-level gain: removed by z-scoring anyway
    return out


def _add_rfi(raw: np.ndarray, rng: np.random.Generator, params: SyntheticParams, noise_std: float) -> None:
    """Narrow terrestrial lines in all six panels: stationary or drifting, steady or intermittent.

    A drifting line restarts at (about) the same frequency in each panel, so it is always present in every
    panel: that is what makes it terrestrial, hence no label cue.
    """
    for _ in range(int(rng.poisson(params.rfi_rate))):
        drift = float(rng.uniform(-0.4, 0.4)) if rng.random() < params.rfi_drift_fraction else 0.0
        spec = NeedleSpec(
            f_start_hz=float(rng.uniform(_FS[0], _FS[-1])),
            drift_hz_s=drift,
            width_hz=_loguniform(rng, (1.5, 8.0)),
            profile=str(rng.choice(PROFILES)),
            snr=_loguniform(rng, params.rfi_snr_range),
            restart_each_panel=True,
        )
        if drift:  # keep the line in band during each panel
            end = spec.f_start_hz + drift * PANEL_S
            if not _FS[0] <= end <= _FS[-1]:
                spec.f_start_hz -= end - np.clip(end, _FS[0] + 5 * DF_HZ, _FS[-1] - 5 * DF_HZ)
        intermittent = rng.random() < params.rfi_intermittent_fraction
        level = spec.snr * noise_std / math.sqrt(TCHANS)
        base_f = spec.f_start_hz
        for p in range(N_PANELS):
            spec.f_start_hz = base_f + rng.normal(0.0, 0.5) * DF_HZ
            rows = np.full(TCHANS, level * rng.uniform(0.6, 1.4))
            if intermittent:
                mask = np.zeros(TCHANS, dtype=bool)
                while mask.mean() < 0.25:
                    s = int(rng.integers(0, TCHANS))
                    mask[s : s + int(rng.integers(10, 90))] = True
                rows = rows * mask
            render_numpy(spec, p, rows, raw[p])


def _zscore(panels: np.ndarray) -> np.ndarray:
    """Per-panel (mean 0, std 1), float32; a constant panel becomes zeros instead of NaN.

    Per-panel float64 mean and a BLAS dot product for the variance: ~10x faster than ndarray.std. The
    generator's own: its rounding is part of "same seed, same bytes". Augmentation re-z-scores batches in
    torch (:func:`seti.data.augment.needles.zscore_panels`).
    """
    x = np.asarray(panels, dtype=np.float32)
    flat = x.reshape(x.shape[0], -1)
    out = np.empty_like(flat)
    for i, row in enumerate(flat):
        np.subtract(row, np.float32(row.mean(dtype=np.float64)), out=out[i])
        var = float(np.dot(out[i], out[i])) / row.size
        if var > 0:
            out[i] *= np.float32(1.0 / math.sqrt(var))
    return out.reshape(x.shape)


def generated_background(rng: np.random.Generator, params: SyntheticParams) -> tuple[np.ndarray, float]:
    """A generated background, float32 (6, 273, 256) before z-scoring, and its noise std (unit level)."""
    bandpass = _bandpass(rng, params)
    gain = _gain(rng, params)
    raw = _chi2_noise(rng, params.chi2_df, CADENCE_SHAPE)
    raw *= gain.astype(np.float32)[:, :, None]
    raw *= bandpass.astype(np.float32)[:, None, :]
    return raw, math.sqrt(2.0 / params.chi2_df)  # chi2_k / k at unit level


def generate_cadence(
    rng: np.random.Generator,
    positive: bool,
    params: SyntheticParams | None = None,
    background: tuple[np.ndarray, float] | None = None,
) -> np.ndarray:
    """One synthetic cadence, float16 (6, 273, 256), ABACAD, every panel z-scored.

    ``background`` is ``(float32 raw cadence, its noise std)``, e.g. a varied real one
    (:func:`seti.data.synthetic.real.vary_background`); None draws a generated one. Either way the
    injection is the same: RFI, label-independent signals, then the positive's needle last. The draws
    happen in that fixed order, so the same rng state with ``positive`` True and False gives the same
    background and the OFF panels come out byte-identical: the only difference a positive carries is its
    ON-panel needle.
    """
    params = params or SyntheticParams()
    if background is None:
        raw, noise_std = generated_background(rng, params)
    else:
        raw, noise_std = np.array(background[0], dtype=np.float32), float(background[1])
        if raw.shape != CADENCE_SHAPE:
            raise ValueError(f"background must have shape {CADENCE_SHAPE}, got {raw.shape}")
    _add_rfi(raw, rng, params, noise_std)
    # label-independent needle-like signals: terrestrial (all panels) or OFF-only; both are "not ON-only"
    if rng.random() < params.all_panel_signal_fraction:
        restart = bool(rng.random() < 0.5)
        spec = sample_needle(rng, params, range(N_PANELS), restart_each_panel=restart)
        _draw_needle(raw, spec, range(N_PANELS), params.engine)
    if rng.random() < params.off_only_signal_fraction:
        k = int(rng.integers(1, 4))
        off = sorted(int(p) for p in rng.choice(OFF_PANELS, size=k, replace=False))
        spec = sample_needle(rng, params, off)
        _draw_needle(raw, spec, off, params.engine)
    if positive:
        panels = sample_on_panels(rng, params)
        spec = sample_needle(rng, params, panels)
        _draw_needle(raw, spec, panels, params.engine)
    return _zscore(raw).astype(np.float16)
