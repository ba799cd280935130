"""Synthetic SETI cadences in the exact Kaggle "E.T. Signal Search" layout.

Why: the real training set is 60,000 cadences we may not have, and small real subsets are too small to
learn from (a from-scratch CNN on 2,000 realistic cadences learns little). This module makes as many labelled cadences as
wanted, with backgrounds that look like the Green Bank ones (chi-square radiometer noise, bandpass shape,
bright/dim channel stripes, per-row gain drift, terrestrial interference in every panel) and needles drawn
with setigen, Breakthrough Listen's own signal generator, the way the competition made its positives.

Conventions (the same as the Kaggle files):

* a cadence is float16 ``(6, 273, 256)`` in order A B A C A D; panels 0, 2, 4 are ON target, 1, 3, 5 OFF;
* a panel is ~5 minutes (``DT_S`` = 300/273 s per row) and 256 channels of ``DF_HZ`` = 2.79 Hz;
* a positive holds a needle only in ON panels (all three, or 1-2 of them), whose frequency drifts
  continuously through the whole cadence time (it keeps moving during the OFF panels, just isn't drawn);
* every panel is z-scored after injection (mean 0, std 1), so brightness cannot leak the label.

Public API: :class:`SyntheticParams`, :func:`generate_cadence`, :func:`inject_needle`,
:func:`sample_on_panels`, :func:`synthetic_id`, :func:`write_dataset`, :func:`ensure_dataset`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from seti.atomic import atomic_write, atomic_write_text
from seti.data.layout import (
    CADENCE_SHAPE,
    LABELS_CSV,
    OFF_PANELS,
    ON_PANELS,
    SUBMISSION_CSV,
    TEST_LABELS_CSV,
    CadenceDataError,
    cadence_path,
    check_id,
    load_cadence,
)

log = logging.getLogger(__name__)

#: bump when the generator's output for the same (seed, params) changes: a manifest of another version
#: no longer matches, so ensure_dataset never silently mixes two generators in one folder.
SYNTHETIC_VERSION = 1
MANIFEST_NAME = "synthetic.json"
PARTIAL_MANIFEST_NAME = ".synthetic.partial.json"
LOCK_NAME = ".synthetic.lock"

N_PANELS, TCHANS, FCHANS = CADENCE_SHAPE
DF_HZ = 2.7939677238464355  # Breakthrough Listen high-resolution channel width
DT_S = 300.0 / TCHANS  # one panel = 5 minutes of 273 rows
PANEL_S = TCHANS * DT_S
FCH1_HZ = 6.0e9  # frame's lowest frequency (ascending): the absolute value only sets the path's origin
PROFILES = ("gaussian", "sinc2", "box")
_SPLIT_CODES = {"train": 0, "test": 1}
_GAUSS_FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))
# setigen's own time axis: Frame._update_ts
_TS = np.linspace(0.0, TCHANS * DT_S, TCHANS, endpoint=False)
_FS = np.linspace(FCH1_HZ, FCH1_HZ + FCHANS * DF_HZ, FCHANS, endpoint=False)  # Frame._update_fs, ascending


# ----------------------------------------------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------------------------------------------


@dataclass
class SyntheticParams:
    """Knobs of the generator. JSON-serialisable through ``dataclasses.asdict``.

    The defaults make a dataset a small CNN can learn on a CPU in minutes (most needles clearly visible),
    with a tail of faint needles and hard negatives so it is not trivial. To make it harder: lower
    ``snr_range``, raise ``faint_fraction``, ``partial_on_fraction``, ``all_panel_signal_fraction``.

    SNR is setigen's: intensity = snr * frame noise std / sqrt(273), so the per-pixel amplitude of a
    needle is snr / 16.5 noise sigmas (snr 15 ~ 0.9 sigma, snr 80 ~ 4.8 sigma).
    """

    # needle brightness: log-uniform in snr_range, or (with probability faint_fraction) in faint_snr_range
    snr_range: tuple[float, float] = (15.0, 80.0)
    faint_fraction: float = 0.1
    faint_snr_range: tuple[float, float] = (8.0, 15.0)
    #: positives whose needle is in a random 1 or 2 of the three ON panels only
    partial_on_fraction: float = 0.3
    #: |drift| uniform in [0, max_drift_hz_s] Hz/s, random sign (0.6 Hz/s ~ 0.24 channels per row)
    max_drift_hz_s: float = 0.6
    #: fraction of needles whose path is sine-shaped (setigen sine_path) rather than straight
    sine_fraction: float = 0.3
    sine_period_range_s: tuple[float, float] = (120.0, 900.0)
    sine_amplitude_range_hz: tuple[float, float] = (5.0, 50.0)
    #: needle width (setigen's, in Hz; FWHM for gaussian, 2x zero crossing for sinc2, full width for box)
    width_range_hz: tuple[float, float] = (4.0, 18.0)
    profiles: tuple[str, ...] = PROFILES
    # --- background ---
    #: chi-square degrees of freedom of the radiometer noise (setigen: 4 * round(df * dt) = 12 for one 1.1 s
    #: spectrum; 48 matches the smoother look of the real Kaggle backgrounds: noise std ~0.2 of the level)
    chi2_df: int = 48
    #: peak-to-peak of the smooth bandpass shape, as a fraction of the mean level (log-uniform)
    bandpass_amplitude_range: tuple[float, float] = (0.1, 1.5)
    #: mean number of brighter/dimmer channel stripes per cadence (Poisson), and their relative amplitude
    stripe_rate: float = 6.0
    stripe_amplitude_range: tuple[float, float] = (0.05, 1.0)
    #: fraction of cadences with one very bright channel (half of the real samples have one, z ~ 14)
    bright_channel_fraction: float = 0.5
    bright_channel_range: tuple[float, float] = (2.0, 20.0)
    #: per-row gain wander, relative (log-uniform), and the chance a panel has a broadband burst
    gain_drift_range: tuple[float, float] = (0.05, 1.0)
    burst_fraction: float = 0.5
    #: mean number of RFI lines per cadence (Poisson); RFI is drawn in all six panels (terrestrial)
    rfi_rate: float = 1.5
    rfi_snr_range: tuple[float, float] = (10.0, 300.0)
    rfi_drift_fraction: float = 0.4
    rfi_intermittent_fraction: float = 0.3
    #: fraction of cadences (either label, so it is no label cue) with a needle-like signal in all 6 panels
    all_panel_signal_fraction: float = 0.15
    #: fraction of cadences (either label) with a needle in OFF panels only: a hard negative pattern
    off_only_signal_fraction: float = 0.05
    #: who draws needles in generate_cadence: "setigen" (Frame.add_signal) or "numpy" (the vectorised
    #: mirror of the same functions used by inject_needle; identical pixels, ~3x faster)
    engine: str = "setigen"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):  # from JSON
                setattr(self, f.name, tuple(value))
        for name in (
            "snr_range",
            "faint_snr_range",
            "sine_period_range_s",
            "sine_amplitude_range_hz",
            "width_range_hz",
            "bandpass_amplitude_range",
            "stripe_amplitude_range",
            "bright_channel_range",
            "gain_drift_range",
            "rfi_snr_range",
        ):
            lo, hi = getattr(self, name)
            if not (0 < lo <= hi):
                raise ValueError(f"SyntheticParams.{name} must be (low, high) with 0 < low <= high, got {(lo, hi)}")
        for name in (
            "faint_fraction",
            "partial_on_fraction",
            "sine_fraction",
            "bright_channel_fraction",
            "burst_fraction",
            "rfi_drift_fraction",
            "rfi_intermittent_fraction",
            "all_panel_signal_fraction",
            "off_only_signal_fraction",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"SyntheticParams.{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.max_drift_hz_s < 0 or self.stripe_rate < 0 or self.rfi_rate < 0:
            raise ValueError("SyntheticParams: max_drift_hz_s, stripe_rate and rfi_rate must be >= 0")
        if self.chi2_df < 1:
            raise ValueError(f"SyntheticParams.chi2_df must be >= 1, got {self.chi2_df}")
        if not self.profiles or set(self.profiles) - set(PROFILES):
            raise ValueError(f"SyntheticParams.profiles must be a non-empty subset of {PROFILES}, got {self.profiles}")
        if self.engine not in ("setigen", "numpy"):
            raise ValueError(f"SyntheticParams.engine must be 'setigen' or 'numpy', got {self.engine!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (tuples become lists), as stored in the manifest."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SyntheticParams:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(
                f"unknown SyntheticParams field(s) {sorted(unknown)}; known: {[f.name for f in fields(cls)]}"
            )
        return cls(**data)


# ----------------------------------------------------------------------------------------------------------
# Needles: one description, two renderers (setigen Frame and a vectorised numpy mirror)
# ----------------------------------------------------------------------------------------------------------


@dataclass
class NeedleSpec:
    """A narrowband signal's path through the whole cadence and its look.

    The path is ``f(t) = f_start + amplitude * sin(2 pi t / period) + drift * t`` (setigen's sine_path;
    constant_path when amplitude is 0) with ``t = t0 + panel * PANEL_S + row time``: continuous over the
    cadence, so the needle keeps drifting during panels where it is not drawn. ``restart_each_panel``
    (terrestrial look) instead restarts the path at every panel.
    """

    f_start_hz: float
    drift_hz_s: float
    width_hz: float
    profile: str
    snr: float
    sine_period_s: float = 0.0
    sine_amplitude_hz: float = 0.0
    t0_s: float = 0.0
    restart_each_panel: bool = False

    def panel_offset(self, panel: int) -> float:
        return self.t0_s + (0.0 if self.restart_each_panel else panel * PANEL_S)

    def centers_hz(self, panel: int, ts: np.ndarray = _TS) -> np.ndarray:
        t = ts + self.panel_offset(panel)
        f = self.f_start_hz + self.drift_hz_s * t
        if self.sine_amplitude_hz:
            f = f + self.sine_amplitude_hz * np.sin(2 * np.pi * t / self.sine_period_s)
        return f

    def support_hz(self) -> float:
        """Half-width beyond which the profile is zero (box, sinc2) or < 1e-8 of its peak (gaussian)."""
        if self.profile == "gaussian":
            return 6.1 * self.width_hz / _GAUSS_FWHM
        return self.width_hz / 2.0


def _loguniform(rng: np.random.Generator, lo_hi: Sequence[float]) -> float:
    lo, hi = lo_hi
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def sample_on_panels(rng: np.random.Generator, params: SyntheticParams) -> tuple[int, ...]:
    """ON panels a positive's needle is drawn in: all three, or (partial_on_fraction) a random 1 or 2."""
    if rng.random() < params.partial_on_fraction:
        k = int(rng.integers(1, 3))
        return tuple(sorted(int(p) for p in rng.choice(ON_PANELS, size=k, replace=False)))
    return tuple(ON_PANELS)


