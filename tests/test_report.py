"""Tests for seti.report: DeLong / bootstrap statistics, run collection and the sweep report."""

from __future__ import annotations

import json
import math
import re
from html import escape as html_escape
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import run_script
from scipy.stats import norm
from wandb_offline import read_complete_run

from seti.report import (
    ReportError,
    auc_score,
    bootstrap_aucs,
    collect_runs,
    compare_sweeps,
    delong_contrast_test,
    delong_covariance,
    delong_paired_test,
    delong_roc_variance,
    paired_bootstrap_auc_diff,
)


# ============================================================================ statistics
def _naive_structural(y, scores_list):
    """AUCs and DeLong covariance by the textbook definitions, O(m n) loops (DeLong et al. 1988)."""
    y = np.asarray(y).astype(bool)
    k = len(scores_list)
    v10s, v01s, aucs = [], [], []
    for s in scores_list:
        s = np.asarray(s, dtype=float)
        x, z = s[y], s[~y]
        m, n = len(x), len(z)
        psi = np.zeros((m, n))
        for i in range(m):
            for j in range(n):
                psi[i, j] = 1.0 if x[i] > z[j] else (0.5 if x[i] == z[j] else 0.0)
        v10s.append(psi.mean(axis=1))  # V10(X_i): placement of each positive among negatives
        v01s.append(psi.mean(axis=0))  # V01(Y_j): placement of each negative among positives
        aucs.append(psi.mean())
    m, n = len(v10s[0]), len(v01s[0])
    s10 = np.zeros((k, k))
    s01 = np.zeros((k, k))
    for a in range(k):
        for b in range(k):
            s10[a, b] = sum((v10s[a][i] - aucs[a]) * (v10s[b][i] - aucs[b]) for i in range(m)) / (m - 1)
            s01[a, b] = sum((v01s[a][j] - aucs[a]) * (v01s[b][j] - aucs[b]) for j in range(n)) / (n - 1)
    return np.array(aucs), s10 / m + s01 / n


def test_delong_hand_worked_example():
    # positives 0.9 0.8 0.4, negatives 0.7 0.4 0.2 0.1 (one tie). Worked by hand:
    # V10 = [1, 1, 5/8], V01 = [2/3, 5/6, 1, 1], AUC = 7/8,
    # S10 = 3/64, S01 = 11/432, var = S10/3 + S01/4 = 19/864.
    y = [1, 1, 1, 0, 0, 0, 0]
    s = [0.9, 0.8, 0.4, 0.7, 0.4, 0.2, 0.1]
    auc, var = delong_roc_variance(y, s)
    assert auc == pytest.approx(7 / 8, abs=1e-12)
    assert var == pytest.approx(19 / 864, abs=1e-12)


def test_delong_matches_naive_structural_components_and_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 90)
    y[:2] = [0, 1]
    a = np.round(y * 0.8 + rng.normal(size=90), 1)  # rounded: plenty of ties
    b = np.round(y * 0.5 + 0.6 * a + rng.normal(size=90), 1)  # correlated with a
    aucs, cov = delong_covariance(y, [a, b])
    naive_aucs, naive_cov = _naive_structural(y, [a, b])
    np.testing.assert_allclose(aucs, naive_aucs, atol=1e-12)
    np.testing.assert_allclose(cov, naive_cov, atol=1e-12)
    assert aucs[0] == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert auc_score(y, b) == pytest.approx(roc_auc_score(y, b), abs=1e-12)

    auc_a, auc_b, diff, p = delong_paired_test(y, a, b)
    z = (naive_aucs[0] - naive_aucs[1]) / math.sqrt(naive_cov[0, 0] + naive_cov[1, 1] - 2 * naive_cov[0, 1])
    assert diff == pytest.approx(naive_aucs[0] - naive_aucs[1], abs=1e-12)
    assert p == pytest.approx(2 * norm.sf(abs(z)), rel=1e-9)
    assert (auc_a, auc_b) == pytest.approx(tuple(naive_aucs), abs=1e-12)


def test_delong_identical_scores_and_clear_difference():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    a = y * 1.5 + rng.normal(size=400)
    assert delong_paired_test(y, a, a)[2:] == (0.0, 1.0)
    noise = rng.normal(size=400)
    assert delong_paired_test(y, a, noise)[3] < 1e-6


@pytest.mark.parametrize(
    "y, s, match",
    [
        ([0, 1, 1], [0.1, 0.2], "lengths must match"),
        ([1, 1, 1], [0.1, 0.2, 0.3], "both classes"),
        ([0, 1, 2], [0.1, 0.2, 0.3], "only 0 and 1"),
        ([0, 1, 0, 1], [0.1, np.nan, 0.3, 0.2], "NaN or infinite"),
        ([0, 1, 0, 1], [0.1, np.inf, 0.3, 0.2], "NaN or infinite"),
    ],
)
def test_stats_validate_inputs(y, s, match):
    with pytest.raises(ValueError, match=match):
        delong_roc_variance(y, s)
    with pytest.raises(ValueError, match=match):
        paired_bootstrap_auc_diff(y, s, s, n_boot=10)


def test_bootstrap_deterministic_stratified_and_consistent_with_delong():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 600)
    a = y * 1.0 + rng.normal(size=600)
    b = y * 0.6 + rng.normal(size=600)
    r1 = paired_bootstrap_auc_diff(y, a, b, n_boot=500, seed=7)
    r2 = paired_bootstrap_auc_diff(y, a, b, n_boot=500, seed=7)
    r3 = paired_bootstrap_auc_diff(y, a, b, n_boot=500, seed=8)
    assert r1 == r2
    assert r1[1:] != r3[1:]
    assert r1[0] == pytest.approx(auc_score(y, a) - auc_score(y, b), abs=1e-12)
    assert r1[1] < r1[0] < r1[2]
    # bootstrap spread of one AUC agrees with the DeLong standard error (both estimate the same thing)
    boots = bootstrap_aucs(y, [a], n_boot=2000, seed=0)[:, 0]
    _, var = delong_roc_variance(y, a)
    assert boots.std() == pytest.approx(math.sqrt(var), rel=0.15)
    assert boots.mean() == pytest.approx(auc_score(y, a), abs=0.01)


