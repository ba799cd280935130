"""Verdicts over training runs: the training seed, not the validation id, is the random unit.

Why: the id-level DeLong test and bootstrap (:mod:`seti.report.seeds`) hold the trained models fixed. They
answer "do THESE models differ on these ids?", not "does the aug help a model trained again?". One seed
can move a result by as much as an effect, so a verdict must count training variation.

The unit is the seed, its folds averaged: ``d_s`` = mean over seed s's folds of AUROC(aug) - AUROC(none) on
that fold's ids. Every seed validates on the same fold split (``data.seed`` is fixed), so the folds are
fixed strata shared by all seeds, not replicates; and a seed is what a user adds to resolve an effect.

The model is a random-effects (mixed) model of the seed-level differences::

    d_s = mu + u_s + e_s     u_s: the training seed (variance tau^2); e_s: id sampling, DeLong covariance C

Seeds share validation ids, so the e_s are correlated: their shared part ``b`` does not average out over
seeds and does not show in the seeds' spread. Moments give ``var(mean d) = s^2 / S + b`` with
``b = 1'C1 / S^2 - (tr C - 1'C1 / S) / (S (S - 1))`` (``s^2``, the seeds' sample variance, already holds
tau^2 and the unshared id noise), and a t interval on S - 1 degrees of freedom: about exact when the seeds'
spread dominates (the CPU study: seed sd 0.013, shared id sd 0.002), wider than needed when the shared id
noise does. Not a bootstrap over seeds: three seeds give ten distinct resamples, and its interval is far
too narrow. tests/test_report.py checks by simulation that the test rejects about 5% of studies with no
true effect, no more than that when the seeds share id noise (a t test on the seeds alone then rejects
about twice as often), and finds a large effect.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from seti.report.seeds import stack_pairs
from seti.report.stats import delong_contrasts

__all__ = [
    "ALPHA",
    "POWER",
    "RUN_LEVEL_RULE",
    "seed_level_differences",
    "seed_contrasts",
    "run_level_test",
    "plan",
    "minimum_detectable_effect",
    "seeds_needed",
]

ALPHA = 0.05  # two-sided level of every run-level interval and test
POWER = 0.8  # power of the minimum detectable effect and of the seeds-needed estimate
MAX_SEEDS = 10_000  # beyond this, more seeds cannot resolve the effect (the shared id noise dominates)

RUN_LEVEL_RULE = (
    "An effect is established only when the run-level 95% interval excludes 0. Run level: the training seed "
    "is the random unit; each seed's difference is the mean over its folds of AUROC(aug) - AUROC(none) on "
    "that fold's ids, and the interval is a t interval on (seeds - 1) degrees of freedom whose variance is "
    "the seeds' spread / seeds plus the part of the id-sampling (DeLong) covariance the seeds share "
    "(a mixed model: seed effect + id sampling). The seed, not the (seed, fold) run, is the unit because "
    "every seed validates on the same fold split (folds are shared strata, not replicates) and a seed is what "
    "one adds to resolve an effect; not a bootstrap over seeds, which with 3 seeds has 10 distinct resamples "
    "and an interval far too narrow. The id-level per-fold and pooled tests beside it are conditional on "
    "these trained models."
)


def seed_level_differences(
    pairs: Mapping[Hashable, pd.DataFrame],
) -> tuple[list[Hashable], np.ndarray, np.ndarray] | None:
    """Per seed: the mean over its folds of AUC(pred_a) - AUC(pred_b), and their id-sampling covariance.

    ``pairs`` maps ``(seed, fold)`` to a frame ``id, target, pred_a, pred_b``. Returns ``(seeds, d (S,),
    C (S, S))`` (see :func:`seed_contrasts`), or None when no pair has 2 ids of each class.
    """
    stacked = stack_pairs(pairs)
    return None if stacked is None else seed_contrasts(*stacked)


def seed_contrasts(
    keys: Sequence[tuple], y: np.ndarray, scores: Sequence[np.ndarray], mask: np.ndarray
) -> tuple[list[Hashable], np.ndarray, np.ndarray]:
    """``(seeds, d, C)`` from stacked curves (:func:`seti.report.seeds.stack_pairs`): keys ``(seed, fold)``,
    ``scores`` the K aug curves then the K baseline curves. C is the DeLong covariance of the d_s over the
    union of ids, so seeds that share ids correlate."""
    seeds = list(dict.fromkeys(k[0] for k in keys))
    k_n = len(keys)
    contrasts = np.zeros((len(seeds), 2 * k_n))
    for i, s in enumerate(seeds):
        own = [j for j, k in enumerate(keys) if k[0] == s]
        contrasts[i, own] = 1.0 / len(own)
        contrasts[i, [k_n + j for j in own]] = -1.0 / len(own)
    _, d, cov = delong_contrasts(y, scores, contrasts, mask=mask)
    return seeds, d, cov


def _shared_id_var(cov: np.ndarray) -> float:
    """``b``: the id-sampling variance the seeds share (moment estimate, floored at 0)."""
    s = cov.shape[0]
    total = float(cov.sum())
    if s < 2:
        return total
    return max(0.0, total / s**2 - (float(np.trace(cov)) - total / s) / (s * (s - 1)))


def minimum_detectable_effect(
    seed_var: float, shared_var: float, n_seeds: int, alpha: float = ALPHA, power: float = POWER
) -> float:
    """The smallest true difference the run-level test finds with probability ``power`` at ``n_seeds``."""
    if n_seeds < 2 or not (math.isfinite(seed_var) and math.isfinite(shared_var)):
        return math.nan
    df = n_seeds - 1
    factor = sps.t.ppf(1 - alpha / 2, df) + sps.t.ppf(power, df)
    return float(factor * math.sqrt(seed_var / n_seeds + shared_var))


def seeds_needed(
    effect: float, seed_var: float, shared_var: float, alpha: float = ALPHA, power: float = POWER
) -> int | None:
    """Seeds for the run-level test to find ``effect`` with probability ``power``; None when no number of
    seeds can (the shared id noise alone hides it: more validation ids are needed)."""
    target = abs(effect)
    if not (math.isfinite(target) and math.isfinite(seed_var) and math.isfinite(shared_var)) or target == 0:
        return None
    lo, hi = 2, MAX_SEEDS
    if minimum_detectable_effect(seed_var, shared_var, hi, alpha, power) > target:
        return None
    while lo < hi:  # the detectable effect shrinks with every seed added: bisect
        mid = (lo + hi) // 2
        if minimum_detectable_effect(seed_var, shared_var, mid, alpha, power) <= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


def run_level_test(seed_diffs: Sequence[float], id_cov: np.ndarray | None = None, alpha: float = ALPHA) -> dict:
    """The run-level estimate, interval and p from per-seed differences (see the module docstring).

    ``id_cov`` is the DeLong covariance of the differences (None: no id-level part known, e.g. test AUROCs
    without predictions). Returns ``diff, se, ci_lo, ci_hi, p, n_seeds, seed_sd, shared_id_sd,
    established``; with one seed only ``diff`` is set (the seed spread is unknown). :func:`plan` adds what
    a user needs to decide how many seeds to run.
    """
    d = np.asarray([v for v in seed_diffs if v is not None and math.isfinite(v)], dtype=np.float64)
    s = len(d)
    out = {
        "diff": float(d.mean()) if s else math.nan,
        "se": math.nan,
        "ci_lo": math.nan,
        "ci_hi": math.nan,
        "p": math.nan,
        "n_seeds": s,
        "df": math.nan,
        "seed_sd": math.nan,
        "shared_id_sd": math.nan,
        "established": False,
    }
    if s < 2:
        return out
    seed_var = float(d.var(ddof=1))
    shared = _shared_id_var(np.asarray(id_cov, dtype=np.float64)) if id_cov is not None else 0.0
    se = math.sqrt(seed_var / s + shared)
    df = s - 1
    half = float(sps.t.ppf(1 - alpha / 2, df)) * se
    if se > 0:
        p = float(2 * sps.t.sf(abs(out["diff"]) / se, df))
    else:  # every seed gave the same difference and no id noise: no evidence either way unless it is nonzero
        p = 1.0 if out["diff"] == 0 else 0.0
    out.update(
        se=se,
        ci_lo=out["diff"] - half,
        ci_hi=out["diff"] + half,
        p=p,
        df=df,
        seed_sd=math.sqrt(seed_var),
        shared_id_sd=math.sqrt(shared),
    )
    out["established"] = bool(out["ci_lo"] > 0 or out["ci_hi"] < 0)
    return out


def plan(result: dict, alpha: float = ALPHA, power: float = POWER) -> dict:
    """``mde`` (the minimum detectable effect at this many seeds) and ``seeds_needed`` (to resolve the
    observed difference) for a :func:`run_level_test` result; NaN / None with fewer than 2 seeds."""
    n = result["n_seeds"]
    if n < 2:
        return {"mde": math.nan, "seeds_needed": None}
    seed_var, shared = result["seed_sd"] ** 2, result["shared_id_sd"] ** 2
    return {
        "mde": minimum_detectable_effect(seed_var, shared, n, alpha, power),
        "seeds_needed": seeds_needed(result["diff"], seed_var, shared, alpha, power),
    }
