"""Id-level statistics, conditional on the trained models: per-fold (unpooled) paired differences, per
training seed, and an id-level effect that must hold across seeds (the verdict is :mod:`seti.report.runlevel`'s).

Why: pooling validation predictions over folds mixes score scales (each fold's model calibrates
differently), so a pooled AUROC can sit below every fold's own AUROC. The unpooled statistic is the mean,
over (fold, seed) pairs, of AUROC(aug) - AUROC(none) on that fold's ids; its DeLong variance and bootstrap
CI treat all the curves jointly (the same ids are shared by the runs of a fold, and by every seed when the
fold split has its own seed). One training seed can flip a small effect, so the id-level effect needs the
combined CI off zero AND every seed's own difference on the same side.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd

from seti.report.stats import bootstrap_aucs, delong_contrast_test
from seti.report.sweep import aug_sort_key, model_sort_key

__all__ = ["VERDICT_RULE", "stack_pairs", "unpooled_contrast", "seed_verdict", "seed_spread"]

VERDICT_RULE = (
    "The id-level effect (conditional on these trained models) says helps/hurts when BOTH hold: the 95% "
    "bootstrap CI of the per-fold difference (mean over (fold, seed) pairs of AUROC(aug) - AUROC(none) on that "
    "fold's ids, all curves resampled jointly by id) excludes 0, AND every training seed's own difference has "
    "the same sign; a CI off zero with seeds that disagree is 'inconsistent across seeds'. It counts only "
    "validation-id sampling, not training variation: the verdict is the run-level one."
)


def stack_pairs(
    pairs: Mapping[Hashable, pd.DataFrame],
) -> tuple[list[Hashable], np.ndarray, list[np.ndarray], np.ndarray] | None:
    """All run pairs' curves over the union of their ids: ``(keys, y, scores, mask)``.

    ``scores`` holds every pair's ``pred_a`` curve, then every pair's ``pred_b`` (2K vectors); ``mask``
    (2K, N) keeps each curve on its own ids, so folds never pool and runs sharing ids correlate. Pairs
    with fewer than 2 ids of a class are left out; None when none is left.
    """
    usable = {k: f for k, f in pairs.items() if f["target"].sum() >= 2 and (1 - f["target"]).sum() >= 2}
    if not usable:
        return None
    keys = list(usable)
    frames = {k: usable[k].set_index("id") for k in keys}
    union = frames[keys[0]].index
    for k in keys[1:]:
        union = union.union(frames[k].index)
    target = pd.concat([frames[k]["target"] for k in keys])
    target = target[~target.index.duplicated()]
    y = target.loc[union].to_numpy()
    scores = [frames[k]["pred_a"].reindex(union).fillna(0.0).to_numpy() for k in keys]
    scores += [frames[k]["pred_b"].reindex(union).fillna(0.0).to_numpy() for k in keys]
    mask = np.vstack([union.isin(frames[k].index) for k in keys] * 2)
    return keys, y, scores, mask


def unpooled_contrast(
    pairs: Mapping[Hashable, pd.DataFrame], n_boot: int, seed: int = 0, ci: float = 0.95
) -> dict | None:
    """Mean over ``pairs`` of AUC(pred_a) - AUC(pred_b), with DeLong p and a paired bootstrap CI.

    ``pairs`` maps a key (e.g. (seed, fold)) to a frame ``id, target, pred_a, pred_b`` (one run pair on one
    fold's ids), stacked by :func:`stack_pairs`. Returns None when no pair is usable, else a dict with
    ``diff, ci_lo, ci_hi, p, n_pairs, n_ids, per_pair`` (each pair's own difference, by key).
    """
    stacked = stack_pairs(pairs)
    if stacked is None:
        return None
    keys, y, scores, mask = stacked
    k_n = len(keys)
    contrast = np.r_[np.full(k_n, 1.0 / k_n), np.full(k_n, -1.0 / k_n)]
    aucs, est, p = delong_contrast_test(y, scores, contrast, mask=mask)
    boots = bootstrap_aucs(y, scores, n_boot=n_boot, seed=seed, mask=mask) @ contrast
    boots = boots[np.isfinite(boots)]
    alpha = (1.0 - ci) / 2.0
    lo, hi = np.quantile(boots, [alpha, 1.0 - alpha]) if len(boots) else (math.nan, math.nan)
    return {
        "diff": float(est),
        "ci_lo": float(lo),
        "ci_hi": float(hi),
        "p": float(p),
        "n_pairs": k_n,
        "n_ids": int(len(y)),
        "per_pair": {k: float(aucs[i] - aucs[k_n + i]) for i, k in enumerate(keys)},
    }


def seed_verdict(ci_lo: float, ci_hi: float, seed_diffs: Sequence[float]) -> str:
    """'helps' | 'hurts' | 'inconsistent across seeds' | 'no detectable effect' (see :data:`VERDICT_RULE`)."""
    finite = [d for d in seed_diffs if d is not None and math.isfinite(d)]
    if not (math.isfinite(ci_lo) and math.isfinite(ci_hi)) or not finite:
        return "no detectable effect"
    if ci_lo > 0 and all(d > 0 for d in finite):
        return "helps"
    if ci_hi < 0 and all(d < 0 for d in finite):
        return "hurts"
    if ci_lo > 0 or ci_hi < 0:
        return "inconsistent across seeds"
    return "no detectable effect"


def seed_spread(used: pd.DataFrame) -> pd.DataFrame:
    """Per (data, model, aug): each seed's validation AUROC (of val_predictions.csv, mean over its folds), and
    mean, sample std, min and max over seeds; the test AUROC likewise where the runs have one. Only seeds
    whose runs cover the same folds are comparable, so the folds are listed per row."""
    rows = []
    if used.empty:
        return pd.DataFrame()
    for (data, model, aug), g in used.groupby(["data", "model", "aug"], sort=False):
        per_seed = g.groupby("seed", dropna=False)
        values = {s: float(x["val_auroc"].astype(float).mean()) for s, x in per_seed}
        tests = {s: float(x["test_auroc"].astype(float).mean()) for s, x in per_seed}
        tests = {s: v for s, v in tests.items() if math.isfinite(v)}
        folds = {s: ",".join(str(f) for f in sorted(x["fold"].dropna().unique())) for s, x in per_seed}
        v = np.array(list(values.values()), dtype=float)
        t = np.array(list(tests.values()), dtype=float)
        rows.append(
            {
                "data": data,
                "model": model,
                "aug": aug,
                "n_seeds": len(v),
                "seed_values": "; ".join(f"{s}: {values[s]:.4f}" for s in sorted(values, key=_seed_key)),
                "folds": ", ".join(sorted(set(folds.values()))),
                "mean_over_seeds": float(v.mean()),
                "std_over_seeds": float(v.std(ddof=1)) if len(v) > 1 else math.nan,
                "min_over_seeds": float(v.min()),
                "max_over_seeds": float(v.max()),
                "test_seed_values": "; ".join(f"{s}: {tests[s]:.4f}" for s in sorted(tests, key=_seed_key)),
                "test_mean_over_seeds": float(t.mean()) if len(t) else math.nan,
                "test_std_over_seeds": float(t.std(ddof=1)) if len(t) > 1 else math.nan,
            }
        )
    df = pd.DataFrame(rows)
    order = sorted(
        range(len(df)), key=lambda i: (str(df["data"][i]), model_sort_key(df["model"][i]), aug_sort_key(df["aug"][i]))
    )
    return df.iloc[order].reset_index(drop=True)


def _seed_key(s) -> tuple:
    return (s is None or (isinstance(s, float) and math.isnan(s)), s if isinstance(s, (int, np.integer)) else 0)
