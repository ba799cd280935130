"""Paired aug-vs-none comparisons and their verdicts: one row of comparisons.csv per (data, model, aug).

Each aug is compared with ``none`` on the SAME validation ids (runs paired by fold and seed), in steps:
pairing, the pooled test, the per-fold test, the per-seed rows, the run-level test, the test split, the
verdict. The verdict is run level (:mod:`seti.report.runlevel`: the training seed is the random unit); the
id-level tests per fold (:mod:`seti.report.seeds`) and pooled over folds stand beside it, conditional on
these trained models. A run's ``test_auroc`` is carried beside validation, and a sign that differs is
flagged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from seti.metrics import auc_score
from seti.report.analysis import BASELINE_AUG, Predictions, panel_groups
from seti.report.formatting import fmt_diff, fmt_p, interval
from seti.report.runlevel import plan, run_level_test, seed_level_differences
from seti.report.seeds import seed_verdict, unpooled_contrast
from seti.report.stats import bootstrap_aucs, delong_contrast_test, delong_paired_test
from seti.report.sweep import aug_sort_key

__all__ = ["COMPARISON_COLUMNS", "compare"]

#: columns of comparisons.csv: one row per (data, model, aug != none); run_* is the verdict's (run level),
#: id_* the per-fold test and pooled_* the pooled one (both conditional on these trained models)
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
    "n_fold_pairs",
    "run_diff",
    "run_ci_lo",
    "run_ci_hi",
    "run_p",
    "n_seeds",
    "seed_sd",
    "shared_id_sd",
    "mde",
    "seeds_needed",
    "id_diff",
    "id_ci_lo",
    "id_ci_hi",
    "id_p",
    "id_effect",
    "seed_diffs",
    "auc_aug",
    "auc_none",
    "pooled_diff",
    "pooled_ci_lo",
    "pooled_ci_hi",
    "pooled_p",
    "test_diff",
    "test_ci_lo",
    "test_ci_hi",
    "test_seed_diffs",
    "test_sign",
    "effect",
    "verdict",
    "note",
]
#: what a comparison that never got to a test holds besides NaN
_NOT_TESTED = {
    "baseline": BASELINE_AUG,
    "n_pairs": 0,
    "seeds": "",
    "folds": "",
    "n_ids": 0,
    "n_pos": 0,
    "n_fold_pairs": 0,
    "n_seeds": 0,
    "seeds_needed": None,
    "id_effect": "not tested",
    "seed_diffs": "",
    "test_seed_diffs": "",
    "test_sign": "",
    "effect": "not tested",
    "verdict": "",
    "note": "",
}


def _empty_comparison(data: str, model: str, aug: str, baseline: str = BASELINE_AUG) -> dict:
    return {
        **dict.fromkeys(COMPARISON_COLUMNS, math.nan),
        **_NOT_TESTED,
        "data": data,
        "model": model,
        "aug": aug,
        "baseline": baseline,
    }


def _seed_order(seeds) -> list:
    return sorted(seeds, key=lambda v: (v is None or pd.isna(v), v if not pd.isna(v) else 0))


# ----------------------------------------------------------------------------- pairing
@dataclass
class Pairing:
    """The runs of ``aug`` and ``none`` that share (fold, seed), and their predictions on shared ids."""

    runs: pd.DataFrame  # one row per run pair: the two runs' columns with suffixes _a (aug) and _b (none)
    folds: dict[tuple, pd.DataFrame] = field(default_factory=dict)  # (seed, fold) -> id, target, pred_a, pred_b
    notes: list[str] = field(default_factory=list)


def _paired_frames(sel: pd.DataFrame, aug: str, preds: Predictions, baseline: str = BASELINE_AUG) -> Pairing:
    """Pair ``aug``'s runs with ``baseline``'s by (fold, seed) and merge their predictions on the shared ids."""
    pairs = sel[sel["aug"] == aug].merge(sel[sel["aug"] == baseline], on=["fold", "seed"], suffixes=("_a", "_b"))
    out = Pairing(runs=pairs)
    for _, pr in pairs.iterrows():
        pa = preds.get(pd.Series({"predictions_path": pr["predictions_path_a"], "run_name": pr["run_name_a"]}))
        pb = preds.get(pd.Series({"predictions_path": pr["predictions_path_b"], "run_name": pr["run_name_b"]}))
        if pa is None or pb is None:
            continue
        where = f"fold {pr['fold']} seed {pr['seed']}"
        m = pa.merge(pb, on="id", suffixes=("_a", "_b"))
        if len(m) < max(len(pa), len(pb)):
            out.notes.append(
                f"{where}: {aug} and {baseline} share {len(m)} of {max(len(pa), len(pb))} validation ids "
                "(compared on the shared ones)"
            )
        if (m["target_a"] != m["target_b"]).any():
            out.notes.append(f"{where}: targets differ between runs; pair skipped")
            continue
        fold = int(pr["fold"]) if pd.notna(pr["fold"]) else -1
        m = m.rename(columns={"target_a": "target"})
        out.folds[(pr["seed"], fold)] = m[["id", "target", "pred_a", "pred_b"]]
    return out


# ----------------------------------------------------------------------------- the tests
def _pooled_test(folds: dict[tuple, pd.DataFrame], n_boot: int, seed: int, notes: list[str]) -> dict | None:
    """Predictions pooled over folds per seed, then the mean over seeds of AUC(aug) - AUC(none): DeLong p
    and a stratified paired bootstrap CI over all 2S curves jointly. None: too few ids of a class."""
    per_seed: dict[object, list[pd.DataFrame]] = {}
    for (s, f), frame in folds.items():
        per_seed.setdefault(s, []).append(frame.assign(fold=f))
    pooled = {}
    for s, frames in per_seed.items():
        df = pd.concat(frames, ignore_index=True)
        if df["id"].duplicated().any():
            notes.append(f"seed {s}: {int(df['id'].duplicated().sum())} ids appear in several folds; kept the first")
            df = df.drop_duplicates("id")
        pooled[s] = df.set_index("id")
    seeds = _seed_order(pooled)
    # Seeds may validate on different ids (the fold split follows the seed): use the union of ids,
    # each seed's curves scored on its own ids (masks); the bootstrap resamples the union jointly.
    union = pooled[seeds[0]].index
    for s in seeds[1:]:
        union = union.union(pooled[s].index)
    targets = pd.concat([pooled[s]["target"] for s in seeds])
    y = targets[~targets.index.duplicated()].loc[union].to_numpy()
    if len(seeds) > 1 and any(len(pooled[s]) < len(union) for s in seeds):
        notes.append(
            f"seeds validate on different ids ({', '.join(str(len(pooled[s])) for s in seeds)} of "
            f"{len(union)}); each seed scored on its own ids, resampled jointly"
        )
    k = len(seeds)
    out = {
        "seeds": ",".join(str(s) for s in seeds),
        "folds": ",".join(str(f) for f in sorted({f for _, f in folds})),
        "n_ids": int(len(union)),
        "n_pos": int(y.sum()),
    }
    mask = np.vstack([union.isin(pooled[s].index) for s in seeds] * 2)
    if not all(int(y[mk].sum()) >= 2 and int((1 - y[mk]).sum()) >= 2 for mk in mask[:k]):
        return None
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
    lo, hi = np.quantile(boots[np.isfinite(boots)], [0.025, 0.975])
    out.update(
        auc_aug=float(aucs[:k].mean()),
        auc_none=float(aucs[k:].mean()),
        pooled_diff=float(diff),
        pooled_ci_lo=float(lo),
        pooled_ci_hi=float(hi),
        pooled_p=float(p),
    )
    return out


def _per_fold_test(folds: dict[tuple, pd.DataFrame], n_boot: int, seed: int) -> dict:
    """The id-level (conditional) per-fold statistic over every (fold, seed) pair (seti.report.seeds)."""
    combined = unpooled_contrast(folds, n_boot, seed)
    if combined is None:
        return {}
    return {
        "id_diff": combined["diff"],
        "id_ci_lo": combined["ci_lo"],
        "id_ci_hi": combined["ci_hi"],
        "id_p": combined["p"],
        "n_fold_pairs": combined["n_pairs"],
    }


def _test_diffs(pairing: Pairing) -> dict[object, float]:
    """Per seed: the mean over its folds of test_auroc(aug) - test_auroc(none) (metrics.json), where both ran a test."""
    runs = pairing.runs
    if runs.empty or "test_auroc_a" not in runs:
        return {}
    diffs = (runs["test_auroc_a"].astype(float) - runs["test_auroc_b"].astype(float)).rename("d")
    per_seed = pd.concat([runs["seed"], diffs], axis=1).dropna().groupby("seed")["d"].mean()
    return {s: float(per_seed[s]) for s in _seed_order(per_seed.index)}


def _sign_differs(a: float, b: float) -> bool:
    return math.isfinite(a) and math.isfinite(b) and a * b < 0


def _per_seed_rows(
    data: str, model: str, aug: str, folds: dict[tuple, pd.DataFrame], tests: dict, n_boot: int, seed: int
) -> list[dict]:
    """One row per training seed: its own id-level per-fold difference, pooled difference and test difference."""
    rows = []
    for i, s in enumerate(_seed_order({k[0] for k in folds})):
        own_folds = {key: f for key, f in folds.items() if key[0] == s}
        own = unpooled_contrast(own_folds, n_boot, seed + 1 + i)
        ps = pd.concat(list(own_folds.values()), ignore_index=True).drop_duplicates("id")
        diff = own["diff"] if own else math.nan
        test = tests.get(s, math.nan)
        rows.append(
            {
                "data": data,
                "model": model,
                "aug": aug,
                "seed": s,
                "folds": ",".join(str(key[1]) for key in own_folds),
                "n_ids": int(len(ps)),
                "diff": diff,
                "ci_lo": own["ci_lo"] if own else math.nan,
                "ci_hi": own["ci_hi"] if own else math.nan,
                "p": own["p"] if own else math.nan,
                "pooled_diff": (auc_score(ps["target"], ps["pred_a"]) - auc_score(ps["target"], ps["pred_b"]))
                if ps["target"].nunique() == 2
                else math.nan,
                "test_diff": test,
                "test_disagrees": _sign_differs(diff, test),
            }
        )
    return rows


def _run_level(folds: dict[tuple, pd.DataFrame]) -> dict:
    """The verdict's statistic: seeds as the random unit (seti.report.runlevel)."""
    found = seed_level_differences(folds)
    if found is None:
        return {}
    _, d, cov = found
    result = run_level_test(d, cov)
    result.update(plan(result))
    return {
        "run_diff": result["diff"],
        "run_ci_lo": result["ci_lo"],
        "run_ci_hi": result["ci_hi"],
        "run_p": result["p"],
        "n_seeds": result["n_seeds"],
        "seed_sd": result["seed_sd"],
        "shared_id_sd": result["shared_id_sd"],
        "mde": result["mde"],
        "seeds_needed": result["seeds_needed"],
    }


