"""Build a comparison report (Markdown + self-contained HTML + CSV + PNG) from finished sweeps.

The question a sweep answers is "does augmentation X help model Y?". Differences between augs are
small relative to fold-to-fold and seed-to-seed spread, so the report compares each aug with ``none`` on
the SAME validation ids (paired by fold and seed): per fold (unpooled, the verdict's statistic) and pooled
over folds, each with a stratified paired bootstrap CI and a DeLong test, per training seed and across
seeds, and writes a verdict only when it holds across seeds (seti.report.seeds). Failed, missing and
resumed runs are always listed, and what a run was tuned or augmented with is disclosed.
"""

from __future__ import annotations

import argparse
import base64
import html
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from seti.report.disclosures import disclosures, resumed_runs
from seti.report.seeds import VERDICT_RULE, seed_spread, seed_verdict, unpooled_contrast
from seti.report.stats import (
    auc_score,
    bootstrap_aucs,
    delong_contrast_test,
    delong_paired_test,
    roc_curve_points,
)
from seti.report.sweep import aug_sort_key, collect_runs, load_epoch_curve, load_predictions, model_sort_key

__all__ = ["ReportError", "Report", "compare_sweeps", "build_report", "main"]

BASELINE_AUG = "none"
REFERENCE_MODELS = {"dedoppler"}  # classical, non-learning baselines: shown as reference rows
_AUG_COLORS = {"none": "tab:gray", "light": "tab:blue", "strong": "tab:red"}
_OTHER_COLORS = ["tab:green", "tab:purple", "tab:orange", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]


class ReportError(ValueError):
    """Nothing to report (e.g. no run directories); the message says what was looked for."""


@dataclass
class Report:
    """Everything :func:`compare_sweeps` computed, plus where it was written."""

    out_dir: Path
    runs: pd.DataFrame  # one row per run (results.csv)
    summary: pd.DataFrame  # one row per (data, model, aug)
    comparisons: pd.DataFrame  # one row per (data, model, aug != none)
    verdicts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seed_comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per (model, aug, seed)
    seeds: pd.DataFrame = field(default_factory=pd.DataFrame)  # per (model, aug): spread over seeds
    resumed: pd.DataFrame = field(default_factory=pd.DataFrame)  # runs trained by several processes
    disclosures: list[str] = field(default_factory=list)  # tuning data, augmentation distributions
    images: dict[str, Path] = field(default_factory=dict)

    @property
    def markdown_path(self) -> Path:
        return self.out_dir / "report.md"

    @property
    def html_path(self) -> Path:
        return self.out_dir / "report.html"


# ----------------------------------------------------------------------------- formatting
def _fmt_auc(x: float) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.4f}"


def _fmt_diff(x: float, digits: int = 3) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:+.{digits}f}"


def _fmt_p(p: float) -> str:
    if p is None or not math.isfinite(p):
        return "p=—"
    if p < 0.001:
        return "p<0.001"
    if p < 0.01:
        return f"p={p:.3f}"
    return f"p={p:.2f}"


def _diff_digits(*values: float) -> int:
    finite = [abs(v) for v in values if v is not None and math.isfinite(v)]
    return 4 if finite and max(finite) < 0.01 else 3


def _sorted_groups(keys: Sequence[tuple]) -> list[tuple]:
    """Sort (data, model[, aug]) keys: data alphabetically, models naturally, augs none/light/strong."""

    def key(k: tuple) -> tuple:
        out = (str(k[0]), model_sort_key(k[1]))
        return out + (aug_sort_key(k[2]),) if len(k) > 2 else out

    return sorted(keys, key=key)


# ----------------------------------------------------------------------------- analysis
def _usable(runs: pd.DataFrame) -> pd.DataFrame:
    """Finished, non-duplicate runs with a numeric best AUROC: the ones the numbers come from."""
    if runs.empty:
        return runs
    ok = (runs["status"] == "finished") & runs["duplicate_of"].isna() & runs["best_val_auroc"].notna()
    ok &= runs["model"].notna() & runs["aug"].notna()
    out = runs[ok].copy()
    out["data"] = out["data"].fillna("?")
    return out