def sample_needle(
    rng: np.random.Generator,
    params: SyntheticParams,
    visible_panels: Iterable[int],
    *,
    snr_range: Sequence[float] | None = None,
    width_range_hz: Sequence[float] | None = None,
    restart_each_panel: bool = False,
    margin_ch: float = 6.0,
) -> NeedleSpec:
    """Draw a needle whose path lies inside the band in every panel of ``visible_panels``.

    Why the constraint: a positive whose needle has drifted out of the 256 channels in all its ON panels
    would be a label with nothing to see. The drift (and sine amplitude) shrink until a start frequency
    exists that keeps the path in band at 5 checkpoints of each listed panel.
    """
    visible = sorted(set(int(p) for p in visible_panels))
    if snr_range is None:
        snr_range = params.faint_snr_range if rng.random() < params.faint_fraction else params.snr_range
    snr = _loguniform(rng, snr_range)
    width = _loguniform(rng, width_range_hz or params.width_range_hz)
    profile = str(rng.choice(list(params.profiles)))
    drift = float(rng.uniform(0.0, params.max_drift_hz_s)) * (1.0 if rng.random() < 0.5 else -1.0)
    period = amplitude = 0.0
    if rng.random() < params.sine_fraction:
        period = _loguniform(rng, params.sine_period_range_s)
        amplitude = _loguniform(rng, params.sine_amplitude_range_hz)
    t0 = float(rng.uniform(0.0, period)) if period else 0.0
    checkpoints = np.linspace(0.0, TCHANS * DT_S, 5)
    lo_hz, hi_hz = _FS[0] + margin_ch * DF_HZ, _FS[-1] - margin_ch * DF_HZ
    for _ in range(40):
        spec = NeedleSpec(0.0, drift, width, profile, snr, period, amplitude, t0, restart_each_panel)
        excursion = np.concatenate([spec.centers_hz(p, checkpoints) for p in visible])
        low, high = lo_hz - excursion.min(), hi_hz - excursion.max()
        if low <= high:
            spec.f_start_hz = float(rng.uniform(low, high))
            return spec
        drift *= 0.7
        amplitude *= 0.7
    raise RuntimeError("could not place a needle in band; lower max_drift_hz_s or sine_amplitude_range_hz")