def _test_split(tests: dict, seed_rows: list[dict], run_diff: float) -> dict:
    """The test split beside validation: the mean over seeds, its seed-only interval, and where the sign flips."""
    if not tests:
        return {}
    result = run_level_test(list(tests.values()))  # no test predictions: the id part is unknown
    flips = [str(r["seed"]) for r in seed_rows if r["test_disagrees"]]
    if _sign_differs(run_diff, result["diff"]):
        sign = "DISAGREES with validation"
    elif flips:
        sign = f"disagrees in seed {', '.join(flips)}"
    else:
        sign = "agrees"
    return {
        "test_diff": result["diff"],
        "test_ci_lo": result["ci_lo"],
        "test_ci_hi": result["ci_hi"],
        "test_seed_diffs": ", ".join(f"{s}: {fmt_diff(v)}" for s, v in tests.items()),
        "test_sign": sign,
    }


# ----------------------------------------------------------------------------- the verdict
def _verdict(aug: str, model: str, row: dict, prefix: str) -> tuple[str, str]:
    """(effect, sentence): established (helps | hurts) only when the run-level interval excludes 0."""
    baseline = row["baseline"]
    run = f"{interval(row['run_diff'], row['run_ci_lo'], row['run_ci_hi'])}, {fmt_p(row['run_p'])}"
    n = row["n_seeds"]
    if n < 2:
        effect = "not established"
        text = (
            f"{aug} vs {baseline} on {model}: not established, one training seed "
            f"({fmt_diff(row['run_diff'])}): the seed-to-seed spread is unknown; run more seeds"
        )
    else:
        if row["run_ci_lo"] > 0:
            effect, head = "helps", f"{aug} helps {model} by {run}"
        elif row["run_ci_hi"] < 0:
            effect, head = "hurts", f"{aug} hurts {model} by {run}"
        else:
            effect, head = "not established", f"{aug} vs {baseline} on {model}: not established, {run}"
        needed = row["seeds_needed"]
        resolve = (
            f"about {needed} seeds would resolve {fmt_diff(row['run_diff'])}"
            if needed
            else "no number of seeds resolves a difference this small (more validation ids would)"
        )
        text = (
            f"{head} over {n} seeds (run level; seed sd {row['seed_sd']:.3f}; detectable at 80% power: "
            f"{row['mde']:.3f}" + ("" if effect != "not established" else f"; {resolve}") + ")"
        )
    if math.isfinite(row["id_diff"]):
        text += (
            f". Conditional on these trained models: {interval(row['id_diff'], row['id_ci_lo'], row['id_ci_hi'])}, "
            f"{fmt_p(row['id_p'])} (per seed {row['seed_diffs']})"
        )
    if row["test_sign"] and row["test_sign"] != "agrees":
        text += f". Test split: {fmt_diff(row['test_diff'])} ({row['test_seed_diffs']}), {row['test_sign']}"
    return effect, prefix + text


