"""Every figure the project draws: cadence grids, augmented views, the run's ROC and sample inputs, the
sweep report's plots. Built on ``matplotlib.figure.Figure`` with its own Agg canvas (no pyplot state,
no ``matplotlib.use``) and saved atomically through :mod:`seti.atomic`.
"""

from seti.figures.cadences import plot_augmented_views, plot_cadences
from seti.figures.canvas import new_figure, save, to_rgb
from seti.figures.roc import draw_roc, roc_figure, validation_roc
from seti.figures.samples import sample_images

__all__ = [
    "plot_cadences",
    "plot_augmented_views",
    "roc_figure",
    "validation_roc",
    "draw_roc",
    "sample_images",
    "new_figure",
    "save",
    "to_rgb",
]
