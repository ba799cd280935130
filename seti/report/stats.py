"""ROC AUC statistics for comparing models evaluated on the SAME validation ids.

Two runs scored on the same cadences are correlated (easy ids are easy for both), so an
unpaired comparison of their AUCs is far too conservative. Here:

* :func:`delong_covariance` / :func:`delong_roc_variance` / :func:`delong_paired_test` implement
  the fast DeLong algorithm (Sun & Xu 2014, "Fast implementation of DeLong's algorithm for
  comparing the areas under correlated receiver operating characteristic curves",
  IEEE Signal Processing Letters 21(11)), which uses midranks so ties count 1/2, exactly like
  ``sklearn.metrics.roc_auc_score``.
* :func:`paired_bootstrap_auc_diff` resamples ids (stratified by class) and applies the same
  resample to both score vectors.

All functions validate their inputs and raise ``ValueError`` with a message that says what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from seti.metrics import _check_matrix, auc_score, rankdata, roc_curve_points

__all__ = [
    "auc_score",
    "delong_covariance",
    "delong_roc_variance",
    "delong_paired_test",
    "delong_contrast_test",
    "delong_contrasts",
    "bootstrap_aucs",
    "paired_bootstrap_auc_diff",
    "roc_curve_points",
]


# ----------------------------------------------------------------------------- DeLong
def delong_covariance(y_true, scores: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their DeLong covariance matrix for k score vectors on the same ids.

    ``scores`` is a (k, N) array or a list of k length-N vectors. Returns ``(aucs (k,), cov (k, k))``
    with ``cov = S10 / m + S01 / n`` (m positives, n negatives), where S10/S01 are the sample
    covariances (ddof=1) of the structural components V10 (per positive) and V01 (per negative),
    computed in O(k N log N) from midranks as in Sun & Xu (2014).
    """
    y, s = _check_matrix(y_true, scores)
    m = int(y.sum())
    n = y.size - m
    if m < 2 or n < 2:
        raise ValueError(
            f"DeLong variance needs at least 2 positives and 2 negatives (got {m} positives, {n} negatives)"
        )
    x = s[:, y]  # (k, m) positives
    z = s[:, ~y]  # (k, n) negatives
    tx = rankdata(x, axis=1)
    tz = rankdata(z, axis=1)
    tall = rankdata(np.concatenate([x, z], axis=1), axis=1)
    aucs = (tall[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    v10 = (tall[:, :m] - tx) / n  # for each positive: fraction of negatives it beats (ties 1/2)
    v01 = 1.0 - (tall[:, m:] - tz) / m  # for each negative: fraction of positives that beat it
    s10 = np.atleast_2d(np.cov(v10, ddof=1))
    s01 = np.atleast_2d(np.cov(v01, ddof=1))
    cov = s10 / m + s01 / n
    return aucs, cov


def delong_roc_variance(y_true, scores) -> tuple[float, float]:
    """(AUC, DeLong variance of the AUC) for one score vector."""
    aucs, cov = delong_covariance(y_true, [scores])
    return float(aucs[0]), float(cov[0, 0])


def _two_sided_p(diff: float, var: float) -> float:
    if not math.isfinite(var) or var <= 1e-15:
        # Zero variance: both curves place every pair identically (e.g. identical scores, or both
        # perfect). Then the difference is exactly 0 and there is no evidence of any effect.
        return 1.0 if abs(diff) <= 1e-12 else 0.0
    z = diff / math.sqrt(var)
    return float(math.erfc(abs(z) / math.sqrt(2.0)))  # = 2 * (1 - Phi(|z|))


def delong_contrast_test(y_true, scores: Sequence, contrast, mask=None) -> tuple[np.ndarray, float, float]:
    """Test ``contrast @ aucs == 0`` for k correlated AUCs; returns (aucs, estimate, two-sided p).

    Generalises the paired test, e.g. the mean over seeds of (aug - none) with
    contrast ``[1/S]*S + [-1/S]*S``. With ``mask`` (k, N) bool, vector j is scored only on the ids
    where ``mask[j]`` is True; the variance then sums each id's DeLong structural components over
    the vectors that contain it, scaled by each vector's own counts, so partially overlapping id
    sets are handled (with full masks this equals ``c' (S10/m + S01/n) c`` exactly).
    """
    y, s = _check_matrix(y_true, scores)
    c = np.asarray(contrast, dtype=np.float64)
    if c.shape != (s.shape[0],):
        raise ValueError(f"contrast has shape {c.shape}, expected ({s.shape[0]},)")
    mk = _check_mask(mask, s.shape, y)
    if mk.all():
        aucs, cov = delong_covariance(y, s)
        est = float(c @ aucs)
        return aucs, est, _two_sided_p(est, float(c @ cov @ c))
    aucs, est, cov = delong_contrasts(y, s, c[None, :], mk)
    return aucs, float(est[0]), _two_sided_p(float(est[0]), float(cov[0, 0]))


def delong_contrasts(y_true, scores: Sequence, contrasts, mask=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Several contrasts of k correlated AUCs at once: ``(aucs (k,), estimates (q,), covariance (q, q))``.

    ``contrasts`` is (q, k). The covariance is the DeLong one, from the same per-id structural components
    as :func:`delong_contrast_test` (masks allowed), so e.g. the id-sampling covariance of per-seed
    differences that share validation ids comes out whole (:mod:`seti.report.runlevel` needs it).
    """
    y, s = _check_matrix(y_true, scores)
    c = np.atleast_2d(np.asarray(contrasts, dtype=np.float64))
    if c.shape[1] != s.shape[0]:
        raise ValueError(f"contrasts have shape {c.shape}, expected (q, {s.shape[0]})")
    mk = _check_mask(mask, s.shape, y)
    infl_pos = np.zeros((c.shape[0], int(y.sum())))
    infl_neg = np.zeros((c.shape[0], int((~y).sum())))
    aucs = np.empty(s.shape[0])
    for j in range(s.shape[0]):
        yj, sj = y[mk[j]], s[j, mk[j]]
        mj, nj = int(yj.sum()), int((~yj).sum())
        x, z = sj[yj], sj[~yj]
        tall = rankdata(np.r_[x, z])
        aucs[j] = (tall[:mj].sum() - mj * (mj + 1) / 2.0) / (mj * nj)
        v10 = (tall[:mj] - rankdata(x)) / nj
        v01 = 1.0 - (tall[mj:] - rankdata(z)) / mj
        infl_pos[:, mk[j][y]] += np.outer(c[:, j], (v10 - aucs[j]) / math.sqrt(mj * (mj - 1)))
        infl_neg[:, mk[j][~y]] += np.outer(c[:, j], (v01 - aucs[j]) / math.sqrt(nj * (nj - 1)))
    return aucs, c @ aucs, infl_pos @ infl_pos.T + infl_neg @ infl_neg.T


def delong_paired_test(y_true, scores_a, scores_b) -> tuple[float, float, float, float]:
    """DeLong test for two correlated ROC curves on the same ids.

    Returns ``(auc_a, auc_b, diff = auc_a - auc_b, two-sided p)`` with
    ``z = diff / sqrt(var_a + var_b - 2 cov_ab)``.
    """
    aucs, diff, p = delong_contrast_test(y_true, [scores_a, scores_b], [1.0, -1.0])
    return float(aucs[0]), float(aucs[1]), diff, p


# ----------------------------------------------------------------------------- bootstrap
def _check_mask(mask, shape: tuple[int, int], y: np.ndarray) -> np.ndarray:
    if mask is None:
        return np.ones(shape, dtype=bool)
    mk = np.asarray(mask, dtype=bool)
    if mk.ndim == 1:
        mk = mk[None, :]
    if mk.shape != shape:
        raise ValueError(f"mask has shape {mk.shape}, expected {shape} (one row per score vector)")
    for j, row in enumerate(mk):
        if row[y].sum() < 2 or row[~y].sum() < 2:
            raise ValueError(f"mask row {j} keeps fewer than 2 positives or 2 negatives")
    return mk


def bootstrap_aucs(y_true, scores: Sequence, n_boot: int = 2000, seed: int = 0, mask=None) -> np.ndarray:
    """AUCs of k score vectors on ``n_boot`` stratified bootstrap resamples of the ids: (n_boot, k).

    Every resample keeps the class counts (positives and negatives are resampled separately with
    replacement), so each has both classes, and the SAME resample is applied to all k vectors,
    which is what makes differences paired. A resample is represented by draw counts per
    id, so the AUC of a resample is computed from precomputed sort orders in O(N) per resample
    (exact, ties 1/2), in chunks to bound memory. Deterministic given ``seed``.

    ``mask`` (k, N) bool, optional: vector j is only scored on the ids where ``mask[j]`` is True
    (e.g. seeds that validated on different folds); the ids are still resampled jointly, so the
    overlap between the vectors' id sets is respected.
    """
    y, s = _check_matrix(y_true, scores)
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    n_boot = int(n_boot)
    m = int(y.sum())
    n = y.size - m
    k = s.shape[0]
    mk = _check_mask(mask, s.shape, y)
    full = bool(mk.all())
    mpos, mneg = mk[:, y], mk[:, ~y]

    # For each vector j: the 1-based rank of every negative among its sorted negatives (n + 1 for
    # masked-out ones: a bin no lookup reaches), and for every positive how many sorted negatives
    # lie strictly below (lo) / below-or-equal (hi) its score (0 for masked-out positives: c[0] = 0).
    neg_rank, lo_idx, hi_idx = [], [], []
    for j in range(k):
        neg_all = s[j, ~y]
        present = np.flatnonzero(mneg[j])
        neg = neg_all[present]
        order = np.argsort(neg, kind="mergesort")
        rank = np.full(n, n + 1, dtype=np.int64)
        rank[present[order]] = np.arange(1, len(present) + 1)
        neg_sorted = neg[order]
        pos = s[j, y]
        lo = np.where(mpos[j], np.searchsorted(neg_sorted, pos, side="left"), 0)
        hi = np.where(mpos[j], np.searchsorted(neg_sorted, pos, side="right"), 0)
        neg_rank.append(rank)
        lo_idx.append(lo)
        hi_idx.append(hi)
    no_ties = [np.array_equal(lo, hi) for lo, hi in zip(lo_idx, hi_idx)]

    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, k), dtype=np.float64)
    width = n + 2
    chunk = max(1, min(n_boot, 2_000_000 // max(1, m + n)))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        pos_draw = rng.integers(0, m, size=(b, m))  # resampled positives (indices), one row per resample
        neg_draw = rng.integers(0, n, size=(b, n))
        row_off = np.arange(b)[:, None] * width
        for j in range(k):
            # c[r, t] = number of drawn negatives among the t lowest-scored negatives of vector j
            # (histogram at the 1-based rank, so the cumulative sum at t counts 0-based ranks < t)
            neg_hist = np.bincount((neg_rank[j][neg_draw] + row_off).ravel(), minlength=b * width)
            c = np.cumsum(neg_hist.reshape(b, width), axis=1)
            # 2 * AUC numerator = sum over drawn positives of (c[lo] + c[hi]): negatives strictly
            # below plus half of the tied ones; count drawn positives per lo/hi position first.
            lo_hist = np.bincount((lo_idx[j][pos_draw] + row_off).ravel(), minlength=b * width)
            if no_ties[j]:
                both = 2 * lo_hist
            else:
                both = lo_hist + np.bincount((hi_idx[j][pos_draw] + row_off).ravel(), minlength=b * width)
            num2 = np.einsum("ij,ij->i", c, both.reshape(b, width))
            if full:
                denom = 2.0 * m * n
            else:
                denom = 2.0 * mpos[j][pos_draw].sum(axis=1) * mneg[j][neg_draw].sum(axis=1)
                denom = np.where(denom > 0, denom, np.nan)
            out[start : start + b, j] = num2 / denom
    return out


def paired_bootstrap_auc_diff(
    y_true, scores_a, scores_b, n_boot: int = 2000, seed: int = 0, ci: float = 0.95
) -> tuple[float, float, float]:
    """Observed ``AUC(a) - AUC(b)`` and its percentile bootstrap CI: ``(diff, lo, hi)``."""
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    y, s = _check_matrix(y_true, [scores_a, scores_b])
    diff = auc_score(y, s[0]) - auc_score(y, s[1])
    boots = bootstrap_aucs(y, s, n_boot=n_boot, seed=seed)
    d = boots[:, 0] - boots[:, 1]
    alpha = (1.0 - ci) / 2.0
    lo, hi = np.quantile(d, [alpha, 1.0 - alpha])
    return float(diff), float(lo), float(hi)