def test_bootstrap_resample_auc_is_exact():
    # mirrors the draw order of bootstrap_aucs (positives then negatives, one row per resample)
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 120)
    s = np.round(y + rng.normal(size=120), 1)
    got = bootstrap_aucs(y, [s], n_boot=4, seed=11)[:, 0]
    draw = np.random.default_rng(11)
    pos, neg = s[y == 1], s[y == 0]
    ip = draw.integers(0, len(pos), size=(4, len(pos)))
    ineg = draw.integers(0, len(neg), size=(4, len(neg)))
    for r in range(4):
        yy = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
        assert got[r] == pytest.approx(auc_score(yy, np.r_[pos[ip[r]], neg[ineg[r]]]), abs=1e-12)


# ============================================================================ fake sweep
N_PER_FOLD = 400
MU_NONE = 1.0
MU_STRONG_B1 = 1.6  # strong clearly helps b1
TRUE_DIFF_B1 = norm.cdf(MU_STRONG_B1 / math.sqrt(2)) - norm.cdf(MU_NONE / math.sqrt(2))  # binormal AUC


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _write_run(
    root: Path,
    name: str,
    *,
    model,
    aug,
    fold,
    seed=42,
    status="finished",
    error=None,
    preds: pd.DataFrame | None = None,
    write_metrics=True,
    epochs=3,
    cfg_extra=None,
    metrics_extra=None,
):
    run = root / name
    (run / ".hydra").mkdir(parents=True)
    cfg = {
        "seed": seed,
        "data": {"name": "synthetic", "fold": fold, "num_folds": 2, "image_size": [256, 256]},
        "model": {"name": f"tf_efficientnet_{model}" if model.startswith("b") else model},
        "aug": {"name": aug},
        "trainer": {"max_epochs": epochs},
    }
    for key, value in (cfg_extra or {}).items():
        cfg[key] = {**cfg.get(key, {}), **value}
    (run / ".hydra" / "config.yaml").write_text(json.dumps(cfg))  # JSON is valid YAML
    (run / ".hydra" / "overrides.yaml").write_text(
        json.dumps([f"model={model}", f"aug={aug}", f"data.fold={fold}", f"seed={seed}"])
    )
    best = math.nan
    if preds is not None:
        preds.to_csv(run / "val_predictions.csv", index=False)
        best = auc_score(preds["target"], preds["pred"])
        curve = np.linspace(best - 0.1, best, epochs)
        rows = []
        for e, v in enumerate(curve):
            rows.append({"epoch": e, "step": 10 * e + 5, "train/loss": 0.5, "val/auroc": np.nan, "val/loss": np.nan})
            rows.append({"epoch": e, "step": 10 * e + 9, "train/loss": np.nan, "val/auroc": v, "val/loss": 0.4})
        (run / "csv").mkdir()
        pd.DataFrame(rows).to_csv(run / "csv" / "metrics.csv", index=False)
    if write_metrics:
        metrics = {
            "status": status,
            "error": error,
            "model": model,
            "aug": aug,
            "fold": fold,
            "num_folds": 2,
            "seed": seed,
            "experiment": None,
            "data": "synthetic",
            "best_val_auroc": best,
            "last_val_auroc": best,
            "epochs": epochs,
            "wall_time_s": 12.5,
            "train_samples_per_s": 100.0,
            "peak_memory_mb": 512.0,
            "run_dir": str(run),
            "overrides": [f"model={model}", f"aug={aug}"],
            **(metrics_extra or {}),
        }
        (run / "metrics.json").write_text(json.dumps(metrics))
    return best


@pytest.fixture(scope="module")
def fake_sweep(tmp_path_factory):
    """2 models (b1, b3) x 2 augs (none, strong) x 2 folds, a dedoppler reference, a failed and a missing run.

    Scores are binormal: score = mu * target + shared + own noise (shared per id, so runs on the
    same ids are correlated as in real life). strong raises mu for b1; for b3 it changes nothing.
    """
    root = tmp_path_factory.mktemp("sweep")
    rng = np.random.default_rng(2024)
    ids = [f"{i:015x}" for i in range(2 * N_PER_FOLD)]
    target = (rng.random(2 * N_PER_FOLD) < 0.3).astype(int)
    shared = rng.normal(scale=math.sqrt(0.5), size=2 * N_PER_FOLD)
    best = {}
    for model in ("b1", "b3"):
        for aug in ("none", "strong"):
            mu = MU_STRONG_B1 if (model, aug) == ("b1", "strong") else MU_NONE
            for fold in (0, 1):
                sl = slice(fold * N_PER_FOLD, (fold + 1) * N_PER_FOLD)
                own = rng.normal(scale=math.sqrt(0.5), size=N_PER_FOLD)
                pred = _sigmoid(mu * target[sl] + shared[sl] + own)
                df = pd.DataFrame({"id": ids[sl], "target": target[sl], "pred": pred})
                best[(model, aug, fold)] = _write_run(
                    root, f"model={model},aug={aug},data.fold={fold}", model=model, aug=aug, fold=fold, preds=df
                )
    for fold in (0, 1):
        sl = slice(fold * N_PER_FOLD, (fold + 1) * N_PER_FOLD)
        df = pd.DataFrame({"id": ids[sl], "target": target[sl], "pred": _sigmoid(0.5 * target[sl] + shared[sl])})
        best[("dedoppler", "none", fold)] = _write_run(
            root, f"model=dedoppler,data.fold={fold}", model="dedoppler", aug="none", fold=fold, preds=df, epochs=1
        )
    _write_run(
        root,
        "model=b1,aug=light,data.fold=0",
        model="b1",
        aug="light",
        fold=0,
        status="failed",
        error="RuntimeError: CUDA out of memory",
    )
    _write_run(root, "nested/model=b3,aug=light,data.fold=1", model="b3", aug="light", fold=1, write_metrics=False)
    (root / "nested" / "model=b3,aug=light,data.fold=1" / "train.log").write_text(
        "epoch 0\nTraceback (most recent call last):\nValueError: bad cadence file 0000799a2b2c42d.npy\n"
    )
    rep = compare_sweeps(root, n_boot=400, seed=0)
    return root, rep, best


