"""The one ROC plotter: the run's W&B image and the report's panels both draw through :func:`draw_roc`.

Curve points and AUROC come from :mod:`seti.metrics`, so the number in a legend is the number in
metrics.json and the report, to the last digit (and no sklearn import).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from seti.figures.canvas import new_figure, to_rgb
from seti.metrics import auc_score, roc_curve_points


def draw_roc(ax: Axes, target, pred, label: str = "AUROC {auc:.4f}", **line: Any) -> float:
    """Plot the ROC curve of ``pred`` against 0/1 ``target`` on ``ax``; returns its AUROC.

    ``label`` is a format string; ``{auc}`` is filled with the AUROC.
    """
    fpr, tpr = roc_curve_points(target, pred)
    auc = auc_score(target, pred)
    ax.plot(fpr, tpr, label=label.format(auc=auc), **line)
    return auc


def validation_roc(target: np.ndarray, pred: np.ndarray) -> Figure:
    """A run's validation ROC, as logged to W&B."""
    fig = new_figure(figsize=(4, 4), dpi=100)
    ax = fig.subplots()
    draw_roc(ax, target, pred)
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="validation ROC")
    ax.legend(loc="lower right")
    return fig


def roc_figure(target: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """:func:`validation_roc` as an RGB array (what ``wandb.Image`` takes)."""
    return to_rgb(validation_roc(target, pred))