def _gaussian(x: np.ndarray, width: float) -> np.ndarray:
    sigma = width / _GAUSS_FWHM  # setigen gaussian_f_profile: width is the FWHM
    return np.exp(-np.square(x) / (2.0 * sigma * sigma))


def _sinc2(x: np.ndarray, width: float) -> np.ndarray:
    zero_crossing = width / 2.0  # setigen sinc2_f_profile, width_mode="crossing", trunc=True
    return np.where(np.abs(x) < zero_crossing, np.sinc(x / zero_crossing), 0.0) ** 2


def _box(x: np.ndarray, width: float) -> np.ndarray:
    return (np.abs(x) < width / 2.0).astype(np.float64)  # setigen box_f_profile


_NUMPY_PROFILES: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "gaussian": _gaussian,
    "sinc2": _sinc2,
    "box": _box,
}


def render_numpy(spec: NeedleSpec, panel: int, level: float | np.ndarray, out: np.ndarray) -> None:
    """Add the needle's pixels for ``panel`` to ``out`` (273, 256) in place; vectorised numpy.

    Mirrors setigen ``Frame.add_signal`` with a callable path, ``constant_t_profile(level)`` (or a per-row
    level array), the same f_profile and ``constant_bp_profile(1)``, no integration or Doppler smearing:
    pixel = level * f_profile(fs[col] - path(ts[row])). It evaluates only a window of columns around the
    path in each row (setigen evaluates the full 273 x 256 grid plus builds a Frame with a sigma-clip
    noise estimate, ~10 ms), which is what makes :func:`inject_needle` fast enough for on-the-fly
    augmentation. ``tests/test_synthetic.py`` checks it matches setigen's output pixel for pixel.
    """
    centers = spec.centers_hz(panel)
    half = int(math.ceil(spec.support_hz() / DF_HZ)) + 1
    center_col = np.rint((centers - _FS[0]) / DF_HZ).astype(np.int64)
    cols = center_col[:, None] + np.arange(-half, half + 1)[None, :]
    valid = (cols >= 0) & (cols < FCHANS)
    if not valid.any():
        return
    rows = np.broadcast_to(np.arange(TCHANS)[:, None], cols.shape)
    cols_c = np.clip(cols, 0, FCHANS - 1)
    values = _NUMPY_PROFILES[spec.profile](_FS[cols_c] - centers[:, None], spec.width_hz)
    level_rows = np.broadcast_to(np.asarray(level, dtype=np.float64).reshape(-1, 1), (TCHANS, 1))
    values = values * level_rows
    out[rows[valid], cols[valid]] += values[valid].astype(out.dtype, copy=False)


