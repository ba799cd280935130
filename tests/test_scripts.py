"""The helper programs run from the command line on the real sample."""

from __future__ import annotations

import json
import math
import subprocess

import pytest
from helpers import run_script
from PIL import Image


def run(script: str, home, *args) -> subprocess.CompletedProcess:
    return run_script(f"scripts/{script}", [str(a) for a in args], home, check=False, timeout=300)


def png_size(path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.verify()
        return image.size


def test_plot_cadences_and_augmented_views(sample_root, tmp_path):
    grid = tmp_path / "grid.png"
    proc = run("plot_cadences.py", tmp_path, "--root", sample_root, "--n", 3, "--out", grid)
    assert proc.returncode == 0, proc.stderr
    width, height = png_size(grid)
    assert width / height == pytest.approx(3 * 3.0 / 7.5, rel=0.02)  # three cadence columns (3 in each, 7.5 in tall)
    views = tmp_path / "views.png"
    proc = run(
        "plot_cadences.py",
        tmp_path,
        "--root",
        sample_root,
        "--ids",
        "0028a35de92941d",
        "--aug",
        "strong",
        "--views",
        3,
        "--out",
        views,
    )
    assert proc.returncode == 0, proc.stderr
    width, height = png_size(views)
    assert width / height == pytest.approx(4 * 2.6 / 6.5, rel=0.02)  # the raw cadence beside 3 views
    proc = run(
        "plot_cadences.py", tmp_path, "--root", sample_root, "--ids", "ffffffffffffff0", "--out", tmp_path / "x.png"
    )
    assert proc.returncode == 2 and "ffffffffffffff0" in proc.stderr


def test_data_benchmark_prints_ratios(sample_root, tmp_path):
    out = tmp_path / "bench.json"
    proc = run("benchmark.py", tmp_path, "data", "--root", sample_root, "--n", 6, "--json", out)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())["data"]
    assert results["samples"] == 6  # every labelled sample cadence was timed
    # every aug x size was measured, and each ratio is its rate over the np.load baseline of the same run
    for aug in ("none", "light", "strong"):
        for size in ("96x128", "512x512"):
            rate = results[f"dataset_{aug}_{size}_per_s"]
            assert math.isfinite(rate) and rate > 0
            assert results[f"dataset_{aug}_{size}_ratio"] == pytest.approx(rate / results["np_load_per_s"], rel=1e-9)
    assert all(math.isfinite(results[k]) for k in ("generator_cadences_per_s", "dedoppler_cadences_per_s"))
    # the hybrid's torch search, as a ratio to the numpy dedoppler of the same run
    assert results["drift_search_ratio"] == pytest.approx(
        results["drift_search_cadences_per_s"] / results["dedoppler_cadences_per_s"], rel=1e-9
    )