def test_collect_runs_lists_every_run(fake_sweep):
    root, _, _ = fake_sweep
    runs = collect_runs(root)
    assert len(runs) == 12
    assert (runs["status"] == "finished").sum() == 10
    missing = runs[runs["status"] == "missing"].iloc[0]
    assert (missing["model"], missing["aug"], missing["fold"], missing["seed"]) == ("b3", "light", 1, 42)
    assert "no metrics.json" in missing["error"] and "bad cadence file" in missing["error"]
    failed = runs[runs["status"] == "failed"].iloc[0]
    assert failed["error"] == "RuntimeError: CUDA out of memory"
    assert runs["duplicate_of"].isna().all()


def test_report_files_and_table(fake_sweep):
    root, rep, best = fake_sweep
    out = root / "report"
    assert rep.out_dir == out
    for name in (
        "results.csv",
        "summary.csv",
        "comparisons.csv",
        "report.md",
        "report.html",
        "auroc_bars.png",
        "roc_curves.png",
        "val_auroc_epochs.png",
    ):
        assert (out / name).is_file(), name
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 12 and set(results["status"]) == {"finished", "failed", "missing"}

    summary = pd.read_csv(out / "summary.csv")
    assert list(zip(summary["model"], summary["aug"])) == [
        ("b1", "none"),
        ("b1", "strong"),
        ("b3", "none"),
        ("b3", "strong"),
        ("dedoppler", "none"),
    ]
    for _, r in summary.iterrows():
        vals = [best[(r["model"], r["aug"], f)] for f in (0, 1)]
        assert r["mean_val_auroc"] == pytest.approx(np.mean(vals), abs=1e-9)
        assert r["std_val_auroc"] == pytest.approx(np.std(vals, ddof=1), abs=1e-9)
        assert r["n"] == 2
    md = (out / "report.md").read_text()
    v = [best[("b1", "strong", f)] for f in (0, 1)]
    assert f"{np.mean(v):.4f} ± {np.std(v, ddof=1):.4f} (n=2)" in md
    assert "dedoppler (reference)" in md
    # settings section from the configs
    settings = md.split("## Data and settings")[1]
    assert "synthetic" in settings and "256x256" in settings and "| 1, 3 |" in settings  # max epochs
    assert "<0.001" in md  # b1's DeLong p (id level)


def test_verdicts_and_confidence_intervals(fake_sweep):
    _, rep, _ = fake_sweep
    comps = rep.comparisons.set_index("model")
    assert list(rep.comparisons["model"]) == ["b1", "b3"]  # dedoppler has no augs to compare
    b1, b3 = comps.loc["b1"], comps.loc["b3"]
    # one training seed: the id level sees the effect, the run level cannot call it (seed spread unknown)
    assert b1["id_effect"] == "helps" and b1["effect"] == "not established"
    assert b1["verdict"].startswith("strong vs none on b1: not established, one training seed")
    assert "Conditional on these trained models: +0." in b1["verdict"]
    assert b1["pooled_ci_lo"] <= TRUE_DIFF_B1 <= b1["pooled_ci_hi"]
    assert b1["pooled_p"] < 0.01
    assert b3["id_effect"] == "no detectable effect" and b3["effect"] == "not established"
    assert b3["pooled_ci_lo"] <= 0.0 <= b3["pooled_ci_hi"] and b3["pooled_p"] > 0.05
    from sklearn.metrics import roc_auc_score

    root = rep.out_dir.parent
    for model, c in (("b1", b1), ("b3", b3)):
        assert c["n_ids"] == 2 * N_PER_FOLD and c["n_pairs"] == 2 and c["n_fold_pairs"] == 2
        # recomputed from the run files with sklearn: pooled over folds, and per fold (unpooled)
        frames = {
            (aug, f): pd.read_csv(root / f"model={model},aug={aug},data.fold={f}" / "val_predictions.csv")
            for aug in ("none", "strong")
            for f in (0, 1)
        }
        pooled = {aug: pd.concat([frames[aug, 0], frames[aug, 1]]) for aug in ("none", "strong")}
        auc = {aug: roc_auc_score(d["target"], d["pred"]) for aug, d in pooled.items()}
        assert c["pooled_diff"] == pytest.approx(auc["strong"] - auc["none"], abs=1e-12)
        per_fold = [
            roc_auc_score(frames["strong", f]["target"], frames["strong", f]["pred"])
            - roc_auc_score(frames["none", f]["target"], frames["none", f]["pred"])
            for f in (0, 1)
        ]
        assert c["id_diff"] == pytest.approx(np.mean(per_fold), abs=1e-12)
        assert c["run_diff"] == pytest.approx(np.mean(per_fold), abs=1e-12)  # one seed: its fold mean
        assert c["id_ci_lo"] < c["id_diff"] < c["id_ci_hi"]
    assert b1["id_ci_lo"] <= TRUE_DIFF_B1 <= b1["id_ci_hi"]
    assert "strong vs none on b1: not established" in (rep.out_dir / "report.md").read_text()


def test_failed_and_missing_runs_are_listed(fake_sweep):
    root, rep, _ = fake_sweep
    for text in ((root / "report" / "report.md").read_text(), (root / "report" / "report.html").read_text()):
        assert "CUDA out of memory" in text
        assert "model=b3,aug=light,data.fold=1" in text
        assert "no metrics.json" in text


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs, self.hrefs, self.tags = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            if k == "src":
                self.srcs.append(v)
            if k == "href":
                self.hrefs.append(v)


def test_html_is_self_contained(fake_sweep):
    root, _, _ = fake_sweep
    text = (root / "report" / "report.html").read_text()
    assert "data:image/png;base64," in text
    assert 'src="http' not in text and "<link" not in text and "<script" not in text
    p = _Collector()
    p.feed(text)
    p.close()
    assert len(p.srcs) == 3 and all(s.startswith("data:image/png;base64,") for s in p.srcs)
    assert not [h for h in p.hrefs if not h.startswith("#")]
    assert "table" in p.tags and "img" in p.tags