def _setigen():
    """Import setigen lazily: it pulls astropy/blimpy (~2-5 s), not needed by the numpy engine."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # blimpy's pkg_resources deprecation warning
        import setigen as stg
    return stg


def make_frame(background: np.ndarray):
    """A setigen Frame over one (273, 256) background panel with this module's df/dt/fch1 (ascending)."""
    stg = _setigen()
    return stg.Frame(
        fchans=FCHANS,
        tchans=TCHANS,
        df=DF_HZ,
        dt=DT_S,
        fch1=FCH1_HZ,
        ascending=True,
        data=np.asarray(background, dtype=np.float64),
    )


def render_setigen(spec: NeedleSpec, panel: int, frame, level: float) -> np.ndarray:
    """The needle's (273, 256) pixels for ``panel``, drawn by setigen's own ``Frame.add_signal``.

    The path is setigen's constant_path/sine_path evaluated at the panel's offset in cadence time, so the
    drift continues across panels. No Doppler smearing (slow). ``bounding_f_range`` only skips columns
    where the profile is zero, for speed. The frame's data is restored, so one Frame serves every panel.
    """
    stg = _setigen()
    if spec.sine_amplitude_hz:
        base = stg.sine_path(
            f_start=spec.f_start_hz,
            drift_rate=spec.drift_hz_s,
            period=spec.sine_period_s,
            amplitude=spec.sine_amplitude_hz,
        )
    else:
        base = stg.constant_path(f_start=spec.f_start_hz, drift_rate=spec.drift_hz_s)
    offset = spec.panel_offset(panel)

    def path(t: np.ndarray) -> np.ndarray:
        return base(t + offset)

    f_profile = {"gaussian": stg.gaussian_f_profile, "sinc2": stg.sinc2_f_profile, "box": stg.box_f_profile}[
        spec.profile
    ](width=spec.width_hz)
    centers = spec.centers_hz(panel)
    pad = spec.support_hz() + 2 * DF_HZ
    lo, hi = max(centers.min() - pad, _FS[0]), min(centers.max() + pad, _FS[-1] + DF_HZ)
    if hi <= lo:
        return np.zeros((TCHANS, FCHANS))
    saved = frame.data[:, :].copy()
    signal = frame.add_signal(
        path,
        stg.constant_t_profile(level=level),
        f_profile,
        stg.constant_bp_profile(level=1),
        bounding_f_range=(lo, hi),
    )
    frame.data[:, :] = saved
    return signal


