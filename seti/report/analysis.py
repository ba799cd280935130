"""The report's numbers: which runs count, per-group summaries, paired aug-vs-none comparisons with their
verdicts, and the predictions and learning curves the plots draw.

Each aug is compared with ``none`` on the SAME validation ids (runs paired by fold and seed): per fold
(unpooled, the verdict's statistic) and pooled over folds, each with a stratified paired bootstrap CI
and a DeLong test, per training seed and across seeds; a verdict is written only when it holds across
seeds (:mod:`seti.report.seeds`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from seti.report.formatting import diff_digits, fmt_diff, fmt_p
from seti.report.seeds import seed_verdict, unpooled_contrast
from seti.report.stats import auc_score, bootstrap_aucs, delong_contrast_test, delong_paired_test
from seti.report.sweep import aug_sort_key, load_epoch_curve, load_predictions, model_sort_key

__all__ = [
    "BASELINE_AUG",
    "REFERENCE_MODELS",
    "COMPARISON_COLUMNS",
    "SUMMARY_COLUMNS",
    "Predictions",
    "sorted_groups",
    "usable_runs",
    "summarise",
    "compare",
    "roc_panels",
    "curve_panels",
]

BASELINE_AUG = "none"
REFERENCE_MODELS = {"dedoppler"}  # classical, non-learning baselines: shown as reference rows
#: columns of summary.csv: one row per (data, model, aug)
SUMMARY_COLUMNS = [
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
#: columns of comparisons.csv: one row per (data, model, aug != none)
COMPARISON_COLUMNS = [
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


def sorted_groups(keys: Sequence[tuple]) -> list[tuple]:
    """Sort (data, model[, aug]) keys: data alphabetically, models naturally, augs none/light/strong."""

    def key(k: tuple) -> tuple:
        out = (str(k[0]), model_sort_key(k[1]))
        return out + (aug_sort_key(k[2]),) if len(k) > 2 else out

    return sorted(keys, key=key)


def usable_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Finished, non-duplicate runs with a numeric best AUROC: the ones the numbers come from."""
    if runs.empty:
        return runs
    ok = (runs["status"] == "finished") & runs["duplicate_of"].isna() & runs["best_val_auroc"].notna()
    ok &= runs["model"].notna() & runs["aug"].notna()
    out = runs[ok].copy()
    out["data"] = out["data"].fillna("?")
    return out


def summarise(used: pd.DataFrame) -> pd.DataFrame:
    """One row per (data, model, aug) of the usable runs (summary.csv), in report order."""
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
    df = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    if df.empty:
        return df
    order = sorted_groups(list(zip(df["data"], df["model"], df["aug"])))
    df = df.set_index(["data", "model", "aug"]).loc[order].reset_index()
    return df


class Predictions:
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


def _pooled_verdict(
    aug: str, model: str, diff: float, lo: float, hi: float, p: float, prefix: str = ""
) -> tuple[str, str]:
    """('helps' | 'hurts' | 'no detectable effect', sentence). Significance = bootstrap CI excludes 0."""
    d = diff_digits(diff, lo, hi)
    interval = f"{fmt_diff(diff, d)} [{fmt_diff(lo, d)}, {fmt_diff(hi, d)}], {fmt_p(p)}"
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
    used: pd.DataFrame, data: str, model: str, aug: str, preds: Predictions, n_boot: int, seed: int, prefix: str
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
            f"{fmt_diff(row['fold_diff_mean'])} over {row['n_fold_pairs']} pair(s)"
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
    row["effect"], row["verdict"] = _pooled_verdict(
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
        seed_diffs=", ".join(f"{r['seed']}: {fmt_diff(r['unpooled_diff'])}" for r in seed_rows),
    )
    row["effect"] = seed_verdict(combined["ci_lo"], combined["ci_hi"], seed_diffs)
    row["verdict"] = _seed_verdict_text(aug, model, row, len(seed_rows), prefix)
    row["_seed_rows"] = seed_rows
    return row


def _seed_verdict_text(aug: str, model: str, row: dict, n_seeds: int, prefix: str) -> str:
    """The verdict in words: the unpooled estimate and CI, each seed's sign, and the pooled figure beside it."""
    d = diff_digits(row["unpooled_diff"], row["unpooled_ci_lo"], row["unpooled_ci_hi"])
    interval = (
        f"{fmt_diff(row['unpooled_diff'], d)} [{fmt_diff(row['unpooled_ci_lo'], d)}, "
        f"{fmt_diff(row['unpooled_ci_hi'], d)}], {fmt_p(row['unpooled_p'])}"
    )
    tail = (
        f" (mean of per-fold differences over {row['n_fold_pairs']} fold x seed pair(s); per seed "
        f"{row['seed_diffs']}; pooled over folds {fmt_diff(row['diff'], d)})"
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


def compare(used: pd.DataFrame, preds: Predictions, n_boot: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(comparisons: one row per (data, model, aug != none) with its verdict, per-seed rows)."""
    rows = []
    multi_data = used["data"].nunique() > 1
    for data, model in sorted_groups(list(used[["data", "model"]].drop_duplicates().itertuples(index=False))):
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
    seed_rows = [r for row in rows for r in row.pop("_seed_rows", [])]
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS), pd.DataFrame(seed_rows)


def _panel_groups(used: pd.DataFrame) -> list[tuple]:
    return sorted_groups(list(used[["data", "model"]].drop_duplicates().itertuples(index=False)))


def roc_panels(used: pd.DataFrame, preds: Predictions) -> list[tuple[tuple, list[tuple[str, pd.DataFrame, int]]]]:
    """Per (data, model): each aug's validation predictions pooled over its runs (out-of-fold), with the
    number of runs pooled; augs without predictions or with a single class are left out."""
    panels = []
    for data, model in _panel_groups(used):
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
            panels.append(((data, model), lines))
    return panels


def curve_panels(used: pd.DataFrame) -> list[tuple[tuple, list[tuple[str, pd.DataFrame]]]]:
    """Per (data, model): every run's validation AUROC per epoch (from its CSV log) with the run's aug."""
    panels = []
    for data, model in _panel_groups(used):
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
    return panels
