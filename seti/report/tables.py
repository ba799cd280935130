"""The report's tables as shown to a reader: numbers formatted, runs named, one frame per section.

Markdown, HTML and W&B all render these same frames (:mod:`seti.report.render`), so the three agree.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from seti.report.analysis import BASELINE_AUG, REFERENCE_MODELS
from seti.report.formatting import fmt_diff, fmt_sd, interval, p_cell
from seti.report.sweep import aug_sort_key, model_sort_key

__all__ = [
    "settings_table",
    "auc_table",
    "comparison_table",
    "seed_table",
    "seed_comparison_table",
    "resumed_table",
    "problem_table",
]


def settings_table(runs: pd.DataFrame) -> pd.DataFrame:
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
                "batch": vals("batch_size"),
                "lr": vals("lr"),
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


def _mean_sd(mean: float, sd: float, n: int | None = None) -> str:
    if not math.isfinite(mean):
        return "—"
    text = f"{mean:.4f}" + (f" ± {sd:.4f}" if math.isfinite(sd) else "")
    return text + (f" (n={n})" if n is not None else "")


def auc_table(summary: pd.DataFrame) -> pd.DataFrame:
    """model x aug pivot of validation AUROC 'mean ± std (n=k)', the test AUROC beside each (data if mixed)."""
    if summary.empty:
        return pd.DataFrame()
    multi = summary["data"].nunique() > 1
    augs = sorted(summary["aug"].unique(), key=aug_sort_key)
    has_test = bool(summary["n_test"].gt(0).any())
    rows = []
    for data, model in dict.fromkeys(zip(summary["data"], summary["model"])):
        row = {"data": data} if multi else {}
        row["model"] = f"{model} (reference)" if model in REFERENCE_MODELS else model
        for aug in augs:
            hit = summary[(summary["data"] == data) & (summary["model"] == model) & (summary["aug"] == aug)]
            h = hit.iloc[0] if not hit.empty else None
            row[f"{aug}: val"] = "" if h is None else _mean_sd(h["mean_val_auroc"], h["std_val_auroc"], int(h["n"]))
            if has_test:
                row[f"{aug}: test"] = (
                    "" if h is None or not h["n_test"] else _mean_sd(h["mean_test_auroc"], h["std_test_auroc"])
                )
        rows.append(row)
    return pd.DataFrame(rows)


def _seeds_needed(c: pd.Series) -> str:
    if c["effect"] in ("helps", "hurts"):
        return "resolved"
    if not (isinstance(c["n_seeds"], (int, float)) and c["n_seeds"] >= 2):
        return "—"
    needed = c["seeds_needed"]
    return str(int(needed)) if isinstance(needed, (int, float)) and math.isfinite(needed) else "none suffices"


def comparison_table(comps: pd.DataFrame) -> pd.DataFrame:
    """One row per comparison: the run-level verdict first, then the conditional id-level tests and the test split."""
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
                "effect (run level)": c["effect"],
                "run-level diff [95% CI]": interval(c["run_diff"], c["run_ci_lo"], c["run_ci_hi"]),
                "p (run level)": p_cell(c["run_p"]),
                "seeds": int(c["n_seeds"]) if pd.notna(c["n_seeds"]) else 0,
                "seed sd": fmt_sd(c["seed_sd"]),
                "detectable (80% power)": fmt_sd(c["mde"]),
                "seeds to resolve": _seeds_needed(c),
                "id-level diff [95% CI] (these models)": interval(c["id_diff"], c["id_ci_lo"], c["id_ci_hi"]),
                "p (id level)": p_cell(c["id_p"]),
                "per seed": c["seed_diffs"] or "—",
                "pooled diff [95% CI] (these models)": interval(c["pooled_diff"], c["pooled_ci_lo"], c["pooled_ci_hi"]),
                "p (pooled)": p_cell(c["pooled_p"]),
                "test diff [95% CI, seeds only]": interval(c["test_diff"], c["test_ci_lo"], c["test_ci_hi"]),
                "test per seed": c["test_seed_diffs"] or "—",
                "test vs val sign": c["test_sign"] or "—",
                "ids (pos)": f"{int(c['n_ids'])} ({int(c['n_pos'])})" if c["n_ids"] else "—",
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def seed_table(seeds: pd.DataFrame) -> pd.DataFrame:
    if seeds.empty:
        return pd.DataFrame()
    multi = seeds["data"].nunique() > 1
    rows = []
    for _, r in seeds.iterrows():
        row = {"data": r["data"]} if multi else {}
        row.update(
            {
                "model": f"{r['model']} (reference)" if r["model"] in REFERENCE_MODELS else r["model"],
                "aug": r["aug"],
                "seeds": int(r["n_seeds"]),
                "folds": r["folds"],
                "val per seed (mean over folds)": r["seed_values"],
                "val mean ± std over seeds": _mean_sd(r["mean_over_seeds"], r["std_over_seeds"]),
                "val range": f"{r['min_over_seeds']:.4f} – {r['max_over_seeds']:.4f}",
                "test per seed": r["test_seed_values"] or "—",
                "test mean ± std over seeds": _mean_sd(r["test_mean_over_seeds"], r["test_std_over_seeds"]),
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def seed_comparison_table(seed_comps: pd.DataFrame) -> pd.DataFrame:
    if seed_comps.empty:
        return pd.DataFrame()
    multi = seed_comps["data"].nunique() > 1
    rows = []
    for _, r in seed_comps.iterrows():
        row = {"data": r["data"]} if multi else {}
        row.update(
            {
                "model": r["model"],
                "aug vs none": f"{r['aug']} vs {r.get('baseline', BASELINE_AUG)}",
                "seed": r["seed"],
                "folds": r["folds"],
                "per-fold mean diff [95% CI] (this seed's models)": interval(r["diff"], r["ci_lo"], r["ci_hi"]),
                "p": p_cell(r["p"]),
                "pooled diff": fmt_diff(r["pooled_diff"]),
                "test diff": fmt_diff(r["test_diff"]),
                "test vs val sign": "DISAGREES"
                if r["test_disagrees"]
                else ("agrees" if math.isfinite(r["test_diff"]) else "—"),
                "ids": int(r["n_ids"]),
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def resumed_table(resumed: pd.DataFrame) -> pd.DataFrame:
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


def problem_table(runs: pd.DataFrame) -> pd.DataFrame:
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