def sigma_clipped_std(panel: np.ndarray, sigma: float = 3.0, maxiters: int = 5, stride: int = 1) -> float:
    """std of ``panel`` after iterative median-centred 3-sigma clipping: setigen's frame noise estimate.

    The same algorithm as astropy ``sigma_clip(sigma=3, maxiters=5)`` used by ``Frame``; here so the numpy
    engine and :func:`inject_needle` scale SNR as setigen would, without building a Frame. ``stride`` > 1
    estimates from every stride-th pixel (3 -> ~3x faster, within ~0.2%), used by inject_needle for speed.
    """
    keep = np.asarray(panel, dtype=np.float32).ravel()[::stride]
    for _ in range(maxiters):
        med, std = np.median(keep), keep.std(dtype=np.float64)
        new = keep[np.abs(keep - med) <= sigma * std]
        if new.size == keep.size:
            break
        keep = new
    return float(keep.std(dtype=np.float64))


_FRAME = None


def _shared_frame():
    """One empty setigen Frame per process, reused for every needle.

    Why: building a Frame runs astropy's sigma_clip over the data (8-20 ms), more than drawing the needle.
    ``add_signal`` only needs the frame's axes, and ``get_intensity`` only its noise std, which
    :func:`_draw_needle` sets from :func:`sigma_clipped_std` (setigen's own estimate, same algorithm).
    """
    global _FRAME
    if _FRAME is None:
        _FRAME = make_frame(np.zeros((TCHANS, FCHANS)))
    return _FRAME


def _draw_needle(raw: np.ndarray, spec: NeedleSpec, panels: Sequence[int], engine: str, stride: int = 1) -> None:
    """Add ``spec`` to ``raw`` (6, 273, 256) float32 in ``panels``.

    The intensity is setigen's ``get_intensity(snr)`` = snr * noise std / sqrt(273), with the noise std
    estimated (sigma-clipped, like a setigen Frame) on the first listed panel's background.
    """
    panels = list(panels)
    noise_std = sigma_clipped_std(raw[panels[0]], stride=stride)
    if engine == "setigen":
        frame = _shared_frame()
        frame.noise_mean, frame.noise_std = 0.0, noise_std
        level = frame.get_intensity(snr=spec.snr)
        for p in panels:
            raw[p] += render_setigen(spec, p, frame, level).astype(np.float32)
    else:
        level = spec.snr * noise_std / math.sqrt(TCHANS)
        for p in panels:
            render_numpy(spec, p, level, raw[p])


# ----------------------------------------------------------------------------------------------------------
# Backgrounds
# ----------------------------------------------------------------------------------------------------------


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

    Per-panel float64 mean and a BLAS dot product for the variance: ~10x faster than ndarray.std.
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


def generate_cadence(rng: np.random.Generator, positive: bool, params: SyntheticParams | None = None) -> np.ndarray:
    """One synthetic cadence, float16 (6, 273, 256), ABACAD, every panel z-scored.

    The draws happen in a fixed order (background, RFI, label-independent signals, then the positive's
    needle last), so the same rng state with ``positive`` True and False gives the same background and the
    OFF panels come out byte-identical: the only difference a positive carries is its ON-panel needle.
    """
    params = params or SyntheticParams()
    bandpass = _bandpass(rng, params)
    gain = _gain(rng, params)
    raw = _chi2_noise(rng, params.chi2_df, CADENCE_SHAPE)
    raw *= gain.astype(np.float32)[:, :, None]
    raw *= bandpass.astype(np.float32)[:, None, :]
    noise_std = math.sqrt(2.0 / params.chi2_df)  # chi2_k / k at unit level
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


def inject_needle(
    cadence: np.ndarray,
    rng: np.random.Generator,
    params: SyntheticParams | None = None,
    panels: Sequence[int] = ON_PANELS,
) -> np.ndarray:
    """Add a needle to an existing z-scored cadence in ``panels``; re-z-score those panels; float32 out.

    For on-the-fly augmentation (a negative becomes a positive). It uses :func:`render_numpy`, the
    vectorised mirror of setigen's path/profile functions (pixel-identical, tested) because building
    setigen Frames costs ~10 ms per panel; this costs ~5-10 ms per call (2-core VM). The needle's SNR is scaled, as
    setigen's ``get_intensity`` does, by the sigma-clipped noise std of the first listed panel, and its path
    is placed so it is in band in every listed panel. Use :func:`sample_on_panels` to pick a realistic
    subset of ON panels.
    """
    params = params or SyntheticParams()
    out = np.array(cadence, dtype=np.float32, copy=True)
    if out.shape != CADENCE_SHAPE:
        raise ValueError(f"inject_needle: cadence shape {out.shape}, expected {CADENCE_SHAPE}")
    panels = sorted(set(int(p) for p in panels))
    if not panels or not all(0 <= p < N_PANELS for p in panels):
        raise ValueError(f"inject_needle: panels must be a non-empty subset of 0..5, got {panels}")
    spec = sample_needle(rng, params, panels)
    _draw_needle(out, spec, panels, "numpy", stride=3)
    out[panels] = _zscore(out[panels])
    return out


