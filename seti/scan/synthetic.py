"""Synthetic Breakthrough Listen cadences for tests and demos: six .h5 (or .fil) files, ABACAD, written
with setigen, and a truth table of what was injected where.

Headers look like a GBT high-resolution product (2.79 Hz channels, 16 integrations of 18.25 s, the target's
source name on panels 0, 2, 4 and other names OFF, start times in order with a slew between panels). The
noise is setigen's chi-square radiometer noise under a smooth bandpass. Injected, each in its own slot of
the band so they never overlap:

- ``on``: ET-like narrowband signals, drifting, in the ON panels only (what a scan must find);
- ``rfi``: the same kind of signal in all six panels (terrestrial: must not be flagged);
- ``off``: signals in the OFF panels only (must not be flagged either).

A signal's frequency follows one straight drift through the cadence's real time (slews included), so
each panel sees it where a real transmitter would be.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from seti.atomic import atomic_write_csv, atomic_write_json, temp_name
from seti.data.layout import OFF_PANELS, ON_PANELS

KINDS = ("on", "rfi", "off")
PANELS_OF = {"on": ON_PANELS, "rfi": tuple(range(6)), "off": OFF_PANELS}
TRUTH_CSV = "truth.csv"
CADENCE_NAMES = ("A1", "B", "A2", "C", "A3", "D")


@dataclass
class ObservationSpec:
    """The generator's knobs (scripts/make_observation.py exposes each)."""

    fchans: int = 2**16  # fine channels per file (a GBT coarse channel has 2**20)
    tchans: int = 16  # integrations per file
    df_hz: float = 2.7939677238464355  # channel width (GBT high-resolution product)
    dt_s: float = 18.253611008  # integration time
    fch1_mhz: float = 8421.38671875  # centre of stored channel 0 (the highest frequency: foff < 0)
    slew_s: float = 20.0  # gap between panels
    mjd: float = 59000.5  # start of the first panel
    target: str = "SYNTH-TARGET"
    n_on: int = 8
    n_rfi: int = 4
    n_off: int = 2
    snr_range: tuple[float, float] = (10.0, 60.0)  # setigen S/N, log-uniform
    drift_range_hz_s: tuple[float, float] = (0.05, 0.5)  # |drift| uniform, random sign
    width_range_hz: tuple[float, float] = (3.0, 8.0)
    x_mean: float = 1.0e9  # mean power level, like real filterbank counts
    bandpass: float = 0.3  # peak-to-peak of the smooth bandpass ripple, as a fraction of the level
    seed: int = 0

    def __post_init__(self) -> None:
        if self.fchans < 1024 or self.tchans < 2:
            raise ValueError(f"fchans must be >= 1024 and tchans >= 2, got {self.fchans}, {self.tchans}")
        slots = self.fchans // 1024
        if self.n_on + self.n_rfi + self.n_off > slots:
            raise ValueError(
                f"{self.n_on + self.n_rfi + self.n_off} signals need as many 1024-channel slots; fchans={self.fchans} "
                f"has {slots}: lower the counts or raise fchans"
            )
        if min(self.snr_range) <= 0 or self.snr_range[0] > self.snr_range[1]:
            raise ValueError(f"snr_range must be (low, high) with 0 < low <= high, got {self.snr_range}")

    @property
    def panel_s(self) -> float:
        return self.tchans * self.dt_s


