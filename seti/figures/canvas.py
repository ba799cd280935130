"""A figure that owns its canvas: no pyplot state, no backend switch, safe in any process.

Every figure in the project starts here. ``matplotlib.figure.Figure`` with an Agg canvas draws the same
pixels pyplot would, but registers nothing globally (nothing to close, no leak across a long sweep) and
never calls ``matplotlib.use``, so importing a figure module changes nothing for the caller.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from seti.atomic import atomic_save_figure


def new_figure(**figure: Any) -> Figure:
    """A Figure (``figsize``, ``dpi``, ...) drawn by its own Agg canvas."""
    fig = Figure(**figure)
    FigureCanvasAgg(fig)
    return fig


def to_rgb(fig: Figure) -> np.ndarray:
    """The figure's pixels as an (H, W, 3) uint8 array (for W&B images)."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def save(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write the figure atomically (format from the suffix): a reader never sees half a PNG."""
    return atomic_save_figure(path, fig, dpi=dpi)
