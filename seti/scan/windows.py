"""Windows the model understands: how an observation's channels and integrations map to a checkpoint's
training geometry, and the six-panel cadences cut from a block.

Every model here was trained on Kaggle-format cadences: 6 panels x 273 rows x 256 fine channels of
2.79 Hz, each panel ~5 minutes (seti.data.synthetic.needles draws the synthetic ones at the same
resolution). A window is therefore 256 stored channels wide; each panel's integrations (16 x 18.25 s in a
GBT high-resolution product) are resampled to 273 rows over the same span (area averaging or linear
interpolation, :func:`seti.resample.resize`), and each panel is z-scored, as Kaggle's were. The
result goes through the member's own ``Preprocessor``, exactly as in training and predict.py. A file whose
channel width or panel length is too far from the training data's is refused with the reason: a drift in
channels per row would mean something else to the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from seti.data.layout import CADENCE_SHAPE
from seti.data.synthetic.needles import DF_HZ, PANEL_S
from seti.resample import resize
from seti.scan.observation import Header, ScanError

#: data.source values of checkpoints trained on Kaggle-format cadences (the geometry above)
KAGGLE_FORMAT_SOURCES = ("kaggle", "synthetic")
ROWS, WIDTH = CADENCE_SHAPE[1], CADENCE_SHAPE[2]


@dataclass(frozen=True)
class Geometry:
    """How one cadence's files map to the training data's windows."""

    width: int  # stored channels per window
    stride: int  # stored channels between window starts
    obs_df_hz: float
    obs_panel_s: tuple[float, ...]
    obs_ints: tuple[int, ...]
    trained_df_hz: float = DF_HZ
    trained_panel_s: float = PANEL_S
    rows: int = ROWS

    def describe(self) -> dict:
        """The mapping, stated for summary.json/md."""
        ints = sorted(set(self.obs_ints))
        return {
            "window_channels": self.width,
            "stride_channels": self.stride,
            "channel_width_hz": self.obs_df_hz,
            "trained_channel_width_hz": self.trained_df_hz,
            "channel_ratio": self.obs_df_hz / self.trained_df_hz,
            "window_hz": self.width * self.obs_df_hz,
            "panel_integrations": list(self.obs_ints),
            "panel_seconds": list(self.obs_panel_s),
            "trained_panel_seconds": self.trained_panel_s,
            "rows": self.rows,
            "mapping": (
                f"{self.width} stored channels of {self.obs_df_hz:.4f} Hz per window, unchanged (trained on "
                f"{WIDTH} x {self.trained_df_hz:.4f} Hz); each panel's {'/'.join(map(str, ints))} integration(s) "
                f"({min(self.obs_panel_s):.1f}-{max(self.obs_panel_s):.1f} s) resampled to {self.rows} rows "
                f"({'linear interpolation' if max(ints) < self.rows else 'area averaging'}; trained: {self.rows} rows "
                f"over {self.trained_panel_s:.0f} s); each panel z-scored (mean 0, std 1) as Kaggle's were, then "
                "each member's own Preprocessor"
            ),
        }


def check_checkpoint_geometry(name: str, config: dict) -> None:
    """A member must have been trained on Kaggle-format cadences; anything else has an unknown geometry."""
    source = (config.get("data") or {}).get("source")
    if source not in KAGGLE_FORMAT_SOURCES:
        raise ScanError(
            f"checkpoint {name}: trained on data.source={source!r}, whose channel width and integration time are "
            f"unknown, so its windows cannot be mapped to an observation; the scan takes models trained on "
            f"Kaggle-format cadences (data.source in {list(KAGGLE_FORMAT_SOURCES)})"
        )


def map_geometry(
    headers: Sequence[Header],
    configs: Sequence[tuple[str, dict]],
    stride: int | None,
    channel_tolerance: float,
    time_tolerance: float,
) -> Geometry:
    """The window geometry for this cadence and these members, or a ScanError saying why it cannot be mapped."""
    for name, config in configs:
        check_checkpoint_geometry(name, config)
    first = headers[0]
    df_hz = abs(first.foff) * 1e6
    ratio = df_hz / DF_HZ
    if not (1 / (1 + channel_tolerance) <= ratio <= 1 + channel_tolerance):
        raise ScanError(
            f"{first.path}: channels of {df_hz:.4g} Hz cannot be mapped to the models' {DF_HZ:.4f} Hz (ratio "
            f"{ratio:.3g}, geometry.channel_tolerance={channel_tolerance}): a window would cover {ratio:.3g}x the "
            "bandwidth the model learned drifts on. Scan a high-frequency-resolution product (e.g. *.0000.h5)"
        )
    for h in headers:
        ratio_t = h.panel_s / PANEL_S
        if not (1 / (1 + time_tolerance) <= ratio_t <= 1 + time_tolerance):
            raise ScanError(
                f"{h.path}: a panel of {h.panel_s:.1f} s ({h.n_ints} x {h.tsamp:.3f} s) cannot be mapped to the "
                f"models' {PANEL_S:.0f} s panels (geometry.time_tolerance={time_tolerance}): drift per row would "
                "change by that factor. Scan ~5-minute cadence files (a short file may be truncated), or raise "
                "geometry.time_tolerance"
            )
    stride = WIDTH // 2 if stride is None else int(stride)
    if not 1 <= stride <= WIDTH:
        raise ScanError(f"stride must be in 1..{WIDTH} fine channels (a window is {WIDTH}), got {stride}")
    return Geometry(
        width=WIDTH,
        stride=stride,
        obs_df_hz=df_hz,
        obs_panel_s=tuple(h.panel_s for h in headers),
        obs_ints=tuple(h.n_ints for h in headers),
    )


def window_starts(start: int, stop: int, width: int, stride: int) -> np.ndarray:
    """Stored channels where windows start, covering [start, stop): every ``stride``, plus one flush with
    the end when the stride does not land there."""
    if stop - start < width:
        raise ScanError(
            f"the frequency range holds {stop - start} channel(s), fewer than one window ({width}); widen "
            "scan.f_start/scan.f_stop"
        )
    starts = np.arange(start, stop - width + 1, stride, dtype=np.int64)
    if starts[-1] != stop - width:
        starts = np.append(starts, stop - width)
    return starts


def cut_windows(panels: Sequence[np.ndarray], offsets: np.ndarray, width: int = WIDTH) -> torch.Tensor:
    """Six panel blocks (n_ints_p, channels) and window offsets into them -> (N, 6, 273, width) float32
    cadences: each panel resampled to 273 rows and z-scored."""
    offsets = np.asarray(offsets, dtype=np.int64)
    out = torch.empty((len(offsets), len(panels), ROWS, width), dtype=torch.float32)
    for p, block in enumerate(panels):
        # fancy indexing of the sliding view copies only the chosen windows (torch's index_select on an
        # unfolded view would first copy every position: ~1 GB for a 65,536-channel block)
        chosen = np.lib.stride_tricks.sliding_window_view(block, width, axis=1)[:, offsets]  # (T, N, width)
        w = torch.from_numpy(np.ascontiguousarray(chosen.transpose(1, 0, 2)))  # (N, T, width) float32
        w = (w - w.mean(dim=(1, 2), keepdim=True)) / (w.std(dim=(1, 2), keepdim=True) + 1e-30)
        w = resize(w, ROWS, width) if w.shape[1] != ROWS else w
        # interpolation lowers the spread (~0.8 at 16 -> 273 rows): z-score again, with statistics from every
        # third row and channel (9x cheaper; what the resampled panel's mean and std are to well under 1%)
        sample = w[:, ::3, ::3]
        out[:, p] = (w - sample.mean(dim=(1, 2), keepdim=True)) / (sample.std(dim=(1, 2), keepdim=True) + 1e-6)
    return out