def draw_signals(spec: ObservationSpec) -> pd.DataFrame:
    """The truth table: one row per signal, in its own 1024-channel slot away from the band's edges."""
    rng = np.random.default_rng(spec.seed)
    slots = rng.permutation(np.arange(1, spec.fchans // 1024 - 1))[: spec.n_on + spec.n_rfi + spec.n_off]
    kinds = ["on"] * spec.n_on + ["rfi"] * spec.n_rfi + ["off"] * spec.n_off
    rows = []
    total_s = 6 * spec.panel_s + 5 * spec.slew_s
    for kind, slot in zip(kinds, slots):
        drift = rng.uniform(*spec.drift_range_hz_s) * rng.choice([-1.0, 1.0])
        snr = float(np.exp(rng.uniform(*np.log(spec.snr_range))))
        channel = int(slot * 1024 + 512)  # the track's middle sits at the slot's centre
        f_mid_hz = spec.fch1_mhz * 1e6 - channel * spec.df_hz
        f0_hz = f_mid_hz - drift * total_s / 2
        f1_hz = f0_hz + drift * total_s
        rows.append(
            {
                "kind": kind,
                "panels": "".join(str(p) for p in PANELS_OF[kind]),
                "snr": snr,
                "drift_hz_s": drift,
                "width_hz": rng.uniform(*spec.width_range_hz),
                "f_start_mhz": f0_hz / 1e6,  # at the first panel's start
                "f_min_mhz": min(f0_hz, f1_hz) / 1e6,
                "f_max_mhz": max(f0_hz, f1_hz) / 1e6,
            }
        )
    return pd.DataFrame(rows)


def panel_start_s(spec: ObservationSpec, panel: int) -> float:
    return panel * (spec.panel_s + spec.slew_s)


def write_observation(
    out: str | Path, spec: ObservationSpec | None = None, formats: tuple[str, ...] = ("h5",)
) -> dict[str, list[Path]]:
    """Write the cadence's six files per format and truth.csv into ``out``; returns {format: six paths}."""
    spec = spec or ObservationSpec()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import setigen as stg
        from astropy import units as u
    import logging

    logging.getLogger("blimpy").setLevel(logging.WARNING)
    logging.getLogger("hdf5plugin").setLevel(logging.ERROR)  # blimpy's writer uses a deprecated Bitshuffle argument
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    truth = draw_signals(spec)
    rng = np.random.default_rng(spec.seed + 1)
    written: dict[str, list[Path]] = {fmt: [] for fmt in formats}
    channels = np.arange(spec.fchans)
    for panel in range(6):
        t0 = panel_start_s(spec, panel)
        source = spec.target if panel in ON_PANELS else f"SYNTH-OFF-{CADENCE_NAMES[panel]}"
        frame = stg.Frame(
            fchans=spec.fchans,
            tchans=spec.tchans,
            df=spec.df_hz * u.Hz,
            dt=spec.dt_s * u.s,
            fch1=spec.fch1_mhz * u.MHz,
            ascending=False,
            source_name=source,
            mjd=spec.mjd + t0 / 86400.0,
            seed=int(rng.integers(2**31)),
        )
        frame.add_noise(x_mean=spec.x_mean, noise_type="chi2")
        for signal in truth.itertuples():
            if panel not in PANELS_OF[signal.kind]:
                continue
            frame.add_signal(
                stg.constant_path(f_start=(signal.f_start_mhz * 1e6 + signal.drift_hz_s * t0) * u.Hz, drift_rate=signal.drift_hz_s * u.Hz / u.s),
                stg.constant_t_profile(level=frame.get_intensity(snr=signal.snr)),
                stg.gaussian_f_profile(width=signal.width_hz * u.Hz),
                stg.constant_bp_profile(level=1),
            )  # fmt: skip
        ripple = 1.0 + 0.5 * spec.bandpass * np.sin(2 * np.pi * channels / spec.fchans * 3 + 0.7)
        frame.data = (frame.data * ripple[None, :]).astype(np.float32)  # real products are float32
        for fmt in formats:
            path = out / f"{CADENCE_NAMES[panel]}.{fmt}"
            tmp = temp_name(path).with_suffix(f".{fmt}")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                frame.save_h5(str(tmp)) if fmt == "h5" else frame.save_fil(str(tmp))
            tmp.replace(path)
            written[fmt].append(path)
    atomic_write_csv(out / TRUTH_CSV, truth)
    atomic_write_json(
        out / "observation.json", {**asdict(spec), "files": {k: [str(p) for p in v] for k, v in written.items()}}
    )
    return written
