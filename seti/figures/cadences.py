"""Pictures of cadences: six labelled panels per cadence, and a cadence beside its augmented views."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seti.data.layout import ON_PANELS, PANEL_NAMES
from seti.figures.canvas import new_figure, save


def _limits(array: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(array, [1, 99.7])
    return float(low), float(high if high > low else low + 1)


def plot_cadences(cadences: list[np.ndarray], titles: list[str], out: str | Path, dpi: int = 110) -> Path:
    """One column per cadence, six rows of panels (A ON / B OFF / ...), frequency across, time down."""
    if not cadences:
        raise ValueError("no cadences to plot")
    fig = new_figure(figsize=(3.0 * len(cadences), 7.5))
    axes = fig.subplots(6, len(cadences), squeeze=False, sharex=True)
    for column, (cadence, title) in enumerate(zip(cadences, titles)):
        cadence = cadence.astype(np.float32)
        low, high = _limits(cadence)
        for panel in range(6):
            ax = axes[panel, column]
            ax.imshow(cadence[panel], aspect="auto", cmap="viridis", vmin=low, vmax=high, interpolation="nearest")
            ax.set_yticks([])
            if column == 0:
                ax.set_ylabel(PANEL_NAMES[panel], fontsize=8, color="crimson" if panel in ON_PANELS else "black")
            if panel == 5:
                ax.set_xlabel("frequency channel", fontsize=8)
            ax.tick_params(labelsize=7)
        axes[0, column].set_title(title, fontsize=9)
    fig.suptitle("cadences: panels in observation order, ON target in red", fontsize=10)
    fig.tight_layout()
    return save(fig, out, dpi)


def plot_augmented_views(
    cadence: np.ndarray, title: str, views: list[tuple[np.ndarray, str]], out: str | Path, dpi: int = 110
) -> Path:
    """The raw cadence (six panels stacked) beside model inputs after augmentation, each with its label."""
    raw = np.concatenate(list(cadence.astype(np.float32)), axis=0)
    fig = new_figure(figsize=(2.6 * (1 + len(views)), 6.5))
    axes = fig.subplots(1, 1 + len(views), squeeze=False)[0]
    low, high = _limits(raw)
    axes[0].imshow(raw, aspect="auto", cmap="viridis", vmin=low, vmax=high, interpolation="nearest")
    axes[0].set_title(f"raw\n{title}", fontsize=8)
    rows = cadence.shape[1]
    for panel in range(1, 6):
        axes[0].axhline(panel * rows - 0.5, color="white", lw=0.6)
    for ax, (image, caption) in zip(axes[1:], views):
        shown = image[..., 0] if image.shape[-1] == 1 else np.concatenate(list(image.transpose(2, 0, 1)), axis=0)
        low, high = _limits(shown)
        ax.imshow(shown, aspect="auto", cmap="viridis", vmin=low, vmax=high, interpolation="nearest")
        ax.set_title(caption, fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return save(fig, out, dpi)
