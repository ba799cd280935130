"""A hit's waterfall: its six panels at the file's own resolution, ON/OFF labelled, frequency in MHz."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from seti.data.layout import ON_PANELS, PANEL_NAMES
from seti.figures.canvas import new_figure, save


def plot_hit(
    panels: Sequence[np.ndarray],
    f_lo_mhz: float,
    f_hi_mhz: float,
    descending: bool,
    title: str,
    sources: Sequence[str],
    out: str | Path,
    dpi: int = 100,
) -> Path:
    """Six (n_ints, channels) panels in observation order, one colour scale, frequency axis in MHz
    (``descending``: stored channel 0 is the highest frequency, as in most GBT files)."""
    fig = new_figure(figsize=(6.0, 8.0))
    axes = fig.subplots(6, 1, sharex=True)
    shown = [np.asarray(p, dtype=np.float64) for p in panels]
    shown = [(p - np.median(p)) / (np.std(p) + 1e-12) for p in shown]
    low, high = np.percentile(np.concatenate([p.ravel() for p in shown]), [1, 99.7])
    extent = (f_hi_mhz, f_lo_mhz) if descending else (f_lo_mhz, f_hi_mhz)
    for i, (ax, panel) in enumerate(zip(axes, shown)):
        ax.imshow(
            panel,
            aspect="auto",
            cmap="viridis",
            vmin=low,
            vmax=high if high > low else low + 1,
            interpolation="nearest",
            extent=(*extent, panel.shape[0], 0),
        )
        on = i in ON_PANELS
        ax.set_ylabel(f"{PANEL_NAMES[i]}\n{sources[i]}"[:40], fontsize=7, color="crimson" if on else "black")
        ax.tick_params(labelsize=7)
        ax.set_xlim(f_lo_mhz, f_hi_mhz)
    axes[-1].set_xlabel("frequency (MHz)", fontsize=8)
    axes[-1].ticklabel_format(axis="x", useOffset=False, style="plain")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save(fig, out, dpi)