# ----------------------------------------------------------------------------------------------------------
# Dataset on disk
# ----------------------------------------------------------------------------------------------------------


def synthetic_id(seed: int, split: str, index: int) -> str:
    """Deterministic id: 15 lowercase hex characters of sha256("seti-synthetic/<seed>/<split>/<index>")."""
    if split not in _SPLIT_CODES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    digest = hashlib.sha256(f"seti-synthetic/{int(seed)}/{split}/{int(index)}".encode()).hexdigest()
    return digest[:15]


def _cadence_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """Each cadence's own stream: independent of the worker count and of the other cadences."""
    return np.random.default_rng([int(seed), _SPLIT_CODES[split], 1, int(index)])


def _labels(seed: int, split: str, n: int, positive_rate: float) -> np.ndarray:
    """Exactly round(n * positive_rate) positives, at positions shuffled by the seed."""
    n_pos = int(round(n * positive_rate))
    labels = np.zeros(n, dtype=np.int64)
    labels[:n_pos] = 1
    return np.random.default_rng([int(seed), _SPLIT_CODES[split], 2]).permutation(labels)


def _atomic_write_bytes(path: Path, writer: Callable[[Any], None], mode: str = "wb") -> None:
    atomic_write(path, writer, mode=mode, fsync=False)  # no fsync: a killed run is covered without it


def _atomic_write_text(path: Path, text: str) -> None:
    atomic_write_text(path, text, fsync=False)


def _is_valid(path: Path) -> bool:
    try:
        load_cadence(path)
        return True
    except CadenceDataError:
        return False


def _work_chunk(root: str, seed: int, params_dict: dict, tasks: list[tuple[str, int, str, int]]) -> tuple[int, int]:
    """Worker: generate and atomically save each (split, index, id, label) unless a valid file exists."""
    params = SyntheticParams.from_dict(params_dict)
    made = skipped = 0
    for split, index, cadence_id, label in tasks:
        path = cadence_path(root, split, cadence_id)
        if path.exists() and _is_valid(path):
            skipped += 1
            continue
        cadence = generate_cadence(_cadence_rng(seed, split, index), bool(label), params)
        _atomic_write_bytes(path, lambda fh, cadence=cadence: np.save(fh, cadence, allow_pickle=False))
        made += 1
    return made, skipped


def _manifest_key(n: int, test_n: int, positive_rate: float, seed: int, params: SyntheticParams) -> dict:
    """What makes two datasets the same: the arguments, params and generator version (not workers/time)."""
    return {
        "version": SYNTHETIC_VERSION,
        "n": int(n),
        "test_n": int(test_n),
        "positive_rate": float(positive_rate),
        "seed": int(seed),
        "params": params.to_dict(),
    }


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise CadenceDataError(f"{path} is not readable JSON ({err}); delete it or pick another data.root") from err


def _mismatch_error(root: Path, found: dict, wanted: dict, what: str) -> CadenceDataError:
    diffs = []
    for key in wanted:
        if key == "params":
            fp, wp = found.get("params") or {}, wanted["params"]
            diffs += [
                f"params.{k}: on disk {fp.get(k)!r}, requested {wp.get(k)!r}"
                for k in sorted(set(fp) | set(wp))
                if fp.get(k) != wp.get(k)
            ]
        elif found.get(key) != wanted[key]:
            diffs.append(f"{key}: on disk {found.get(key)!r}, requested {wanted[key]!r}")
    return CadenceDataError(
        f"{root} already holds {what} synthetic dataset made with other settings ({'; '.join(diffs)}). "
        f"Pick another data.root, or delete {root} to regenerate it."
    )


def _check_args(n: int, test_n: int, positive_rate: float, seed: int, workers: int) -> None:
    if int(n) != n or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n}")
    if int(test_n) != test_n or test_n < 0:
        raise ValueError(f"test_n must be an integer >= 0, got {test_n}")
    if not 0.0 <= positive_rate <= 1.0:
        raise ValueError(f"positive_rate must lie in [0, 1], got {positive_rate}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed}")
    if int(workers) != workers or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers}")


