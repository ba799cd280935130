"""The report's tables as shown to a reader: numbers formatted, runs named, one frame per section.

Markdown, HTML and W&B all render these same frames (:mod:`seti.report.render`), so the three agree.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from seti.report.analysis import BASELINE_AUG, REFERENCE_MODELS
from seti.report.formatting import fmt_auc, fmt_diff, interval, p_cell
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


def auc_table(summary: pd.DataFrame) -> pd.DataFrame:
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


def comparison_table(comps: pd.DataFrame) -> pd.DataFrame:
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
                "per-fold mean diff [95% CI]": interval(c["unpooled_diff"], c["unpooled_ci_lo"], c["unpooled_ci_hi"]),
                "p (per-fold)": p_cell(c["unpooled_p"]),
                "per seed": c["seed_diffs"] or "—",
                "pooled AUROC (aug / none)": f"{fmt_auc(c['auc_aug'])} / {fmt_auc(c['auc_none'])}",
                "pooled diff [95% CI]": interval(c["diff"], c["ci_lo"], c["ci_hi"]),
                "p (pooled)": p_cell(c["p_delong"]),
                "fold x seed pairs": int(c["n_fold_pairs"]),
                "ids (pos)": f"{int(c['n_ids'])} ({int(c['n_pos'])})" if c["n_ids"] else "—",
                "seeds": c["seeds"] or "—",
                "effect": c["effect"],
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
                "aug vs none": f"{r['aug']} vs {BASELINE_AUG}",
                "seed": r["seed"],
                "folds": r["folds"],
                "per-fold mean diff [95% CI]": interval(r["unpooled_diff"], r["unpooled_ci_lo"], r["unpooled_ci_hi"]),
                "p": p_cell(r["unpooled_p"]),
                "pooled diff": fmt_diff(r["pooled_diff"]),
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