def _summarise(used: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (data, model, aug), g in used.groupby(["data", "model", "aug"], sort=False):
        auc = g["best_val_auroc"].astype(float)
        rows.append(
            {
                "data": data,
                "model": model,
                "aug": aug,
                "mean_best_val_auroc": auc.mean(),
                "std_best_val_auroc": auc.std(ddof=1) if len(auc) > 1 else math.nan,
                "n": len(auc),
                "folds": ",".join(str(v) for v in sorted(g["fold"].dropna().unique())),
                "seeds": ",".join(str(v) for v in sorted(g["seed"].dropna().unique())),
                "mean_last_val_auroc": g["last_val_auroc"].astype(float).mean(),
                "mean_epochs": g["epochs"].astype(float).mean(),
                "mean_wall_time_s": g["wall_time_s"].astype(float).mean(),
                "mean_train_samples_per_s": g["train_samples_per_s"].astype(float).mean(),
                "max_peak_memory_mb": g["peak_memory_mb"].astype(float).max(),
                "reference": model in REFERENCE_MODELS,
            }
        )
    cols = [
        "data",
        "model",
        "aug",
        "mean_best_val_auroc",
        "std_best_val_auroc",
        "n",
        "folds",
        "seeds",
        "mean_last_val_auroc",
        "mean_epochs",
        "mean_wall_time_s",
        "mean_train_samples_per_s",
        "max_peak_memory_mb",
        "reference",
    ]
    df = pd.DataFrame(rows, columns=cols)
    if df.empty:
        return df
    order = _sorted_groups(list(zip(df["data"], df["model"], df["aug"])))
    df = df.set_index(["data", "model", "aug"]).loc[order].reset_index()
    return df


class _Predictions:
    """Loads each run's val_predictions.csv once; a bad file becomes a listed problem, not a crash."""

    def __init__(self) -> None:
        self._cache: dict[str, pd.DataFrame | None] = {}
        self.problems: list[str] = []

    def get(self, row: pd.Series) -> pd.DataFrame | None:
        path = row["predictions_path"]
        if not isinstance(path, str):
            return None
        if path not in self._cache:
            try:
                self._cache[path] = load_predictions(path)
            except (OSError, ValueError) as exc:
                self.problems.append(f"{row['run_name']}: cannot use val_predictions.csv: {exc}")
                self._cache[path] = None
        return self._cache[path]


def _verdict(aug: str, model: str, diff: float, lo: float, hi: float, p: float, prefix: str = "") -> tuple[str, str]:
    """('helps' | 'hurts' | 'no detectable effect', sentence). Significance = bootstrap CI excludes 0."""
    d = _diff_digits(diff, lo, hi)
    interval = f"{_fmt_diff(diff, d)} [{_fmt_diff(lo, d)}, {_fmt_diff(hi, d)}], {_fmt_p(p)}"
    if lo > 0:
        effect, text = "helps", f"{aug} helps {model} by {interval}"
    elif hi < 0:
        effect, text = "hurts", f"{aug} hurts {model} by {interval}"
    else:
        effect, text = "no detectable effect", f"no detectable effect of {aug} on {model}: {interval}"
    if math.isfinite(p) and (effect == "no detectable effect") != (p >= 0.05):
        text += " (bootstrap CI and DeLong p disagree: borderline)"
    return effect, prefix + text


def _empty_comparison(data: str, model: str, aug: str) -> dict:
    return {
        "data": data,
        "model": model,
        "aug": aug,
        "baseline": BASELINE_AUG,
        "n_pairs": 0,
        "seeds": "",
        "folds": "",
        "n_ids": 0,
        "n_pos": 0,
        "auc_aug": math.nan,
        "auc_none": math.nan,
        "diff": math.nan,
        "ci_lo": math.nan,
        "ci_hi": math.nan,
        "p_delong": math.nan,
        "fold_diff_mean": math.nan,
        "fold_diff_std": math.nan,
        "n_fold_pairs": 0,
        "unpooled_diff": math.nan,
        "unpooled_ci_lo": math.nan,
        "unpooled_ci_hi": math.nan,
        "unpooled_p": math.nan,
        "seed_diffs": "",
        "effect": "not tested",
        "verdict": "",
        "note": "",
    }


def _compare_one(
    used: pd.DataFrame, data: str, model: str, aug: str, preds: _Predictions, n_boot: int, seed: int, prefix: str
) -> dict:
    """Paired comparison of ``aug`` against ``none`` for one (data, model)."""
    sel = used[(used["data"] == data) & (used["model"] == model)]
    a_runs = sel[sel["aug"] == aug]
    b_runs = sel[sel["aug"] == BASELINE_AUG]
    pairs = a_runs.merge(b_runs, on=["fold", "seed"], suffixes=("_a", "_b"))
    row = _empty_comparison(data, model, aug)
    row["n_pairs"] = len(pairs)
    if pairs.empty:
        row["verdict"] = (
            f"{prefix}{aug} vs {BASELINE_AUG} on {model}: not compared, no runs of both share a (fold, seed)"
        )
        return row

    notes: list[str] = []
    per_seed: dict[object, list[pd.DataFrame]] = {}
    fold_diffs: list[float] = []
    metric_diffs = (pairs["best_val_auroc_a"].astype(float) - pairs["best_val_auroc_b"].astype(float)).tolist()
    for _, pr in pairs.iterrows():
        pa = preds.get(pd.Series({"predictions_path": pr["predictions_path_a"], "run_name": pr["run_name_a"]}))
        pb = preds.get(pd.Series({"predictions_path": pr["predictions_path_b"], "run_name": pr["run_name_b"]}))
        if pa is None or pb is None:
            continue
        m = pa.merge(pb, on="id", suffixes=("_a", "_b"))
        if len(m) < max(len(pa), len(pb)):
            notes.append(
                f"fold {pr['fold']} seed {pr['seed']}: {aug} and {BASELINE_AUG} share {len(m)} of "
                f"{max(len(pa), len(pb))} validation ids (compared on the shared ones)"
            )
        if (m["target_a"] != m["target_b"]).any():
            notes.append(f"fold {pr['fold']} seed {pr['seed']}: targets differ between runs; pair skipped")
            continue
        m = m.rename(columns={"target_a": "target"}).drop(columns="target_b")
        m["fold"] = pr["fold"]
        if m["target"].nunique() == 2:
            fold_diffs.append(auc_score(m["target"], m["pred_a"]) - auc_score(m["target"], m["pred_b"]))
        per_seed.setdefault(pr["seed"], []).append(m)

    if fold_diffs:
        row["fold_diff_mean"] = float(np.mean(fold_diffs))
        row["fold_diff_std"] = float(np.std(fold_diffs, ddof=1)) if len(fold_diffs) > 1 else math.nan
        row["n_fold_pairs"] = len(fold_diffs)
    elif metric_diffs:
        # no usable predictions: fall back to the logged best AUROCs, so at least the direction is shown
        row["fold_diff_mean"] = float(np.mean(metric_diffs))
        row["fold_diff_std"] = float(np.std(metric_diffs, ddof=1)) if len(metric_diffs) > 1 else math.nan
        row["n_fold_pairs"] = len(metric_diffs)

    if not per_seed:
        row["note"] = "; ".join(notes + ["no val_predictions.csv for the paired runs: no paired test"])
        row["verdict"] = (
            f"{prefix}{aug} vs {BASELINE_AUG} on {model}: not tested (no predictions); per-fold mean difference "
            f"{_fmt_diff(row['fold_diff_mean'])} over {row['n_fold_pairs']} pair(s)"
        )
        return row

    # Pool folds per seed (ids are disjoint across folds).
    pooled = {}
    for s, frames in per_seed.items():
        df = pd.concat(frames, ignore_index=True)
        if df["id"].duplicated().any():
            notes.append(f"seed {s}: {int(df['id'].duplicated().sum())} ids appear in several folds; kept the first")
            df = df.drop_duplicates("id")
        pooled[s] = df.set_index("id")
    seeds = sorted(pooled, key=lambda v: (v is None or pd.isna(v), v if not pd.isna(v) else 0))
    # Seeds may validate on different ids (the fold split follows the seed): use the union of ids,
    # each seed's curves scored on its own ids (masks); the bootstrap resamples the union jointly.
    union = pooled[seeds[0]].index
    for s in seeds[1:]:
        union = union.union(pooled[s].index)
    targets = pd.concat([pooled[s]["target"] for s in seeds])
    targets = targets[~targets.index.duplicated()]
    if len(seeds) > 1 and any(len(pooled[s]) < len(union) for s in seeds):
        notes.append(
            f"seeds validate on different ids ({', '.join(str(len(pooled[s])) for s in seeds)} of "
            f"{len(union)}); each seed scored on its own ids, resampled jointly"
        )
    y = targets.loc[union].to_numpy()
    row["seeds"] = ",".join(str(s) for s in seeds)
    row["folds"] = ",".join(str(f) for f in sorted(pd.concat([pooled[s]["fold"] for s in seeds]).dropna().unique()))
    row["n_ids"] = int(len(union))
    row["n_pos"] = int(y.sum()) if len(y) else 0
    k = len(seeds)
    mask = np.vstack([union.isin(pooled[s].index) for s in seeds] * 2)
    enough = all(int(y[mk].sum()) >= 2 and int((1 - y[mk]).sum()) >= 2 for mk in mask[:k])
    if not enough:
        row["note"] = "; ".join(notes + ["too few pooled ids of each class for a test"])
        row["verdict"] = (
            f"{prefix}{aug} vs {BASELINE_AUG} on {model}: not tested (too few validation ids of each class)"
        )
        return row

    # The estimate is mean over seeds of AUC(aug) - AUC(none) on each seed's ids; with one seed this
    # is the plain paired difference. DeLong and the bootstrap both see all 2S curves jointly.
    scores = [pooled[s]["pred_a"].reindex(union).fillna(0.0).to_numpy() for s in seeds]
    scores += [pooled[s]["pred_b"].reindex(union).fillna(0.0).to_numpy() for s in seeds]
    contrast = np.r_[np.full(k, 1.0 / k), np.full(k, -1.0 / k)]
    if k == 1:
        auc_a, auc_b, diff, p = delong_paired_test(y, scores[0], scores[1])
        aucs = np.array([auc_a, auc_b])
        boots = bootstrap_aucs(y, scores, n_boot=n_boot, seed=seed) @ contrast
    else:
        aucs, diff, p = delong_contrast_test(y, scores, contrast, mask=mask)
        boots = bootstrap_aucs(y, scores, n_boot=n_boot, seed=seed, mask=mask) @ contrast
    boots = boots[np.isfinite(boots)]
    lo, hi = np.quantile(boots, [0.025, 0.975])
    row.update(
        auc_aug=float(aucs[:k].mean()),
        auc_none=float(aucs[k:].mean()),
        diff=float(diff),
        ci_lo=float(lo),
        ci_hi=float(hi),
        p_delong=float(p),
    )
    row["effect"], row["verdict"] = _verdict(
        aug, model, row["diff"], row["ci_lo"], row["ci_hi"], row["p_delong"], prefix
    )
    row["note"] = "; ".join(notes)

    # Unpooled (per fold), per seed and across seeds: the verdict's statistic (seti.report.seeds).
    fold_pairs = {
        (s, int(f["fold"].iloc[0]) if pd.notna(f["fold"].iloc[0]) else -1): f[["id", "target", "pred_a", "pred_b"]]
        for s, frames in per_seed.items()
        for f in frames
    }
    combined = unpooled_contrast(fold_pairs, n_boot, seed)
    if combined is None:
        return row
    seed_rows = []
    for i, s in enumerate(seeds):
        own = unpooled_contrast({key: f for key, f in fold_pairs.items() if key[0] == s}, n_boot, seed + 1 + i)
        ps = pooled[s]
        seed_rows.append(
            {
                "data": data,
                "model": model,
                "aug": aug,
                "seed": s,
                "folds": ",".join(str(key[1]) for key in fold_pairs if key[0] == s),
                "n_ids": int(len(ps)),
                "unpooled_diff": own["diff"] if own else math.nan,
                "unpooled_ci_lo": own["ci_lo"] if own else math.nan,
                "unpooled_ci_hi": own["ci_hi"] if own else math.nan,
                "unpooled_p": own["p"] if own else math.nan,
                "pooled_diff": (auc_score(ps["target"], ps["pred_a"]) - auc_score(ps["target"], ps["pred_b"]))
                if ps["target"].nunique() == 2
                else math.nan,
            }
        )
    seed_diffs = [r["unpooled_diff"] for r in seed_rows]
    row.update(
        unpooled_diff=combined["diff"],
        unpooled_ci_lo=combined["ci_lo"],
        unpooled_ci_hi=combined["ci_hi"],
        unpooled_p=combined["p"],
        seed_diffs=", ".join(f"{r['seed']}: {_fmt_diff(r['unpooled_diff'])}" for r in seed_rows),
    )
    row["effect"] = seed_verdict(combined["ci_lo"], combined["ci_hi"], seed_diffs)
    row["verdict"] = _seed_verdict_text(aug, model, row, len(seed_rows), prefix)
    row["_seed_rows"] = seed_rows
    return row


def _seed_verdict_text(aug: str, model: str, row: dict, n_seeds: int, prefix: str) -> str:
    """The verdict in words: the unpooled estimate and CI, each seed's sign, and the pooled figure beside it."""
    d = _diff_digits(row["unpooled_diff"], row["unpooled_ci_lo"], row["unpooled_ci_hi"])
    interval = (
        f"{_fmt_diff(row['unpooled_diff'], d)} [{_fmt_diff(row['unpooled_ci_lo'], d)}, "
        f"{_fmt_diff(row['unpooled_ci_hi'], d)}], {_fmt_p(row['unpooled_p'])}"
    )
    tail = (
        f" (mean of per-fold differences over {row['n_fold_pairs']} fold x seed pair(s); per seed "
        f"{row['seed_diffs']}; pooled over folds {_fmt_diff(row['diff'], d)})"
    )
    effect = row["effect"]
    if effect in ("helps", "hurts"):
        text = f"{aug} {effect} {model} by {interval}"
        if n_seeds > 1:
            text += f", same sign in all {n_seeds} seeds"
    elif effect == "inconsistent across seeds":
        text = f"inconsistent effect of {aug} on {model} across seeds: {interval}, but the seeds disagree in sign"
    else:
        text = f"no detectable effect of {aug} on {model}: {interval}"
    return prefix + text + tail


def _compare(used: pd.DataFrame, preds: _Predictions, n_boot: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = []
    multi_data = used["data"].nunique() > 1
    for data, model in _sorted_groups(list(used[["data", "model"]].drop_duplicates().itertuples(index=False))):
        augs = sorted(used.loc[(used["data"] == data) & (used["model"] == model), "aug"].unique(), key=aug_sort_key)
        others = [a for a in augs if a != BASELINE_AUG]
        if not others:
            continue
        prefix = f"[{data}] " if multi_data else ""
        if BASELINE_AUG not in augs:
            for aug in others:
                row = _empty_comparison(data, model, aug)
                row["verdict"] = (
                    f"{prefix}{aug} vs {BASELINE_AUG} on {model}: not compared, no finished {BASELINE_AUG} runs for {model}"
                )
                rows.append(row)
            continue
        for aug in others:
            rows.append(_compare_one(used, data, model, aug, preds, n_boot, seed, prefix))
    cols = [
        "data",
        "model",
        "aug",
        "baseline",
        "n_pairs",
        "seeds",
        "folds",
        "n_ids",
        "n_pos",
        "auc_aug",
        "auc_none",
        "diff",
        "ci_lo",
        "ci_hi",
        "p_delong",
        "fold_diff_mean",
        "fold_diff_std",
        "n_fold_pairs",
        "unpooled_diff",
        "unpooled_ci_lo",
        "unpooled_ci_hi",
        "unpooled_p",
        "seed_diffs",
        "effect",
        "verdict",
        "note",
    ]
    seed_rows = [r for row in rows for r in row.pop("_seed_rows", [])]
    return pd.DataFrame(rows, columns=cols), pd.DataFrame(seed_rows)


def _settings(runs: pd.DataFrame) -> pd.DataFrame:
    """What the runs came from, per data set: so a reader can tell a smoke test from a real result."""
    rows = []
    df = runs.copy()
    df["data"] = df["data"].fillna("?")
    for data, g in df.groupby("data", sort=True):

        def vals(col: str, g=g) -> str:
            v = g[col].dropna()
            return ", ".join(str(x) for x in sorted(v.unique(), key=str)) if len(v) else "—"

        rows.append(
            {
                "data": data,
                "runs": len(g),
                "finished": int((g["status"] == "finished").sum()),
                "models": ", ".join(sorted(g["model"].dropna().unique(), key=model_sort_key)) or "—",
                "augs": ", ".join(sorted(g["aug"].dropna().unique(), key=aug_sort_key)) or "—",
                "image size": vals("image_size"),
                "max epochs (config)": vals("max_epochs"),
                "epochs run": vals("epochs"),
                "num folds": vals("num_folds"),
                "folds": vals("fold"),
                "seeds": vals("seed"),
                "experiment": vals("experiment"),
                "sweep dirs": ", ".join(sorted(g["sweep_dir"].unique())),
            }
        )
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- plots
def _aug_color(aug: str, all_augs: Sequence[str]) -> str:
    if aug in _AUG_COLORS:
        return _AUG_COLORS[aug]
    others = [a for a in all_augs if a not in _AUG_COLORS]
    return _OTHER_COLORS[others.index(aug) % len(_OTHER_COLORS)] if aug in others else "black"


def _plot_label(data: str, model: str, multi_data: bool) -> str:
    return f"{data}/{model}" if multi_data else str(model)


def _grid(n: int):
    import matplotlib.pyplot as plt

    ncols = min(3, max(1, n))
    nrows = int(math.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.8 * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def _plot_bars(summary: pd.DataFrame, path: Path) -> Path | None:
    import matplotlib.pyplot as plt

    if summary.empty:
        return None
    multi = summary["data"].nunique() > 1
    groups = list(dict.fromkeys(zip(summary["data"], summary["model"])))
    augs = sorted(summary["aug"].unique(), key=aug_sort_key)
    width = 0.8 / len(augs)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(groups) * max(1, len(augs)) * 0.6 + 2), 4.2))
    for i, aug in enumerate(augs):
        xs, ys, es = [], [], []
        for gi, (data, model) in enumerate(groups):
            hit = summary[(summary["data"] == data) & (summary["model"] == model) & (summary["aug"] == aug)]
            if hit.empty:
                continue
            xs.append(gi + (i - (len(augs) - 1) / 2) * width)
            ys.append(float(hit["mean_best_val_auroc"].iloc[0]))
            e = float(hit["std_best_val_auroc"].iloc[0])
            es.append(e if math.isfinite(e) else 0.0)
        ax.bar(xs, ys, width, yerr=es, capsize=3, label=aug, color=_aug_color(aug, augs))
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([_plot_label(d, m, multi) for d, m in groups])
    lo = float((summary["mean_best_val_auroc"] - summary["std_best_val_auroc"].fillna(0)).min())
    ax.set_ylim(max(0.0, min(0.5, lo - 0.05)), 1.0)
    ax.set_ylabel("best val AUROC (mean ± std)")
    ax.set_title("Validation AUROC by model and augmentation")
    ax.legend(title="aug", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_roc(used: pd.DataFrame, preds: _Predictions, path: Path) -> Path | None:
    import matplotlib.pyplot as plt

    multi = used["data"].nunique() > 1
    groups = _sorted_groups(list(used[["data", "model"]].drop_duplicates().itertuples(index=False)))
    curves = []
    for data, model in groups:
        sel = used[(used["data"] == data) & (used["model"] == model)]
        lines = []
        for aug in sorted(sel["aug"].unique(), key=aug_sort_key):
            frames = [p for _, r in sel[sel["aug"] == aug].iterrows() if (p := preds.get(r)) is not None]
            if not frames:
                continue
            pooled = pd.concat(frames, ignore_index=True)
            if pooled["target"].nunique() < 2:
                continue
            lines.append((aug, pooled, len(frames)))
        if lines:
            curves.append(((data, model), lines))
    if not curves:
        return None
    all_augs = sorted(used["aug"].unique(), key=aug_sort_key)
    fig, axes = _grid(len(curves))
    for ax, ((data, model), lines) in zip(axes, curves):
        for aug, pooled, n_runs in lines:
            fpr, tpr = roc_curve_points(pooled["target"], pooled["pred"])
            auc = auc_score(pooled["target"], pooled["pred"])
            ax.plot(fpr, tpr, color=_aug_color(aug, all_augs), lw=1.4, label=f"{aug}: {auc:.4f} ({n_runs} runs)")
        ax.plot([0, 1], [0, 1], ls=":", color="lightgray", lw=1)
        ax.set_title(f"{_plot_label(data, model, multi)} (pooled OOF)")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_curves(used: pd.DataFrame, path: Path) -> Path | None:
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    multi = used["data"].nunique() > 1
    groups = _sorted_groups(list(used[["data", "model"]].drop_duplicates().itertuples(index=False)))
    all_augs = sorted(used["aug"].unique(), key=aug_sort_key)
    panels = []
    for data, model in groups:
        sel = used[(used["data"] == data) & (used["model"] == model)]
        lines = []
        for _, r in sel.iterrows():
            if not isinstance(r["metrics_csv_path"], str):
                continue
            curve = load_epoch_curve(r["metrics_csv_path"])
            if not curve.empty:
                lines.append((r["aug"], curve))
        if lines:
            panels.append(((data, model), lines))
    if not panels:
        return None
    fig, axes = _grid(len(panels))
    for ax, ((data, model), lines) in zip(axes, panels):
        for aug, curve in lines:
            ax.plot(
                curve["epoch"],
                curve["value"],
                color=_aug_color(aug, all_augs),
                alpha=0.75,
                lw=1.2,
                marker="o" if len(curve) < 3 else None,
                ms=3,
            )
        present = sorted({a for a, _ in lines}, key=aug_sort_key)
        ax.legend([Line2D([0], [0], color=_aug_color(a, all_augs)) for a in present], present, fontsize=7, title="aug")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{_plot_label(data, model, multi)}: val AUROC per epoch")
        ax.set_xlabel("epoch")
        ax.set_ylabel("val/auroc")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- tables
def _auc_table(summary: pd.DataFrame) -> pd.DataFrame:
    """model x aug pivot of 'mean ± std (n=k)' best val AUROC (data as an extra column if mixed)."""
    if summary.empty:
        return pd.DataFrame()
    multi = summary["data"].nunique() > 1
    augs = sorted(summary["aug"].unique(), key=aug_sort_key)
    rows = []
    for data, model in dict.fromkeys(zip(summary["data"], summary["model"])):
        row = {"data": data} if multi else {}
        row["model"] = f"{model} (reference)" if model in REFERENCE_MODELS else model
        for aug in augs:
            hit = summary[(summary["data"] == data) & (summary["model"] == model) & (summary["aug"] == aug)]
            if hit.empty:
                row[aug] = ""
                continue
            h = hit.iloc[0]
            std = "" if not math.isfinite(h["std_best_val_auroc"]) else f" ± {h['std_best_val_auroc']:.4f}"
            row[aug] = f"{h['mean_best_val_auroc']:.4f}{std} (n={int(h['n'])})"
        rows.append(row)
    return pd.DataFrame(rows)


def _interval(diff: float, lo: float, hi: float) -> str:
    d = _diff_digits(diff, lo, hi)
    return f"{_fmt_diff(diff, d)} [{_fmt_diff(lo, d)}, {_fmt_diff(hi, d)}]"


def _p_cell(p: float) -> str:
    return _fmt_p(p).removeprefix("p=") if p is not None and math.isfinite(p) else "—"


def _comparison_table(comps: pd.DataFrame) -> pd.DataFrame:
    if comps.empty:
        return pd.DataFrame()
    multi = comps["data"].nunique() > 1
    rows = []
    for _, c in comps.iterrows():
        row = {"data": c["data"]} if multi else {}
        row.update(
            {
                "model": c["model"],
                "aug vs none": f"{c['aug']} vs {c['baseline']}",
                "per-fold mean diff [95% CI]": _interval(c["unpooled_diff"], c["unpooled_ci_lo"], c["unpooled_ci_hi"]),
                "p (per-fold)": _p_cell(c["unpooled_p"]),
                "per seed": c["seed_diffs"] or "—",
                "pooled AUROC (aug / none)": f"{_fmt_auc(c['auc_aug'])} / {_fmt_auc(c['auc_none'])}",
                "pooled diff [95% CI]": _interval(c["diff"], c["ci_lo"], c["ci_hi"]),
                "p (pooled)": _p_cell(c["p_delong"]),
                "fold x seed pairs": int(c["n_fold_pairs"]),
                "ids (pos)": f"{int(c['n_ids'])} ({int(c['n_pos'])})" if c["n_ids"] else "—",
                "seeds": c["seeds"] or "—",
                "effect": c["effect"],
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _seed_table(seeds: pd.DataFrame) -> pd.DataFrame:
    if seeds.empty:
        return pd.DataFrame()
    multi = seeds["data"].nunique() > 1
    rows = []
    for _, r in seeds.iterrows():
        row = {"data": r["data"]} if multi else {}
        std = "" if not math.isfinite(r["std_over_seeds"]) else f" ± {r['std_over_seeds']:.4f}"
        row.update(
            {
                "model": f"{r['model']} (reference)" if r["model"] in REFERENCE_MODELS else r["model"],
                "aug": r["aug"],
                "seeds": int(r["n_seeds"]),
                "folds": r["folds"],
                "per seed (mean over folds)": r["seed_values"],
                "mean ± std over seeds": f"{r['mean_over_seeds']:.4f}{std}",
                "range": f"{r['min_over_seeds']:.4f} – {r['max_over_seeds']:.4f}",
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _seed_comparison_table(seed_comps: pd.DataFrame) -> pd.DataFrame:
    if seed_comps.empty:
        return pd.DataFrame()
    multi = seed_comps["data"].nunique() > 1
    rows = []
    for _, r in seed_comps.iterrows():
        row = {"data": r["data"]} if multi else {}
        row.update(
            {
                "model": r["model"],
                "aug vs none": f"{r['aug']} vs {BASELINE_AUG}",
                "seed": r["seed"],
                "folds": r["folds"],
                "per-fold mean diff [95% CI]": _interval(r["unpooled_diff"], r["unpooled_ci_lo"], r["unpooled_ci_hi"]),
                "p": _p_cell(r["unpooled_p"]),
                "pooled diff": _fmt_diff(r["pooled_diff"]),
                "ids": int(r["n_ids"]),
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _resumed_table(resumed: pd.DataFrame) -> pd.DataFrame:
    if resumed.empty:
        return pd.DataFrame()
    out = resumed.copy()
    out["wall_time_s"] = [f"{v:.0f}" if isinstance(v, float) and math.isfinite(v) else "—" for v in out["wall_time_s"]]
    out = out.rename(
        columns={
            "wall_time_s": "wall time s (all attempts)",
            "wall_time_s_attempts": "per attempt",
            "resume_note": "note",
        }
    )
    return out.astype(object).where(out.notna(), "")


def _problem_table(runs: pd.DataFrame) -> pd.DataFrame:
    bad = runs[(runs["status"] != "finished") | runs["error"].notna() | runs["duplicate_of"].notna()].copy()
    if bad.empty:
        return pd.DataFrame()
    bad["what"] = np.where(bad["duplicate_of"].notna(), "duplicate (ignored; newer run used)", bad["status"])
    bad["error"] = [
        e if isinstance(e, str) else (f"superseded by {d}" if isinstance(d, str) else "")
        for e, d in zip(bad["error"], bad["duplicate_of"])
    ]
    cols = ["run_name", "what", "model", "aug", "fold", "seed", "error", "run_dir"]
    return bad[cols].astype(object).where(bad[cols].notna(), "").reset_index(drop=True)


def _md_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "_(none)_\n"

    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _html_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "<p><em>(none)</em></p>\n"
    return df.to_html(index=False, escape=True, border=0, classes="t", na_rep="")


# ----------------------------------------------------------------------------- writers
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
table.t{border-collapse:collapse;font-size:.9em;margin:.5em 0}
table.t th,table.t td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
table.t th{background:#f3f3f3}
ul.v li{margin:.2em 0}.helps{color:#176317}.hurts{color:#9b1c1c}.none{color:#555}
img{max-width:100%;border:1px solid #eee}.note{color:#666;font-size:.9em}
"""

_SECTION_INTRO = {
    "table": "Best validation AUROC per run (best checkpoint), mean ± sample std over folds and seeds; "
    "n = number of runs.",
    "comparisons": "Each aug vs `none` on the SAME validation ids, runs paired by (fold, seed). Per-fold: the mean "
    "over (fold, seed) pairs of AUROC(aug) - AUROC(none) on that fold's ids, with a stratified paired "
    "bootstrap 95% CI (all curves resampled jointly by id) and a DeLong test; per seed: that seed's "
    "per-fold mean. Pooled: predictions pooled over folds (out-of-fold) per seed, then the mean over "
    "seeds; pooling mixes the folds' score scales, so it is shown beside the per-fold statistic, not "
    "used for the verdict. " + VERDICT_RULE,
    "seeds": "Each training seed's best validation AUROC (mean over its folds), and the spread over seeds: "
    "how much of a difference between augs one seed could produce on its own.",
    "seed_comparisons": "Each seed's own paired difference against `none` (per-fold mean, its bootstrap 95% CI "
    "and DeLong p; pooled over folds beside it).",
    "resumed": "Runs trained by more than one process (killed and resumed). Their wall time is the sum over "
    "all attempts when metrics.json records them; older runs are flagged from their logs.",
}


def _write_markdown(rep: Report, tables: dict[str, pd.DataFrame], settings: pd.DataFrame) -> None:
    out = ["# Sweep comparison report", ""]
    out += [f"Sweeps: {', '.join(f'`{s}`' for s in sorted(rep.runs['sweep_dir'].unique()))}", ""]
    out += ["## Verdicts", ""]
    out += [f"- {v}" for v in rep.verdicts] or ["_(no aug vs none comparisons possible)_"]
    out += ["", "## Best validation AUROC (model x aug)", "", _SECTION_INTRO["table"], "", _md_table(tables["auc"])]
    if any(m in REFERENCE_MODELS for m in rep.summary.get("model", [])):
        out += ["`dedoppler` is a classical, non-learning baseline shown for reference.", ""]
    if rep.disclosures:
        out += ["Disclosures:", ""] + [f"- {d}" for d in rep.disclosures] + [""]
    out += [
        "## Paired comparisons against `none`",
        "",
        _SECTION_INTRO["comparisons"],
        "",
        _md_table(tables["comparisons"]),
    ]
    notes = [f"- {r['model']} {r['aug']}: {r['note']}" for _, r in rep.comparisons.iterrows() if r.get("note")]
    if notes:
        out += ["Notes:", ""] + notes + [""]
    out += ["## Seeds", "", _SECTION_INTRO["seeds"], "", _md_table(tables["seeds"])]
    out += [
        "### Per-seed paired differences",
        "",
        _SECTION_INTRO["seed_comparisons"],
        "",
        _md_table(tables["seed_comparisons"]),
    ]
    out += ["## Plots", ""]
    for title, img in rep.images.items():
        out += [f"### {title}", "", f"![{title}]({img.name})", ""]
    out += ["## Failed, missing and ignored runs", "", _md_table(tables["problems"])]
    out += ["## Resumed runs", "", _SECTION_INTRO["resumed"], "", _md_table(tables["resumed"])]
    if rep.problems:
        out += ["Other problems:", ""] + [f"- {p}" for p in rep.problems] + [""]
    out += ["## Data and settings", "", _md_table(settings)]
    out += [
        "Per-run numbers: `results.csv`; per-group: `summary.csv`; comparisons: `comparisons.csv`; per seed: "
        "`seeds.csv`, `seed_comparisons.csv`.",
        "",
    ]
    rep.markdown_path.write_text("\n".join(out))


def _write_html(rep: Report, tables: dict[str, pd.DataFrame], settings: pd.DataFrame) -> None:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Sweep comparison report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Sweep comparison report</h1>",
        "<p>Sweeps: " + ", ".join(f"<code>{e(s)}</code>" for s in sorted(rep.runs["sweep_dir"].unique())) + "</p>",
        "<h2>Verdicts</h2>",
    ]
    if rep.verdicts:
        cls = {"helps": "helps", "hurts": "hurts"}
        parts.append('<ul class="v">')
        for effect, v in zip(rep.comparisons["effect"], rep.comparisons["verdict"]):
            parts.append(f'<li class="{cls.get(effect, "none")}">{e(str(v))}</li>')
        parts.append("</ul>")
    else:
        parts.append("<p><em>(no aug vs none comparisons possible)</em></p>")
    parts += [
        "<h2>Best validation AUROC (model x aug)</h2>",
        f"<p class=note>{e(_SECTION_INTRO['table'])}</p>",
        _html_table(tables["auc"]),
    ]
    if any(m in REFERENCE_MODELS for m in rep.summary.get("model", [])):
        parts.append(
            "<p class=note><code>dedoppler</code> is a classical, non-learning baseline shown for reference.</p>"
        )
    if rep.disclosures:
        parts.append(
            "<p class=note>Disclosures:</p><ul class=note>"
            + "".join(f"<li>{e(d)}</li>" for d in rep.disclosures)
            + "</ul>"
        )
    parts += [
        "<h2>Paired comparisons against <code>none</code></h2>",
        f"<p class=note>{e(_SECTION_INTRO['comparisons'].replace('`', ''))}</p>",
        _html_table(tables["comparisons"]),
    ]
    notes = [f"{r['model']} {r['aug']}: {r['note']}" for _, r in rep.comparisons.iterrows() if r.get("note")]
    if notes:
        parts.append("<ul class=note>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    parts += [
        "<h2>Seeds</h2>",
        f"<p class=note>{e(_SECTION_INTRO['seeds'])}</p>",
        _html_table(tables["seeds"]),
        "<h3>Per-seed paired differences</h3>",
        f"<p class=note>{e(_SECTION_INTRO['seed_comparisons'].replace('`', ''))}</p>",
        _html_table(tables["seed_comparisons"]),
    ]
    parts.append("<h2>Plots</h2>")
    for title, img in rep.images.items():
        b64 = base64.b64encode(img.read_bytes()).decode("ascii")
        parts.append(f'<h3>{e(title)}</h3><img alt="{e(title)}" src="data:image/png;base64,{b64}">')
    parts += [
        "<h2>Failed, missing and ignored runs</h2>",
        _html_table(tables["problems"]),
        "<h2>Resumed runs</h2>",
        f"<p class=note>{e(_SECTION_INTRO['resumed'])}</p>",
        _html_table(tables["resumed"]),
    ]
    if rep.problems:
        parts.append("<ul>" + "".join(f"<li>{e(p)}</li>" for p in rep.problems) + "</ul>")
    parts += [
        "<h2>Data and settings</h2>",
        _html_table(settings),
        "<p class=note>Per-run numbers: results.csv; per-group: summary.csv; comparisons: comparisons.csv.</p>",
        "</body></html>",
    ]
    rep.html_path.write_text("\n".join(parts), encoding="utf-8")


def _log_wandb(rep: Report, tables: dict[str, pd.DataFrame], force: bool) -> bool:
    """Log tables and plots to W&B if a run is active in this process, or start an offline one if forced.

    Checks ``sys.modules`` first: if wandb was never imported no run can be active, and importing it
    just to find out is slow.
    """
    wandb = sys.modules.get("wandb")
    if wandb is None and force:
        import wandb  # noqa: PLC0415
    if wandb is None:
        return False
    run = getattr(wandb, "run", None)
    started = False
    if run is None:
        if not force:
            return False
        run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "seti"),
            job_type="compare",
            name="compare",
            mode=os.environ.get("WANDB_MODE", "offline"),
            dir=str(rep.out_dir),
        )
        started = True

    def to_table(df: pd.DataFrame):
        clean = df.astype(object).where(df.notna(), None)
        return wandb.Table(columns=[str(c) for c in clean.columns], data=clean.values.tolist())

    payload = {
        "report/auroc_table": to_table(tables["auc"]),
        "report/summary": to_table(rep.summary),
        "report/comparisons": to_table(rep.comparisons),
    }
    for title, img in rep.images.items():
        payload[f"report/{img.stem}"] = wandb.Image(str(img), caption=title)
    run.log(payload)
    if started:
        run.finish()
    return True


# ----------------------------------------------------------------------------- entry points
def compare_sweeps(
    sweep_dirs: str | Path | Sequence[str | Path],
    out_dir: str | Path | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    log_to_wandb: bool = False,
) -> Report:
    """Collect the runs of ``sweep_dirs``, compare them and write the report; returns a :class:`Report`.

    Writes into ``out_dir`` (default ``<first sweep dir>/report``): results.csv, summary.csv,
    comparisons.csv, report.md, report.html and the PNG plots. Raises ``FileNotFoundError`` for a
    missing directory and :class:`ReportError` if no run directory is found.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)

    if isinstance(sweep_dirs, (str, Path)):
        sweep_dirs = [sweep_dirs]
    sweep_dirs = [Path(d) for d in sweep_dirs]
    if not sweep_dirs:
        raise ReportError("no sweep directories given")
    runs = collect_runs(sweep_dirs)
    if runs.empty:
        raise ReportError(
            f"no runs found under {', '.join(str(d) for d in sweep_dirs)}: a run directory holds "
            "'.hydra/config.yaml' or 'metrics.json' (is this the sweep directory printed by train.py?)"
        )
    out = Path(out_dir) if out_dir is not None else sweep_dirs[0] / "report"
    out.mkdir(parents=True, exist_ok=True)

    used = _usable(runs)
    preds = _Predictions()
    summary = _summarise(used)
    comps, seed_comps = _compare(used, preds, n_boot, seed)
    rep = Report(
        out_dir=out,
        runs=runs,
        summary=summary,
        comparisons=comps,
        seed_comparisons=seed_comps,
        seeds=seed_spread(used),
        resumed=resumed_runs(runs),
        disclosures=disclosures(used),
    )

    if not used.empty:
        for title, fname, fn in (
            ("Best validation AUROC", "auroc_bars.png", lambda p: _plot_bars(summary, p)),
            ("ROC curves (pooled out-of-fold)", "roc_curves.png", lambda p: _plot_roc(used, preds, p)),
            ("Validation AUROC per epoch", "val_auroc_epochs.png", lambda p: _plot_curves(used, p)),
        ):
            path = fn(out / fname)
            if path is not None:
                rep.images[title] = path
    missing_preds = used[~used["has_predictions"]]
    rep.problems = [
        f"{r}: finished but has no val_predictions.csv (left out of paired tests and ROC curves)"
        for r in missing_preds["run_name"]
    ] + preds.problems
    rep.verdicts = [v for v in comps["verdict"].tolist() if v]

    tables = {
        "auc": _auc_table(summary),
        "comparisons": _comparison_table(comps),
        "problems": _problem_table(runs),
        "seeds": _seed_table(rep.seeds),
        "seed_comparisons": _seed_comparison_table(seed_comps),
        "resumed": _resumed_table(rep.resumed),
    }
    settings = _settings(runs)
    runs.to_csv(out / "results.csv", index=False)
    summary.to_csv(out / "summary.csv", index=False)
    comps.to_csv(out / "comparisons.csv", index=False)
    seed_comps.to_csv(out / "seed_comparisons.csv", index=False)
    rep.seeds.to_csv(out / "seeds.csv", index=False)
    _write_markdown(rep, tables, settings)
    _write_html(rep, tables, settings)
    _log_wandb(rep, tables, force=log_to_wandb)
    return rep


def build_report(
    sweep_dirs: str | Path | Sequence[str | Path],
    out_dir: str | Path | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    log_to_wandb: bool = False,
) -> Path:
    """Write the report for ``sweep_dirs`` (see :func:`compare_sweeps`); returns the report directory."""
    return compare_sweeps(sweep_dirs, out_dir=out_dir, n_boot=n_boot, seed=seed, log_to_wandb=log_to_wandb).out_dir


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python scripts/compare.py SWEEP_DIR [...] [--out DIR] [--n-boot N] [--seed S] [--wandb]``."""
    parser = argparse.ArgumentParser(
        prog="compare.py",
        description="Compare the runs of one or more sweeps: AUROC table, paired aug-vs-none tests "
        "(bootstrap CI + DeLong), plots, and a Markdown/HTML report in SWEEP_DIR/report/.",
    )
    parser.add_argument("sweep_dirs", nargs="+", metavar="SWEEP_DIR", help="sweep directory (runs at any depth below)")
    parser.add_argument("--out", default=None, help="report directory (default: FIRST_SWEEP_DIR/report)")
    parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument(
        "--wandb", action="store_true", help="also log tables and plots to W&B (offline unless WANDB_MODE is set)"
    )
    args = parser.parse_args(argv)
    for d in args.sweep_dirs:
        if not Path(d).is_dir():
            parser.error(f"sweep directory {d!r} does not exist or is not a directory")
    if args.n_boot < 1:
        parser.error("--n-boot must be >= 1")
    try:
        rep = compare_sweeps(
            args.sweep_dirs, out_dir=args.out, n_boot=args.n_boot, seed=args.seed, log_to_wandb=args.wandb
        )
    except ReportError as exc:
        print(f"compare.py: error: {exc}", file=sys.stderr)
        return 2
    n_bad = int((rep.runs["status"] != "finished").sum())
    print(f"{len(rep.runs)} runs ({n_bad} failed or missing)")
    for v in rep.verdicts or ["(no aug vs none comparisons possible)"]:
        print(f"  {v}")
    for d in rep.disclosures:
        print(f"  disclosure: {d}")
    for r in rep.resumed.itertuples() if not rep.resumed.empty else []:
        print(f"  resumed: {r.run_name} ({r.resume_note})")
    for p in rep.problems:
        print(f"  problem: {p}")
    print(f"report: {rep.html_path}")
    print(f"        {rep.markdown_path}")
    return 0
