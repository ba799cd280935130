"""The sweep report's figures: AUROC bars per model and aug, pooled ROC curves, val AUROC per epoch.

They take what :mod:`seti.report.analysis` computed (summary rows, per-panel predictions and curves) and
only draw; the report saves them (:func:`seti.figures.canvas.save`) and embeds them. ``all_augs`` comes
in the report's order (none, light, strong, others), which sets bar and legend order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from seti.figures.canvas import new_figure
from seti.figures.roc import draw_roc

#: (data, model) -> lines; a ROC line is (aug, pooled id/target/pred frame, runs pooled)
RocPanels = Sequence[tuple[tuple[str, str], Sequence[tuple[str, pd.DataFrame, int]]]]
#: (data, model) -> lines; a learning curve is (aug, epoch/value frame)
CurvePanels = Sequence[tuple[tuple[str, str], Sequence[tuple[str, pd.DataFrame]]]]

_AUG_COLORS = {"none": "tab:gray", "light": "tab:blue", "strong": "tab:red"}
_OTHER_COLORS = ["tab:green", "tab:purple", "tab:orange", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]


def aug_color(aug: str, all_augs: Sequence[str]) -> str:
    """The fixed colour of none/light/strong; other augs take the next free colour in ``all_augs`` order."""
    if aug in _AUG_COLORS:
        return _AUG_COLORS[aug]
    others = [a for a in all_augs if a not in _AUG_COLORS]
    return _OTHER_COLORS[others.index(aug) % len(_OTHER_COLORS)] if aug in others else "black"


def _panel_label(data: str, model: str, multi_data: bool) -> str:
    return f"{data}/{model}" if multi_data else str(model)


def _grid(n: int) -> tuple[Figure, list]:
    ncols = min(3, max(1, n))
    nrows = int(math.ceil(n / ncols))
    fig = new_figure(figsize=(4.6 * ncols, 3.8 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def auroc_bars(summary: pd.DataFrame, all_augs: Sequence[str]) -> Figure | None:
    """Mean validation AUROC (of val_predictions.csv) per (data, model), one bar per aug, std as error bar; None if empty."""
    if summary.empty:
        return None
    multi = summary["data"].nunique() > 1
    groups = list(dict.fromkeys(zip(summary["data"], summary["model"])))
    augs = [a for a in all_augs if a in set(summary["aug"])]
    width = 0.8 / len(augs)
    fig = new_figure(figsize=(max(5.0, 1.2 * len(groups) * max(1, len(augs)) * 0.6 + 2), 4.2))
    ax = fig.subplots()
    for i, aug in enumerate(augs):
        xs, ys, es = [], [], []
        for gi, (data, model) in enumerate(groups):
            hit = summary[(summary["data"] == data) & (summary["model"] == model) & (summary["aug"] == aug)]
            if hit.empty:
                continue
            xs.append(gi + (i - (len(augs) - 1) / 2) * width)
            ys.append(float(hit["mean_val_auroc"].iloc[0]))
            e = float(hit["std_val_auroc"].iloc[0])
            es.append(e if math.isfinite(e) else 0.0)
        ax.bar(xs, ys, width, yerr=es, capsize=3, label=aug, color=aug_color(aug, augs))
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([_panel_label(d, m, multi) for d, m in groups])
    lo = float((summary["mean_val_auroc"] - summary["std_val_auroc"].fillna(0)).min())
    ax.set_ylim(max(0.0, min(0.5, lo - 0.05)), 1.0)
    ax.set_ylabel("val AUROC (mean ± std)")
    ax.set_title("Validation AUROC by model and augmentation")
    ax.legend(title="aug", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def _literal(text: str) -> str:
    """``text`` kept as is by ``str.format`` (a level such as a config dict may hold braces)."""
    return str(text).replace("{", "{{").replace("}", "}}")


def roc_curves(panels: RocPanels, all_augs: Sequence[str], multi_data: bool) -> Figure | None:
    """One panel per (data, model): each aug's ROC over its pooled out-of-fold predictions."""
    if not panels:
        return None
    fig, axes = _grid(len(panels))
    for ax, ((data, model), lines) in zip(axes, panels):
        for aug, pooled, n_runs in lines:
            draw_roc(
                ax,
                pooled["target"],
                pooled["pred"],
                label=f"{_literal(aug)}: {{auc:.4f}} ({n_runs} runs)",
                color=aug_color(aug, all_augs),
                lw=1.4,
            )
        ax.plot([0, 1], [0, 1], ls=":", color="lightgray", lw=1)
        ax.set_title(f"{_panel_label(data, model, multi_data)} (pooled OOF)")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def epoch_curves(panels: CurvePanels, all_augs: Sequence[str], multi_data: bool) -> Figure | None:
    """One panel per (data, model): every run's validation AUROC per epoch, coloured by aug."""
    if not panels:
        return None
    fig, axes = _grid(len(panels))
    for ax, ((data, model), lines) in zip(axes, panels):
        for aug, curve in lines:
            ax.plot(
                curve["epoch"],
                curve["value"],
                color=aug_color(aug, all_augs),
                alpha=0.75,
                lw=1.2,
                marker="o" if len(curve) < 3 else None,
                ms=3,
            )
        present = [a for a in all_augs if a in {aug for aug, _ in lines}]
        ax.legend([Line2D([0], [0], color=aug_color(a, all_augs)) for a in present], present, fontsize=7, title="aug")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{_panel_label(data, model, multi_data)}: val AUROC per epoch")
        ax.set_xlabel("epoch")
        ax.set_ylabel("val/auroc")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