def test_multi_seed_and_duplicates(tmp_path):
    """Two seeds pool into one contrast; a re-run (duplicate) is used once and listed."""
    rng, ids, y = _two_seed_sweep(tmp_path, n=300, model="b0", light_mu=1.0, rng_seed=9, prefix="m=b0,")
    df = pd.DataFrame({"id": ids[:150], "target": y[:150], "pred": rng.random(150)})
    _write_run(tmp_path / "rerun", "again", model="b0", aug="none", fold=0, seed=1, preds=df)
    rep = compare_sweeps([tmp_path], n_boot=200)
    assert rep.runs["duplicate_of"].notna().sum() == 1
    c = rep.comparisons.iloc[0]
    assert c["seeds"] == "1,2" and c["n_pairs"] == 4 and c["n_ids"] == 300
    assert c["pooled_ci_lo"] <= c["pooled_diff"] <= c["pooled_ci_hi"]
    assert "duplicate" in rep.markdown_path.read_text()


def test_seeds_with_different_validation_ids(tmp_path):
    """The fold split follows the seed: fold 0 of seed 1 and seed 2 hold different (overlapping) ids."""
    rng = np.random.default_rng(4)
    ids = np.array([f"{i:015x}" for i in range(400)])
    y = (rng.random(400) < 0.4).astype(int)
    for seed, sl in ((1, slice(0, 200)), (2, slice(100, 300))):
        for aug, mu in (("none", 0.8), ("strong", 2.0)):
            df = pd.DataFrame({"id": ids[sl], "target": y[sl], "pred": _sigmoid(mu * y[sl] + rng.normal(size=200))})
            _write_run(tmp_path, f"a={aug},s={seed}", model="b2", aug=aug, fold=0, seed=seed, preds=df)
    rep = compare_sweeps(tmp_path, n_boot=300)
    c = rep.comparisons.iloc[0]
    assert c["n_ids"] == 300 and c["seeds"] == "1,2"
    assert "different ids" in c["note"]
    per_seed = []
    for seed in (1, 2):
        a = pd.read_csv(tmp_path / f"a=strong,s={seed}" / "val_predictions.csv")
        b = pd.read_csv(tmp_path / f"a=none,s={seed}" / "val_predictions.csv")
        per_seed.append(auc_score(a["target"], a["pred"]) - auc_score(b["target"], b["pred"]))
    assert c["pooled_diff"] == pytest.approx(np.mean(per_seed), abs=1e-12)
    assert c["id_effect"] == "helps" and c["pooled_ci_lo"] > 0


