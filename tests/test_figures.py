"""Tests for seti.figures: files are written atomically, the W&B and report ROC agree with seti.metrics,
and no figure touches pyplot's global state."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from helpers import offline_env
from PIL import Image

from seti.figures import new_figure, plot_augmented_views, plot_cadences, roc_figure, save, validation_roc
from seti.figures.canvas import to_rgb
from seti.figures.report import roc_curves
from seti.metrics import auc_score, roc_curve_points


def _scores(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = (rng.random(n) < 0.3).astype(int)
    pred = np.round(rng.normal(size=n) + target, 1)  # rounded: ties, where AUROC implementations differ
    return target, pred


def test_figure_file_is_written_atomically(tmp_path):
    fig = new_figure(figsize=(3, 2))
    fig.subplots().plot([0, 1], [1, 0])
    out = save(fig, tmp_path / "line.png", dpi=50)
    assert out == tmp_path / "line.png"
    assert [p.name for p in tmp_path.iterdir()] == ["line.png"]  # no temp file left beside it
    with Image.open(out) as image:
        image.verify()
        assert image.format == "PNG" and image.size == (150, 100)


def test_failed_figure_save_keeps_the_old_file_and_no_temp(tmp_path):
    out = tmp_path / "kept.png"
    out.write_bytes(b"old")
    fig = new_figure()

    def broken_savefig(handle, **_):
        handle.write(b"\x89PNG half a file")
        raise RuntimeError("disk full")

    fig.savefig = broken_savefig
    with pytest.raises(RuntimeError, match="disk full"):
        save(fig, out)
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["kept.png"]


def test_cadence_figures_are_pngs_without_temp_files(tmp_path):
    rng = np.random.default_rng(1)
    cadences = [rng.normal(size=(6, 16, 32)).astype(np.float16) for _ in range(2)]
    grid = plot_cadences(cadences, ["a", "b"], tmp_path / "grid.png", dpi=40)
    views = plot_augmented_views(
        cadences[0], "a", [(rng.normal(size=(24, 32, 3)), "view 1")], tmp_path / "v.png", dpi=40
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png", "v.png"]
    for path in (grid, views):
        with Image.open(path) as image:
            image.verify()
    with pytest.raises(ValueError, match="no cadences"):
        plot_cadences([], [], tmp_path / "none.png")


def _pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


@pytest.mark.parametrize("panel", [0, 5])
def test_cadence_figure_draws_each_panel_in_its_row(tmp_path, panel):
    """Changing one panel changes the picture only in that panel's row: panel 0 (A, ON) at the top, panel 5
    (D, OFF) at the bottom. A grid that drops, reorders or mixes up panels fails here."""
    rng = np.random.default_rng(2)
    plain = rng.normal(size=(6, 64, 64)).astype(np.float16)
    marked = plain.copy()
    marked[panel] = plain[panel, :, ::-1]  # mirrored: the same values, so the same colour limits
    before = _pixels(plot_cadences([plain], ["x"], tmp_path / "plain.png", dpi=40))
    after = _pixels(plot_cadences([marked], ["x"], tmp_path / "marked.png", dpi=40))
    assert before.shape == after.shape
    rows = np.nonzero(np.abs(after - before).sum(axis=(1, 2)))[0]
    assert len(rows) > 0.05 * len(before), "the panel is not drawn"
    height = len(before)
    if panel == 0:
        assert rows.max() < 0.3 * height, (rows.min(), rows.max(), height)
    else:
        assert rows.min() > 0.7 * height, (rows.min(), rows.max(), height)


def test_wandb_roc_and_report_roc_use_the_metrics_auroc():
    target, pred = _scores()
    auc = auc_score(target, pred)
    fpr, tpr = roc_curve_points(target, pred)

    wandb_fig = validation_roc(target, pred)
    (ax,) = wandb_fig.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [f"AUROC {auc:.4f}"]
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), fpr)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), tpr)
    rgb = roc_figure(target, pred)
    assert rgb.dtype == np.uint8 and rgb.shape == (400, 400, 3)
    assert np.array_equal(rgb, to_rgb(validation_roc(target, pred)))  # W&B's image is the figure checked above
    assert not np.array_equal(rgb, roc_figure(target, -pred))  # and it shows the curve: another one differs
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("false positive rate", "true positive rate")

    pooled = pd.DataFrame({"id": [str(i) for i in range(len(target))], "target": target, "pred": pred})
    report_fig = roc_curves([(("synthetic", "b1"), [("none", pooled, 2)])], ["none"], multi_data=False)
    ax = report_fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [f"none: {auc:.4f} (2 runs)"]
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), fpr)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), tpr)


def test_figures_leave_pyplot_and_the_backend_alone(tmp_path):
    """Importing and drawing sets no backend and never imports pyplot (no global figure registry)."""
    code = (
        "import sys, matplotlib, numpy as np\n"
        "import seti.figures, seti.report\n"
        "from seti.figures import plot_cadences, roc_figure\n"
        f"plot_cadences([np.ones((6, 8, 8), np.float16)], ['x'], {str(tmp_path / 'c.png')!r}, dpi=20)\n"
        "roc_figure(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.4, 0.3]))\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
        "assert matplotlib.get_backend().lower() == 'svg', matplotlib.get_backend()\n"
    )
    env = offline_env(tmp_path, MPLBACKEND="svg")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