def write_dataset(
    out_dir: str | Path,
    n: int,
    test_n: int = 0,
    positive_rate: float = 0.2,
    seed: int = 0,
    workers: int = 1,
    params: SyntheticParams | None = None,
    progress: bool = True,
) -> Path:
    """Write a synthetic dataset in the Kaggle layout under ``out_dir`` and return its path.

    Files: ``train_labels.csv``, ``train/<id[0]>/<id>.npy``, ``test/<id[0]>/<id>.npy``,
    ``sample_submission.csv`` (target 0.5; header only when test_n is 0), ``test_labels.csv`` (the test
    answers, for scoring) and ``synthetic.json`` (arguments, params, version), written last as the
    "complete" marker. Output bytes depend only on (seed, n, test_n, positive_rate, params), not on
    ``workers``. Every file is written atomically; re-running after an interruption keeps the valid
    cadences and writes the rest. A folder begun or finished with other settings is refused
    (:class:`CadenceDataError`), because reusing its files would silently mix two datasets.
    Not safe for two processes writing one folder at once: use :func:`ensure_dataset`, which locks.
    """
    _check_args(n, test_n, positive_rate, seed, workers)
    params = params or SyntheticParams()
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    key = _manifest_key(n, test_n, positive_rate, seed, params)
    for name, what in ((MANIFEST_NAME, "a complete"), (PARTIAL_MANIFEST_NAME, "a partly written")):
        found = _read_json(root / name)
        if found is not None and {k: found.get(k) for k in key} != key:
            raise _mismatch_error(root, found, key, what)
    _atomic_write_text(root / PARTIAL_MANIFEST_NAME, json.dumps(key, indent=2))

    started = time.perf_counter()
    tables: dict[str, list[tuple[str, int]]] = {}
    tasks: list[tuple[str, int, str, int]] = []
    seen: set[str] = set()
    for split, count in (("train", int(n)), ("test", int(test_n))):
        labels = _labels(seed, split, count, positive_rate) if count else np.zeros(0, dtype=np.int64)
        rows = []
        for index, label in enumerate(labels):
            cadence_id = check_id(synthetic_id(seed, split, index))
            if cadence_id in seen:  # 60-bit hashes: never expected, but a collision must not go unnoticed
                raise RuntimeError(f"synthetic id collision at {split}[{index}]: {cadence_id}")
            seen.add(cadence_id)
            rows.append((cadence_id, int(label)))
            tasks.append((split, index, cadence_id, int(label)))
        tables[split] = rows

    made, skipped = _run_tasks(root, seed, params, tasks, workers, progress)

    def table(rows: list[tuple[str, Any]]) -> str:
        return "id,target\n" + "".join(f"{i},{t}\n" for i, t in rows)

    _atomic_write_text(root / LABELS_CSV, table(tables["train"]))
    _atomic_write_text(root / TEST_LABELS_CSV, table(tables["test"]))
    _atomic_write_text(root / SUBMISSION_CSV, table([(i, 0.5) for i, _ in tables["test"]]))
    elapsed = time.perf_counter() - started
    manifest = dict(key)
    manifest.update(
        {
            "generator": "seti.data.synthetic",
            "layout": "kaggle",
            "counts": {
                "train": len(tables["train"]),
                "train_positive": sum(t for _, t in tables["train"]),
                "test": len(tables["test"]),
                "test_positive": sum(t for _, t in tables["test"]),
            },
            "last_run": {
                "generated": made,
                "skipped": skipped,
                "workers": int(workers),
                "elapsed_s": round(elapsed, 3),
                "finished_unix": round(time.time(), 3),
            },
        }
    )
    _atomic_write_text(root / MANIFEST_NAME, json.dumps(manifest, indent=2))
    (root / PARTIAL_MANIFEST_NAME).unlink(missing_ok=True)
    _remove_stale_tmp(root)
    log.info("synthetic dataset %s: %d generated, %d kept, %.1f s", root, made, skipped, elapsed)
    return root