def _not_tested(row: dict, why: str, prefix: str) -> dict:
    row["verdict"] = f"{prefix}{row['aug']} vs {row['baseline']} on {row['model']}: {why}"
    return row


def _compare_one(
    used: pd.DataFrame,
    data: str,
    model: str,
    aug: str,
    preds: Predictions,
    n_boot: int,
    seed: int,
    prefix: str,
    baseline: str = BASELINE_AUG,
) -> dict:
    """Paired comparison of ``aug`` against ``baseline`` for one (data, model): pairing, the three tests, verdict."""
    row = _empty_comparison(data, model, aug, baseline)
    pairing = _paired_frames(used[(used["data"] == data) & (used["model"] == model)], aug, preds, baseline)
    row["n_pairs"] = len(pairing.runs)
    if pairing.runs.empty:
        return _not_tested(row, "not compared, no runs of both share a (fold, seed)", prefix)
    if not pairing.folds:
        row["note"] = "; ".join(pairing.notes + ["no val_predictions.csv for the paired runs: no paired test"])
        return _not_tested(row, "not tested (no predictions)", prefix)
    pooled = _pooled_test(pairing.folds, n_boot, seed, pairing.notes)
    row["note"] = "; ".join(pairing.notes)
    if pooled is None:
        row["note"] = "; ".join(pairing.notes + ["too few pooled ids of each class for a test"])
        return _not_tested(row, "not tested (too few validation ids of each class)", prefix)
    row.update(pooled)
    row.update(_per_fold_test(pairing.folds, n_boot, seed))
    tests = _test_diffs(pairing)
    seed_rows = _per_seed_rows(data, model, aug, pairing.folds, tests, n_boot, seed)
    row["seed_diffs"] = ", ".join(f"{r['seed']}: {fmt_diff(r['diff'])}" for r in seed_rows)
    row["id_effect"] = seed_verdict(row["id_ci_lo"], row["id_ci_hi"], [r["diff"] for r in seed_rows])
    row.update(_run_level(pairing.folds))
    row.update(_test_split(tests, seed_rows, row["run_diff"]))
    row["effect"], row["verdict"] = _verdict(aug, model, row, prefix)
    row["_seed_rows"] = seed_rows
    return row


def compare(
    used: pd.DataFrame, preds: Predictions, n_boot: int, seed: int, baseline: str = BASELINE_AUG
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(comparisons: one row per (data, model, aug != baseline) with its verdict, per-seed rows).

    ``aug`` is the compared factor: the aug, or the level of another factor (compare.py ``--factor``)."""
    rows = []
    multi_data = used["data"].nunique() > 1
    for data, model in panel_groups(used):
        augs = sorted(used.loc[(used["data"] == data) & (used["model"] == model), "aug"].unique(), key=aug_sort_key)
        prefix = f"[{data}] " if multi_data else ""
        for aug in (a for a in augs if a != baseline):
            if baseline not in augs:
                row = _empty_comparison(data, model, aug, baseline)
                rows.append(_not_tested(row, f"not compared, no finished {baseline} runs for {model}", prefix))
            else:
                rows.append(_compare_one(used, data, model, aug, preds, n_boot, seed, prefix, baseline))
    seed_rows = [{**r, "baseline": baseline} for row in rows for r in row.pop("_seed_rows", [])]
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS), pd.DataFrame(seed_rows)
