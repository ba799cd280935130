"""The generator's knobs (:class:`SyntheticParams`) and their validation.

One dataclass, JSON round-trippable, so a dataset's manifest records exactly what made it and a config's
``data.synthetic.params`` overrides are checked before any cadence is drawn.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

#: needle frequency profiles setigen draws (and the numpy mirror reproduces)
PROFILES = ("gaussian", "sinc2", "box")


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
    #: mirror of the same functions, used by augmentation too; identical pixels, ~3x faster)
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