def _run_tasks(
    root: Path, seed: int, params: SyntheticParams, tasks: list, workers: int, progress: bool
) -> tuple[int, int]:
    from tqdm.auto import tqdm

    params_dict = params.to_dict()
    if params.engine == "setigen":
        _setigen()  # import once here: forked workers inherit it, and a broken install fails early
    bar = tqdm(total=len(tasks), desc="synthetic cadences", unit="cad", disable=not progress)
    made = skipped = 0
    try:
        if workers == 1 or len(tasks) <= 1:
            for task in tasks:
                m, s = _work_chunk(str(root), seed, params_dict, [task])
                made, skipped = made + m, skipped + s
                bar.update(1)
            return made, skipped
        chunk = max(1, min(32, len(tasks) // (workers * 4) or 1))
        chunks = [tasks[i : i + chunk] for i in range(0, len(tasks), chunk)]
        pool = _mp_context().Pool(workers, initializer=_worker_dies_with_parent, initargs=(os.getpid(),))
        try:
            args = [(str(root), seed, params_dict, c) for c in chunks]
            for m, s, n_tasks in pool.imap_unordered(_work_chunk_counted, args):
                made, skipped = made + m, skipped + s
                bar.update(n_tasks)
            pool.close()
        finally:
            # An error, Ctrl-C or SIGTERM (turned into an exception by the caller) must not leave workers
            # generating behind us: stop them now instead of waiting for their queue to drain.
            pool.terminate()
            pool.join()
        return made, skipped
    finally:
        bar.close()


def _work_chunk_counted(args: tuple) -> tuple[int, int, int]:
    made, skipped = _work_chunk(*args)
    return made, skipped, len(args[-1])


def _worker_dies_with_parent(parent_pid: int) -> None:
    """Pool initializer: a worker must not outlive the process that started it (even one killed with -9).

    Linux: the kernel sends SIGKILL to this worker when its parent dies (prctl PR_SET_PDEATHSIG), and a
    parent that died before this ran is caught by the ppid check. A half-written cadence is only a hidden
    temp file, removed by the next run. SIGTERM/SIGINT get their default action here: the parent, not the
    worker, decides how to shut down.
    """
    import signal
    import sys

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent terminates us
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:
        os._exit(1)


def _mp_context():
    """fork when this process runs a single Python thread (workers inherit the imports: setigen alone takes
    ~5 s to import), else spawn, because forking a process whose other threads may hold locks (a logger, a
    DataLoader, W&B) can deadlock the child. Output is the same either way."""
    import multiprocessing
    import threading

    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _remove_stale_tmp(root: Path) -> None:
    """Remove temp files an interrupted run left (ours only: '.<name>.tmp-<pid>-<hex>')."""
    for sub in (root, root / "train", root / "test"):
        if not sub.is_dir():
            continue
        for path in [*sub.glob(".*.tmp-*"), *sub.glob("*/.*.tmp-*")]:
            path.unlink(missing_ok=True)


def ensure_dataset(
    root: str | Path,
    n: int,
    test_n: int = 0,
    positive_rate: float = 0.2,
    seed: int = 0,
    params: SyntheticParams | None = None,
    *,
    workers: int = 1,
    progress: bool = True,
) -> Path:
    """Return ``root`` holding the requested synthetic dataset, generating it once if needed.

    A finished dataset with the same arguments is reused at once; one with other arguments is refused
    with a clear error (pick another data.root or delete it). Generation runs under a file lock
    (``root/.synthetic.lock``) with a re-check after acquiring it, so parallel sweep jobs that ask for
    the same data wait for one writer instead of racing.
    """
    from filelock import FileLock

    params = params or SyntheticParams()
    _check_args(n, test_n, positive_rate, seed, workers)
    root = Path(root)
    key = _manifest_key(n, test_n, positive_rate, seed, params)

    def finished() -> bool:
        found = _read_json(root / MANIFEST_NAME)
        if found is None:
            return False
        if {k: found.get(k) for k in key} != key:
            raise _mismatch_error(root, found, key, "a complete")
        return True

    if finished():
        log.info("synthetic dataset %s is complete (n=%d, test_n=%d, seed=%d): reusing it", root, n, test_n, seed)
        return root
    root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(root / LOCK_NAME))
    log.info("waiting for lock %s", root / LOCK_NAME)
    with lock:
        if finished():
            log.info("synthetic dataset %s was completed by another process: reusing it", root)
            return root
        log.info(
            "generating synthetic dataset in %s: n=%d, test_n=%d, positive_rate=%g, seed=%d, workers=%d",
            root,
            n,
            test_n,
            positive_rate,
            seed,
            workers,
        )
        return write_dataset(root, n, test_n, positive_rate, seed, workers, params, progress)


__all__ = [
    "DF_HZ",
    "DT_S",
    "FCH1_HZ",
    "MANIFEST_NAME",
    "NeedleSpec",
    "SYNTHETIC_VERSION",
    "SyntheticParams",
    "TEST_LABELS_CSV",
    "ensure_dataset",
    "generate_cadence",
    "inject_needle",
    "make_frame",
    "render_numpy",
    "render_setigen",
    "sample_needle",
    "sample_on_panels",
    "sigma_clipped_std",
    "synthetic_id",
    "write_dataset",
]
