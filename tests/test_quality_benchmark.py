"""The realistic benchmark: make_benchmark.py (held out, real + generated backgrounds) and its scoring."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import CONF, offline_env, run_script

from seti.bench.quality import (
    BENCHMARK_PARAMS,
    PREDICTIONS_CSV,
    REPORT_MD,
    RESERVED_SEEDS,
    SUMMARY_JSON,
    SYSTEMS,
    BenchmarkError,
    check_seed,
    make_benchmark,
    render,
    summarise,
)
from seti.data.synthetic import BACKGROUNDS_CSV, MANIFEST_NAME


def test_reserved_seeds_are_the_ones_the_defaults_train_and_fit_on():
    synthetic = yaml.safe_load((CONF / "data" / "synthetic.yaml").read_text())
    assert synthetic["synthetic"]["seed"] in RESERVED_SEEDS
    fitted_on = yaml.safe_load((CONF / "model" / "dedoppler.yaml").read_text())["meta"]["fitted_on"]
    assert "seed 1 " in fitted_on and 1 in RESERVED_SEEDS
    for seed in RESERVED_SEEDS:
        with pytest.raises(BenchmarkError, match="not held out"):
            check_seed(seed)


def test_make_benchmark_cli_names_and_refuses_the_reserved_seeds(tmp_path: Path):
    help_text = " ".join(run_script("scripts/make_benchmark.py", ["--help"], tmp_path).stdout.split())
    assert "refused because the defaults use them: 0:" in help_text and "1: scripts/fit_dedoppler.py" in help_text
    proc = run_script(
        "scripts/make_benchmark.py",
        ["--out", str(tmp_path / "b"), "--backgrounds", str(tmp_path), "--seed", "1"],
        tmp_path,
        check=False,
        env=offline_env(tmp_path),
    )
    assert proc.returncode == 2 and "not held out" in proc.stderr and not (tmp_path / "b").exists()


def test_benchmark_mixes_real_and_generated_backgrounds_with_labelled_test_split(sample_root: Path, tmp_path: Path):
    root = make_benchmark(tmp_path / "bench", sample_root, n=10, test_n=6, progress=False)
    manifest = json.loads((root / MANIFEST_NAME).read_text())
    assert manifest["backgrounds"]["mode"] == "mix" and manifest["seed"] not in RESERVED_SEEDS
    assert manifest["params"]["all_panel_signal_fraction"] == BENCHMARK_PARAMS["all_panel_signal_fraction"]
    used = pd.read_csv(root / BACKGROUNDS_CSV, dtype=str)
    assert (used.background == "generated").sum() == 8 and len(used) == 16
    test = pd.read_csv(root / "test_labels.csv")
    assert len(test) == 6 and set(test.target) == {0, 1}


def _predictions(seeds=(0, 1, 2), n=200, gap=0.8, seed=0) -> pd.DataFrame:
    """Fake per-id predictions: the default separates the classes by ``gap`` sd, the dedoppler by less."""
    rng = np.random.default_rng(seed)
    target = (np.arange(n) % 3 == 0).astype(int)
    ids = [f"{i:015x}" for i in range(n)]
    dd = target * 0.3 + rng.normal(size=n)  # one dedoppler, the same for every seed
    frames = []
    for s in seeds:
        default = target * gap + rng.normal(size=n) * 0.5
        blend = (pd.Series(default).rank() + pd.Series(dd).rank()).to_numpy()
        frames.append(
            pd.DataFrame(
                {"seed": s, "id": ids, "target": target, "default": default, "dedoppler": dd, "blend_rank": blend}
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_summary_is_run_level_and_finds_a_large_gap_but_not_a_null_one():
    frame = _predictions(gap=1.5)
    frame["drawn_on"] = np.where(frame["id"].map(lambda i: int(i, 16)) % 2 == 0, "generated", "0000799a2b2c42d")
    big = summarise(frame)
    assert set(big["auroc_by_background"]) == {"real", "generated"}
    assert big["auroc_by_background"]["real"]["test_ids"] == 100
    first = big["run_level"][0]
    assert (first["a"], first["b"]) == ("default", "dedoppler")
    assert first["established"] and first["diff"] > 0.2 and first["n_seeds"] == 3
    assert big["auroc"]["default"]["mean"] > big["auroc"]["dedoppler"]["mean"]
    same = _predictions()
    same["default"] = same["dedoppler"]
    null = summarise(same)["run_level"][0]
    assert null["diff"] == 0 and not null["established"]
    text = render(big, {"root": "/b", "backgrounds": "data: mixed", "commit": "abc", "machine": "x", "wall_s": 1.0})
    for system in SYSTEMS:
        assert f"| {system} |" in text
    assert "| default - dedoppler |" in text and "established" in text and "| real backgrounds | 100 |" in text


@pytest.mark.slow
def test_score_benchmark_end_to_end_on_a_tiny_benchmark(sample_root: Path, tmp_path: Path):
    """make_benchmark.py then score_benchmark.py: 2 seeds, 1 epoch, tiny images (~2 min on a busy 2-core CPU)."""
    bench = tmp_path / "bench"
    run_script(
        "scripts/make_benchmark.py",
        ["--out", str(bench), "--backgrounds", str(sample_root), "--n", "20", "--test-n", "12", "--no-progress"],
        tmp_path,
    )
    out = tmp_path / "quality"
    args = ["--root", str(bench), "--out", str(out), "--seeds", "3", "4"]
    args += ["--override", "data.num_workers=0", "--override", "data.num_folds=2"]
    args += ["--default-override", "trainer.max_epochs=1", "--default-override", "data.image_size=[32,64]"]
    run_script("scripts/score_benchmark.py", args, tmp_path, timeout=900)
    predictions = pd.read_csv(out / PREDICTIONS_CSV, dtype={"id": str})
    test = pd.read_csv(bench / "test_labels.csv", dtype={"id": str})
    assert len(predictions) == 2 * len(test) and set(predictions.seed) == {3, 4}
    assert set(predictions.id) == set(test.id) and predictions[list(SYSTEMS)].notna().all().all()
    # the dedoppler trains nothing: both seeds score alike; the blend is a rank mean in [0, 1]
    by_seed = predictions.pivot(index="id", columns="seed", values="dedoppler")
    assert np.allclose(by_seed[3], by_seed[4])
    assert predictions.blend_rank.between(0, 1).all()
    summary = json.loads((out / SUMMARY_JSON).read_text())
    assert summary["seeds"] == [3, 4] and summary["run_level"][0]["n_seeds"] == 2
    assert "real backgrounds" in (out / REPORT_MD).read_text()
    # --report-only rebuilds the same predictions from the files, training nothing
    run_script("scripts/score_benchmark.py", [*args, "--report-only"], tmp_path)
    pd.testing.assert_frame_equal(pd.read_csv(out / PREDICTIONS_CSV, dtype={"id": str}), predictions)


def test_report_only_rebuilds_the_report_from_predict_outputs(sample_root: Path, tmp_path: Path):
    """The seeds' predict.py files (blend + members) are joined to the test labels and the backgrounds each
    test cadence was drawn on; a missing seed is refused, not skipped."""
    from seti.bench.quality import ScoreSettings, score_benchmark

    bench = make_benchmark(tmp_path / "bench", sample_root, n=10, test_n=12, progress=False)
    test = pd.read_csv(bench / "test_labels.csv", dtype={"id": str})
    out = tmp_path / "quality"
    (out / "predict").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for seed in (0, 1):
        default, dedoppler = test.target + rng.normal(size=len(test)), rng.normal(size=len(test))
        pd.DataFrame({"id": test.id, f"default-s{seed}": default, f"dedoppler-s{seed}": dedoppler}).to_csv(
            out / "predict" / f"seed{seed}.members.csv", index=False
        )
        pd.DataFrame({"id": test.id, "target": rng.uniform(size=len(test))}).to_csv(
            out / "predict" / f"seed{seed}.csv", index=False
        )
    result = score_benchmark(ScoreSettings(bench, out, (0, 1)), report_only=True)
    predictions = pd.read_csv(out / PREDICTIONS_CSV, dtype={"id": str})
    assert len(predictions) == 24 and predictions.drawn_on.notna().all()
    assert (predictions.drawn_on == "generated").sum() == 12  # half of the 12 test ids, for each of 2 seeds
    assert result["meta"]["report_only"] and "--report-only" in (out / REPORT_MD).read_text()
    with pytest.raises(BenchmarkError, match="seed 2 was not scored"):
        score_benchmark(ScoreSettings(bench, out, (0, 2)), report_only=True)