def test_masked_delong_and_bootstrap_agree():
    rng = np.random.default_rng(2)
    n = 800
    y = rng.integers(0, 2, n)
    a, b = y + rng.normal(size=n), 0.7 * y + rng.normal(size=n)
    scores = [a, b, a + 0.3 * rng.normal(size=n), b + 0.3 * rng.normal(size=n)]
    c = [0.5, -0.5, 0.5, -0.5]
    # dropping the same id everywhere through the mask == DeLong on the subset
    mask = np.ones((4, n), dtype=bool)
    mask[:, 5] = False
    keep = mask[0]
    _, est, p = delong_contrast_test(y, scores, c, mask=mask)
    _, est2, p2 = delong_contrast_test(y[keep], [s[keep] for s in scores], c)
    assert (est, p) == pytest.approx((est2, p2), rel=1e-10)
    # partially overlapping id sets: DeLong SE and bootstrap SD estimate the same spread
    mask = np.ones((4, n), dtype=bool)
    mask[[0, 1], n // 2 :] = False
    mask[[2, 3], : n // 4] = False
    _, est, p = delong_contrast_test(y, scores, c, mask=mask)
    se = abs(est) / norm.isf(p / 2)
    boots = bootstrap_aucs(y, scores, n_boot=2000, seed=0, mask=mask) @ np.array(c)
    assert boots.std() == pytest.approx(se, rel=0.15)


def test_wandb_logging_with_real_offline_client(fake_sweep, tmp_path, monkeypatch):
    """The real W&B client, offline: the report's tables and plots land in the run file."""
    root, _, _ = fake_sweep
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "r"
    compare_sweeps(root, out_dir=out, n_boot=50, log_to_wandb=True)
    logged = read_complete_run(out)  # waits for the exit record: finish() may return before the file is whole
    keys = set().union(*logged.history)  # media are stored as <key>/_type, <key>/path, ...
    assert keys >= {
        "report/auroc_table/_type",
        "report/comparisons/_type",
        "report/auroc_bars/_type",
        "report/roc_curves/_type",
    }
    assert {row["report/auroc_bars/_type"] for row in logged.history if "report/auroc_bars/_type" in row} == {
        "image-file"
    }
    assert logged.exit_code == 0


def test_no_runs_and_missing_dir_errors(tmp_path):
    with pytest.raises(ReportError, match="no runs found"):
        compare_sweeps(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        compare_sweeps(tmp_path / "nope")


def _cli(home: Path, *args):
    """``python scripts/compare.py ARGS``: the CLI's argument parsing and exit codes are the subject."""
    return run_script("scripts/compare.py", [str(a) for a in args], home, check=False, timeout=180)


def test_cli(fake_sweep, tmp_path):
    root, _, _ = fake_sweep
    r = _cli(tmp_path, root, "--out", tmp_path / "cli", "--n-boot", "100", "--seed", "1")
    assert r.returncode == 0, r.stderr
    assert "strong vs none on b1: not established, one training seed" in r.stdout
    assert "strong vs none on b3: not established" in r.stdout
    assert str(tmp_path / "cli" / "report.html") in r.stdout
    assert (tmp_path / "cli" / "report.md").is_file()

    r = _cli(tmp_path, tmp_path / "does-not-exist")
    assert r.returncode == 2 and "does not exist" in r.stderr

    (tmp_path / "empty").mkdir()
    r = _cli(tmp_path, tmp_path / "empty")
    assert r.returncode == 2 and "no runs found" in r.stderr


# ============================================================================ seeds, unpooled statistic, disclosures
def test_unpooled_contrast_matches_per_fold_delong_by_hand():
    """On disjoint folds the per-fold mean difference is the mean of each fold's paired AUROC difference, and
    its variance is the sum of the folds' textbook DeLong variances over K^2 (folds are independent)."""
    from seti.report.seeds import unpooled_contrast

    rng = np.random.default_rng(11)
    pairs, diffs, variances = {}, [], []
    for fold in range(3):
        y = (rng.random(120) < 0.35).astype(int)
        shared = rng.normal(size=120)
        a = 1.2 * y + shared + 0.7 * rng.normal(size=120) + fold  # each fold on its own score scale
        b = 0.8 * y + shared + 0.7 * rng.normal(size=120) - fold
        pairs[(1, fold)] = pd.DataFrame(
            {"id": [f"{fold}-{i}" for i in range(120)], "target": y, "pred_a": a, "pred_b": b}
        )
        aucs, cov = _naive_structural(y, [a, b])
        diffs.append(aucs[0] - aucs[1])
        variances.append(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    got = unpooled_contrast(pairs, n_boot=2000, seed=0)
    assert got["diff"] == pytest.approx(np.mean(diffs), abs=1e-12)
    se = math.sqrt(sum(variances)) / 3
    assert got["p"] == pytest.approx(2 * norm.sf(abs(np.mean(diffs)) / se), rel=1e-9)
    assert got["per_pair"][(1, 2)] == pytest.approx(diffs[2], abs=1e-12)
    assert got["n_pairs"] == 3 and got["n_ids"] == 360
    # the bootstrap CI has the DeLong width (both estimate the same spread)
    assert (got["ci_hi"] - got["ci_lo"]) / (2 * 1.96 * se) == pytest.approx(1.0, rel=0.15)


@pytest.mark.parametrize(
    "lo, hi, seeds, effect",
    [
        (0.01, 0.05, [0.02, 0.03, 0.01], "helps"),
        (0.01, 0.05, [0.02, 0.03, -0.01], "inconsistent across seeds"),
        (-0.05, -0.01, [-0.02, -0.03], "hurts"),
        (-0.05, -0.01, [-0.02, 0.001], "inconsistent across seeds"),
        (-0.01, 0.05, [0.02, 0.03, 0.01], "no detectable effect"),
        (0.01, 0.05, [0.02], "helps"),
    ],
)
def test_seed_verdict_rule(lo, hi, seeds, effect):
    from seti.report.seeds import seed_verdict

    assert seed_verdict(lo, hi, seeds) == effect


def _seed_sweep(root: Path, mu_light: dict[int, float], n: int = 300) -> None:
    """tiny x none/light x seeds x 2 folds on ONE fold split (the ids of a fold are the same for every seed)."""
    rng = np.random.default_rng(21)
    ids = [f"{i:015x}" for i in range(2 * n)]
    y = (rng.random(2 * n) < 0.35).astype(int)
    shared = rng.normal(size=2 * n)
    for seed, mu in mu_light.items():
        for aug, m in (("none", 1.0), ("light", mu)):
            for fold in (0, 1):
                sl = slice(fold * n, (fold + 1) * n)
                pred = _sigmoid(m * y[sl] + shared[sl] + rng.normal(size=n) + 0.5 * fold)
                _write_run(
                    root,
                    f"a={aug},f={fold},s={seed}",
                    model="tiny",
                    aug=aug,
                    fold=fold,
                    seed=seed,
                    preds=pd.DataFrame({"id": ids[sl], "target": y[sl], "pred": pred}),
                )


def test_seed_tables_and_inconsistent_seeds(tmp_path):
    """Seeds 1 and 2 gain a lot from light, seed 3 loses: the combined CI is above 0 but no 'helps' verdict."""
    from sklearn.metrics import roc_auc_score

    _seed_sweep(tmp_path, {1: 2.5, 2: 2.5, 3: 0.6})
    rep = compare_sweeps(tmp_path, n_boot=400)
    c = rep.comparisons.iloc[0]
    assert c["id_ci_lo"] > 0 and c["id_effect"] == "inconsistent across seeds"
    assert c["effect"] == "not established" and c["run_ci_lo"] < 0 < c["run_ci_hi"]
    assert c["verdict"].startswith("light vs none on tiny: not established")
    assert c["n_fold_pairs"] == 6 and c["n_ids"] == 600 and c["seeds"] == "1,2,3"
    # per-seed rows recomputed from the files with sklearn
    sc = rep.seed_comparisons.set_index("seed")
    assert list(sc.index) == [1, 2, 3]
    for seed in (1, 2, 3):

        def auc(aug, fold, seed=seed):
            d = pd.read_csv(tmp_path / f"a={aug},f={fold},s={seed}" / "val_predictions.csv")
            return roc_auc_score(d["target"], d["pred"]), d

        per_fold = [auc("light", f)[0] - auc("none", f)[0] for f in (0, 1)]
        assert sc.loc[seed, "diff"] == pytest.approx(np.mean(per_fold), abs=1e-12)
        a = pd.concat([auc("light", f)[1] for f in (0, 1)])
        b = pd.concat([auc("none", f)[1] for f in (0, 1)])
        assert sc.loc[seed, "pooled_diff"] == pytest.approx(
            roc_auc_score(a["target"], a["pred"]) - roc_auc_score(b["target"], b["pred"]), abs=1e-12
        )
        assert sc.loc[seed, "ci_lo"] <= sc.loc[seed, "diff"] <= sc.loc[seed, "ci_hi"]
    assert (sc.loc[[1, 2], "diff"] > 0).all() and sc.loc[3, "diff"] < 0
    # the combined estimate is the mean of the six (fold, seed) differences = the mean of the seeds' means
    assert c["id_diff"] == pytest.approx(sc["diff"].mean(), abs=1e-12)
    assert c["run_diff"] == pytest.approx(sc["diff"].mean(), abs=1e-12)
    assert c["seed_sd"] == pytest.approx(sc["diff"].std(ddof=1), abs=1e-12)
    # spread over seeds: each seed's val AUROC averaged over folds, then mean and sample std over seeds
    spread = rep.seeds.set_index("aug").loc["light"]
    per_seed = rep.runs[rep.runs["aug"] == "light"].groupby("seed")["val_auroc"].mean()
    assert spread["mean_over_seeds"] == pytest.approx(per_seed.mean(), abs=1e-12)
    assert spread["std_over_seeds"] == pytest.approx(per_seed.std(ddof=1), abs=1e-12)
    md = rep.markdown_path.read_text()
    assert "## Seeds" in md and "Per-seed paired differences" in md and "every training seed" in md
    assert (rep.out_dir / "seed_comparisons.csv").is_file() and (rep.out_dir / "seeds.csv").is_file()


def test_consistent_seeds_give_a_verdict(tmp_path):
    _seed_sweep(tmp_path, {1: 2.5, 2: 2.2, 3: 2.4})
    c = compare_sweeps(tmp_path, n_boot=400).comparisons.iloc[0]
    assert c["effect"] == "helps" and c["id_effect"] == "helps" and c["run_ci_lo"] > 0
    assert c["verdict"].startswith("light helps tiny by +0.") and "over 3 seeds (run level" in c["verdict"]


def test_resumed_runs_are_flagged_with_summed_wall_time(tmp_path):
    y = np.array([0, 1] * 20)
    df = pd.DataFrame({"id": [f"{i:015x}" for i in range(40)], "target": y, "pred": np.linspace(0, 1, 40)})
    _write_run(
        tmp_path,
        "resumed",
        model="tiny",
        aug="none",
        fold=0,
        preds=df,
        metrics_extra={"attempts": 2, "resumed": True, "wall_time_s": 30.0, "wall_time_s_attempts": [10.0, 20.0]},
    )
    _write_run(
        tmp_path,
        "once",
        model="tiny",
        aug="none",
        fold=1,
        preds=df,
        metrics_extra={"attempts": 1, "resumed": False, "wall_time_s": 9.0, "wall_time_s_attempts": [9.0]},
    )
    _write_run(tmp_path, "old", model="tiny", aug="light", fold=0, preds=df)  # an older run without the keys...
    (tmp_path / "old" / "train.log").write_text(
        "Restoring states from the checkpoint path at /x/checkpoints/last.ckpt\n"
    )  # ...that shows a resume
    _write_run(tmp_path, "plain", model="tiny", aug="light", fold=1, preds=df)  # older, no sign of a resume
    rep = compare_sweeps(tmp_path, n_boot=50)
    runs = rep.runs.set_index("run_name")
    assert runs.loc["resumed", "attempts"] == 2 and runs.loc["resumed", "wall_time_s_attempts"] == "10+20"
    assert runs.loc["once", "resumed"] == False and pd.isna(runs.loc["plain", "resumed"])  # noqa: E712
    assert runs.loc["old", "resumed"] == True  # noqa: E712
    assert sorted(rep.resumed["run_name"]) == ["old", "resumed"]
    md = rep.markdown_path.read_text().split("## Resumed runs")[1].split("##")[0]
    assert "| resumed |" in md and "10+20" in md and "| 30 |" in md
    assert "wall time covers the last process only" in md and "| plain |" not in md


def test_disclosures_for_tuned_constants_and_injected_needles(tmp_path):
    y = np.array([0, 1] * 20)
    df = pd.DataFrame({"id": [f"{i:015x}" for i in range(40)], "target": y, "pred": np.linspace(0, 1, 40)})
    synthetic = {"data": {"source": "synthetic", "synthetic": {"params": {"partial_on_fraction": 0.25}}}}
    _write_run(
        tmp_path,
        "dd",
        model="dedoppler",
        aug="none",
        fold=0,
        preds=df,
        cfg_extra={
            **synthetic,
            "model": {
                "meta": {"fitted_on": "synthetic generator seed 1 (n=600)", "tuned": ["off_freq_tol"]},
                "scorer": {"time_bin": 9, "off_freq_tol": 90},
            },
        },
    )
    _write_run(
        tmp_path,
        "own",
        model="tiny",
        aug="strong",
        fold=0,
        preds=df,
        cfg_extra={**synthetic, "aug": {"cadence": {"inject_needle_p": 0.15, "needle": {"snr_range": [25.0, 150.0]}}}},
    )
    _write_run(
        tmp_path,
        "oracle",
        model="tiny",
        aug="oracle",
        fold=0,
        preds=df,
        cfg_extra={**synthetic, "aug": {"cadence": {"inject_needle_p": 0.15, "needle": {}}}},
    )
    rep = compare_sweeps(tmp_path, n_boot=50)
    text = " ".join(rep.disclosures)
    # only the keys the config calls tuned are said to be fitted; the others are named as not tuned
    assert "dedoppler: tuned constants (off_freq_tol=90) were fitted on synthetic generator seed 1 (n=600)" in text
    assert "not tuned: time_bin=9" in text and "time_bin=9, off_freq_tol" not in text
    # injected needles fill all ON panels; the share of partial-ON evaluation positives comes from the params
    assert "strong: every injected needle is drawn into all three ON panels, while 25% of the synthetic" in text
    assert (
        "strong: injects needles (p=0.15) from its own distribution" in text
        and "snr_range [25, 150] vs [15, 80]" in text
    )
    assert "oracle: injects needles (p=0.15) drawn from the SAME distribution" in text
    md, page = rep.markdown_path.read_text(), rep.html_path.read_text()
    for d in rep.disclosures:
        assert d in md and html_escape(d) in page
    # an old dedoppler run without the record says so
    _write_run(tmp_path / "old", "dd", model="dedoppler", aug="none", fold=0, preds=df)
    assert "does not record" in " ".join(compare_sweeps(tmp_path / "old", n_boot=50).disclosures)
    # fitted_on at the model's top level (older configs) without a tuned list: no constant is called tuned
    _write_run(
        tmp_path / "legacy",
        "dd",
        model="dedoppler",
        aug="none",
        fold=0,
        preds=df,
        cfg_extra={"model": {"fitted_on": "seed 1", "scorer": {"time_bin": 9, "off_freq_tol": 90}}},
    )
    legacy = " ".join(compare_sweeps(tmp_path / "legacy", n_boot=50).disclosures)
    assert "fitted on seed 1; the run does not record which of its settings (time_bin=9, off_freq_tol=90)" in legacy
    assert "tuned constants (" not in legacy


# ============================================================================ run level: the training seed is the unit
def _simulated_study(rng, n_seeds: int, effect: float, tau: float, quirk: float, n: int = 120):
    """One study on one fold of ``n`` ids shared by every seed: binormal scores, a per-seed training effect
    (sd ``tau`` on the aug's separation) and per-id model quirks (sd ``quirk``, fixed across seeds, so the
    seeds share id noise). Returns the run-level result and the plain seed differences."""
    from seti.report.runlevel import run_level_test, seed_contrasts

    y = (rng.random(n) < 0.35).astype(int)
    y[:4] = [0, 1, 0, 1]
    shared = rng.normal(size=n)
    quirk_a, quirk_b = rng.normal(scale=quirk, size=n), rng.normal(scale=quirk, size=n)
    aug, none = [], []
    for _ in range(n_seeds):
        aug.append((1.0 + effect + rng.normal(scale=tau)) * y + shared + quirk_a + rng.normal(size=n))
        none.append(y + shared + quirk_b + rng.normal(size=n))
    keys = [(s, 0) for s in range(n_seeds)]
    _, d, cov = seed_contrasts(keys, y, aug + none, np.ones((2 * n_seeds, n), dtype=bool))
    return run_level_test(d, cov), d


def test_run_level_test_rejects_at_its_nominal_rate_and_finds_a_large_effect():
    """Simulated studies: with no true effect the run-level test rejects about 5% (within a 99.9% binomial
    band); when the seeds share id noise it still does not over-reject, where a t test on the seeds alone
    does; a large true effect is established in nearly every study."""
    from scipy.stats import binom, ttest_1samp

    rng = np.random.default_rng(2026)
    n_null = 250
    lo, hi = binom.interval(0.999, n_null, 0.05)
    null = [_simulated_study(rng, 4, 0.0, tau=0.3, quirk=0.0)[0] for _ in range(n_null)]
    rate = np.mean([r["p"] < 0.05 for r in null])
    assert lo / n_null <= rate <= hi / n_null, rate
    assert np.mean([r["established"] for r in null]) == rate  # established == interval excludes 0 == p < 0.05

    shared = [_simulated_study(rng, 3, 0.0, tau=0.05, quirk=1.0) for _ in range(150)]
    assert np.mean([r["p"] < 0.05 for r, _ in shared]) <= hi / n_null
    assert np.mean([ttest_1samp(d, 0).pvalue < 0.05 for _, d in shared]) > 0.1  # what ignoring shared ids does

    big = [_simulated_study(rng, 5, 1.0, tau=0.3, quirk=0.0)[0] for _ in range(40)]
    assert np.mean([r["established"] and r["ci_lo"] > 0 for r in big]) >= 0.9


def test_seed_level_differences_by_hand():
    """d_s is the mean over the seed's folds of its paired AUROC difference; its id variance is DeLong's;
    with no id covariance the run-level test is the one-sample t test on the seeds."""
    from scipy.stats import t as student_t

    from seti.report.runlevel import plan, run_level_test, seed_level_differences

    rng = np.random.default_rng(8)
    pairs, by_hand = {}, {}
    for seed in (1, 2, 3):
        for fold in (0, 1):
            y = (rng.random(80) < 0.4).astype(int)
            a, b = 1.2 * y + rng.normal(size=80), y + rng.normal(size=80)
            pairs[(seed, fold)] = pd.DataFrame(
                {"id": [f"{seed}-{fold}-{i}" for i in range(80)], "target": y, "pred_a": a, "pred_b": b}
            )
            by_hand.setdefault(seed, []).append(auc_score(y, a) - auc_score(y, b))
    seeds, d, cov = seed_level_differences(pairs)
    assert seeds == [1, 2, 3]
    np.testing.assert_allclose(d, [np.mean(by_hand[s]) for s in seeds], atol=1e-12)
    # seed 1's variance: its two disjoint folds' DeLong variances, each over 2^2
    var = 0.0
    for fold in (0, 1):
        f = pairs[(1, fold)]
        _, c = _naive_structural(f["target"], [f["pred_a"], f["pred_b"]])
        var += (c[0, 0] + c[1, 1] - 2 * c[0, 1]) / 4
    assert cov[0, 0] == pytest.approx(var, rel=1e-9)
    assert cov[0, 1] == pytest.approx(0.0, abs=1e-15)  # different seeds on different ids here: independent

    r = run_level_test(d, np.zeros((3, 3)))
    sd = np.std(d, ddof=1)
    assert r["seed_sd"] == pytest.approx(sd) and r["shared_id_sd"] == 0.0
    assert r["p"] == pytest.approx(2 * student_t.sf(abs(d.mean()) / (sd / math.sqrt(3)), 2), rel=1e-9)
    assert r["ci_hi"] - r["ci_lo"] == pytest.approx(2 * student_t.ppf(0.975, 2) * sd / math.sqrt(3), rel=1e-9)
    # minimum detectable effect and seeds needed agree with each other
    planned = plan({**r, "diff": 0.02})
    n = planned["seeds_needed"]
    from seti.report.runlevel import minimum_detectable_effect

    assert minimum_detectable_effect(sd**2, 0.0, n) <= 0.02 < minimum_detectable_effect(sd**2, 0.0, n - 1)
    assert plan({**r, "diff": 0.001, "shared_id_sd": 0.01})["seeds_needed"] is None  # shared id noise hides it
    one = run_level_test([0.03])
    assert one["n_seeds"] == 1 and not one["established"] and math.isnan(one["p"])


def _two_seed_sweep(
    root: Path,
    metrics_extra=lambda aug, seed, fold: {},
    *,
    n: int = 200,
    model: str = "tiny",
    light_mu: float = 1.3,
    rng_seed: int = 5,
    prefix: str = "",
):
    """Seeds 1, 2 x none/light x folds 0, 1 on ``n`` ids (half a fold each); returns (rng, ids, y) so a test can
    draw more from the same stream."""
    rng = np.random.default_rng(rng_seed)
    ids = [f"{i:015x}" for i in range(n)]
    y = (rng.random(n) < 0.4).astype(int)
    half = n // 2
    for seed in (1, 2):
        for aug, mu in (("none", 1.0), ("light", light_mu)):
            for fold in (0, 1):
                sl = slice(fold * half, (fold + 1) * half)
                df = pd.DataFrame(
                    {"id": ids[sl], "target": y[sl], "pred": _sigmoid(mu * y[sl] + rng.normal(size=half))}
                )
                _write_run(
                    root,
                    f"{prefix}a={aug},f={fold},s={seed}",
                    model=model,
                    aug=aug,
                    fold=fold,
                    seed=seed,
                    preds=df,
                    metrics_extra=metrics_extra(aug, seed, fold),
                )
    return rng, ids, y


def test_mixed_code_is_refused_unless_allowed(tmp_path):
    """Runs of one comparison from two commits are not paired: the error names the runs and the commits."""
    from seti.report.provenance import MixedCodeError

    versions = {"torch": "2.4.0", "numpy": "1.26.4"}

    def provenance(aug, seed, fold):
        commit = "b" * 40 if (aug, seed) == ("light", 2) else "a" * 40
        return {"git_commit": commit, "git_dirty": False, "versions": versions, "machine": "cpu x"}

    _two_seed_sweep(tmp_path / "mixed", provenance)
    with pytest.raises(MixedCodeError, match=r"tiny.*2 code versions.*aaaaaaaaaaaa.*bbbbbbbbbbbb.*a=light,f=0,s=2"):
        compare_sweeps(tmp_path / "mixed", n_boot=50)
    assert not (tmp_path / "mixed" / "report").exists()  # refused before anything is written
    r = _cli(tmp_path, tmp_path / "mixed", "--n-boot", "50")
    assert r.returncode == 2 and "--allow-mixed-code" in r.stderr and "a=light,f=1,s=2" in r.stderr
    with pytest.warns(UserWarning, match="2 code versions"):
        rep = compare_sweeps(tmp_path / "mixed", n_boot=50, allow_mixed_code=True)
    md = rep.markdown_path.read_text()
    assert "paired despite mixed code" in md and "2 run(s) from bbbbbbbbbbbb | numpy=1.26.4 torch=2.4.0" in md
    assert "machines: cpu x (8 run(s))" in md

    # one commit everywhere: paired, and the report states it
    _two_seed_sweep(tmp_path / "same", lambda a, s, f: provenance("none", 1, 0))
    rep = compare_sweeps(tmp_path / "same", n_boot=50)
    assert rep.code[0] == "8 run(s) from aaaaaaaaaaaa | numpy=1.26.4 torch=2.4.0."
    # known beside unknown is mixed too; all unknown (older runs) is one group, disclosed
    _two_seed_sweep(tmp_path / "half", lambda a, s, f: provenance(a, 1, 0) if a == "light" else {})
    with pytest.raises(MixedCodeError, match="unknown"):
        compare_sweeps(tmp_path / "half", n_boot=50)
    _two_seed_sweep(tmp_path / "old")
    assert "do not record their commit" in compare_sweeps(tmp_path / "old", n_boot=50).code[0]


def test_one_auroc_and_the_test_split_beside_validation(tmp_path):
    """Every validation number is AUROC of val_predictions.csv, whatever metrics.json's torchmetrics value says;
    the runs' test_auroc stands beside it, and a test difference of the other sign is flagged."""

    def extra(aug, seed, fold):
        # light is better on validation in both seeds; on test it is worse in seed 2 and on average
        test = {("none", 1): 0.90, ("light", 1): 0.91, ("none", 2): 0.95, ("light", 2): 0.90}[(aug, seed)]
        return {"best_val_auroc": 0.5, "test_auroc": test}  # a monitor value that disagrees with the file

    _two_seed_sweep(tmp_path, extra)
    rep = compare_sweeps(tmp_path, n_boot=50)
    runs = rep.runs.set_index("run_name")
    for name in runs.index:
        d = pd.read_csv(tmp_path / name / "val_predictions.csv")
        assert runs.loc[name, "val_auroc"] == pytest.approx(auc_score(d["target"], d["pred"]), abs=1e-15)
    light = rep.summary.set_index("aug").loc["light"]
    assert light["mean_val_auroc"] > 0.6 and light["mean_test_auroc"] == pytest.approx(0.905)
    c = rep.comparisons.iloc[0]
    assert (
        c["run_diff"] > 0 and c["test_diff"] == pytest.approx(-0.02) and c["test_sign"] == "DISAGREES with validation"
    )
    assert c["test_seed_diffs"] == "1: +0.010, 2: -0.050"
    sc = rep.seed_comparisons.set_index("seed")
    assert not sc.loc[1, "test_disagrees"] and sc.loc[2, "test_disagrees"]
    md = rep.markdown_path.read_text()
    assert "| light: val | light: test |" in md.replace("none: test | ", "")
    assert "Test split: -0.020" in md and "DISAGREES" in md


def test_markdown_and_html_walk_one_document(fake_sweep):
    """The two writers render the same sections in the same order, footers included."""
    root, rep, _ = fake_sweep
    md = rep.markdown_path.read_text()
    page = rep.html_path.read_text()
    md_heads = [re.sub(r"`", "", h) for h in re.findall(r"^#+ (.+)$", md, flags=re.M)]
    html_heads = [re.sub(r"</?code>", "", h) for h in re.findall(r"<h\d>(.+?)</h\d>", page)]
    assert md_heads == html_heads and "Per-seed paired differences" in md_heads
    for name in ("results.csv", "summary.csv", "comparisons.csv", "seeds.csv", "seed_comparisons.csv"):
        assert f"`{name}`" in md and f"<code>{name}</code>" in page


@pytest.mark.parametrize(
    "p, text",
    [
        (0.0548, "p=0.055"),
        (0.31, "p=0.31"),
        (0.06, "p=0.060"),
        (0.0012, "p=0.0012"),
        (0.0004, "p<0.001"),
        (0.999, "p=1.0"),
    ],
)
def test_p_values_have_two_significant_digits(p, text):
    from seti.report.formatting import fmt_p

    assert fmt_p(p) == text
