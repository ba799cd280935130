"""Needles: one description (:class:`NeedleSpec`), its sampling, and two renderers on the same frame.

setigen's ``Frame.add_signal`` (:func:`render_setigen`) is the reference; :func:`render_numpy` is a vectorised
mirror of the same path and profile functions, pixel-identical and fast enough for on-the-fly injection.
The frame geometry (channel width, row time, axes) is setigen's, so both draw the same pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from seti.data.layout import CADENCE_SHAPE, ON_PANELS
from seti.data.synthetic.params import SyntheticParams

N_PANELS, TCHANS, FCHANS = CADENCE_SHAPE
DF_HZ = 2.7939677238464355  # Breakthrough Listen high-resolution channel width
DT_S = 300.0 / TCHANS  # one panel = 5 minutes of 273 rows
PANEL_S = TCHANS * DT_S
FCH1_HZ = 6.0e9  # frame's lowest frequency (ascending): the absolute value only sets the path's origin
_GAUSS_FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))
# setigen's own time axis: Frame._update_ts
_TS = np.linspace(0.0, TCHANS * DT_S, TCHANS, endpoint=False)
_FS = np.linspace(FCH1_HZ, FCH1_HZ + FCHANS * DF_HZ, FCHANS, endpoint=False)  # Frame._update_fs, ascending


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
    noise estimate, ~10 ms), which is what makes needle injection
    (:func:`seti.data.augment.needles.draw_needle`) fast enough for on-the-fly augmentation.
    ``tests/test_synthetic.py`` checks it matches setigen's output pixel for pixel.
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
    engine scales SNR as setigen would, without building a Frame. ``stride`` > 1 estimates from every
    stride-th pixel (3 -> ~3x faster, within ~0.2%). The generator's own, in float64: its rounding is part
    of "same seed, same bytes". Augmentation estimates batches in torch
    (:func:`seti.data.augment.needles.sigma_clipped_std`, held to this one by tests/test_device_transforms.py).
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


def _draw_needle(raw: np.ndarray, spec: NeedleSpec, panels: Sequence[int], engine: str) -> None:
    """Add ``spec`` to ``raw`` (6, 273, 256) float32 in ``panels``.

    The intensity is setigen's ``get_intensity(snr)`` = snr * noise std / sqrt(273), with the noise std
    estimated (sigma-clipped, like a setigen Frame) on the first listed panel's background.
    """
    panels = list(panels)
    noise_std = sigma_clipped_std(raw[panels[0]])
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
