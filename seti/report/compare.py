"""Build a comparison report (Markdown + self-contained HTML + CSV + PNG) from finished sweeps.

The question a sweep answers is "does augmentation X help model Y?". Differences between augs are small
relative to seed-to-seed spread, so the report compares each aug with ``none`` on the SAME validation ids
(paired by fold and seed) and calls an effect established only when it holds over training seeds
(seti.report.runlevel); the id-level tests, conditional on the trained models, stand beside it. Runs made by
different code are not paired unless the caller allows it (seti.report.provenance). Failed, missing and
resumed runs are always listed, and what a run was tuned or augmented with is disclosed.

This module is the entry point; the work is done by sweep (collect runs), analysis (the numbers),
comparison (the paired tests and verdicts), tables and render (the words), and seti.figures.report (the plots).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from seti.atomic import atomic_write_csv
from seti.figures import save
from seti.figures.report import auroc_bars, epoch_curves, roc_curves
from seti.report import tables
from seti.report.analysis import BASELINE_AUG, Predictions, curve_panels, roc_panels, summarise, usable_runs
from seti.report.comparison import compare
from seti.report.disclosures import disclosures, resumed_runs
from seti.report.provenance import check_code, code_disclosures
from seti.report.render import CSV_FILES, log_wandb, write_html, write_markdown
from seti.report.result import Report, ReportError
from seti.report.seeds import seed_spread
from seti.report.sweep import REPORT_DIR_NAME, aug_sort_key, collect_runs, parse_where

__all__ = ["ReportError", "Report", "compare_sweeps", "main"]


def _write_figures(rep: Report, summary: pd.DataFrame, used: pd.DataFrame, preds: Predictions) -> None:
    """The PNGs beside report.md, each written atomically; a figure with nothing to draw is left out."""
    if used.empty:
        return
    augs = sorted(used["aug"].unique(), key=aug_sort_key)
    multi = used["data"].nunique() > 1
    for title, fname, build in (
        ("Validation AUROC", "auroc_bars.png", lambda: auroc_bars(summary, augs)),
        ("ROC curves (pooled out-of-fold)", "roc_curves.png", lambda: roc_curves(roc_panels(used, preds), augs, multi)),
        (
            "Validation AUROC per epoch (torchmetrics, as logged)",
            "val_auroc_epochs.png",
            lambda: epoch_curves(curve_panels(used), augs, multi),
        ),
    ):
        fig = build()
        if fig is not None:
            rep.images[title] = save(fig, rep.out_dir / fname, dpi=110)


def _baseline(used: pd.DataFrame, factor: str | None, baseline: str | None) -> str:
    """What the other levels are compared with: ``none`` for augs; for ``--factor KEY`` the level given as
    ``--baseline VALUE``, else the smallest (numbers by value)."""
    if factor is None:
        if baseline is not None:
            raise ReportError("--baseline needs --factor (augs are always compared with none)")
        return BASELINE_AUG
    levels = sorted(used["aug"].dropna().unique()) if not used.empty else []
    if baseline is not None:
        wanted = f"{factor}={baseline}"
        if levels and wanted not in levels:
            raise ReportError(f"--baseline {baseline}: no finished run has {wanted} (found {', '.join(levels)})")
        return wanted

    def natural(level: str) -> tuple:
        value = level.split("=", 1)[1]
        try:
            return (0, float(value), value)
        except ValueError:
            return (1, 0.0, value)

    return min(levels, key=natural) if levels else f"{factor}=?"


def compare_sweeps(
    sweep_dirs: str | Path | Sequence[str | Path],
    out_dir: str | Path | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    log_to_wandb: bool = False,
    allow_mixed_code: bool = False,
    factor: str | None = None,
    baseline: str | None = None,
    where: dict[str, str] | None = None,
) -> Report:
    """Collect the runs of ``sweep_dirs``, compare them and write the report; returns a :class:`Report`.

    Writes into ``out_dir`` (default ``<first sweep dir>/report``): the CSVs (:data:`CSV_FILES`), report.md,
    report.html and the PNG plots. Raises ``FileNotFoundError`` for a missing directory, :class:`ReportError`
    if no run directory is found, and :class:`seti.report.provenance.MixedCodeError` when the runs of a
    comparison come from different code and ``allow_mixed_code`` is False (then a warning and a disclosure).
    """
    if isinstance(sweep_dirs, (str, Path)):
        sweep_dirs = [sweep_dirs]
    sweep_dirs = [Path(d) for d in sweep_dirs]
    if not sweep_dirs:
        raise ReportError("no sweep directories given")
    runs = collect_runs(sweep_dirs, factor, where)
    if runs.empty:
        chosen = f" matching --where {' '.join(f'{k}={v}' for k, v in where.items())}" if where else ""
        raise ReportError(
            f"no runs{chosen} found under {', '.join(str(d) for d in sweep_dirs)}: a run directory holds "
            "'.hydra/config.yaml' or 'metrics.json' (is this the sweep directory printed by train.py?)"
        )
    preds = Predictions()
    used = usable_runs(runs, preds)
    baseline = _baseline(used, factor, baseline)
    mixed = check_code(used, baseline, allow_mixed_code)  # before anything is written
    for line in mixed:
        warnings.warn(line, stacklevel=2)
    out = Path(out_dir) if out_dir is not None else sweep_dirs[0] / REPORT_DIR_NAME
    out.mkdir(parents=True, exist_ok=True)
    runs.loc[used.index, "val_auroc"] = used["val_auroc"]

    summary = summarise(used)
    comps, seed_comps = compare(used, preds, n_boot, seed, baseline)
    rep = Report(
        out_dir=out,
        runs=runs,
        summary=summary,
        comparisons=comps,
        seed_comparisons=seed_comps,
        seeds=seed_spread(used),
        resumed=resumed_runs(runs),
        code=code_disclosures(used) + mixed,
        disclosures=disclosures(used),
    )
    _write_figures(rep, summary, used, preds)
    finished = runs[(runs["status"] == "finished") & runs["duplicate_of"].isna()]
    left_out = finished[~finished.index.isin(used.index)]
    rep.problems = [
        f"{r}: finished but has no usable val_predictions.csv (left out of every number)" for r in left_out["run_name"]
    ] + preds.problems
    rep.verdicts = [v for v in comps["verdict"].tolist() if v]

    shown = {
        "auc": tables.auc_table(summary),
        "comparisons": tables.comparison_table(comps),
        "problems": tables.problem_table(runs),
        "seeds": tables.seed_table(rep.seeds),
        "seed_comparisons": tables.seed_comparison_table(seed_comps),
        "resumed": tables.resumed_table(rep.resumed),
    }
    settings = tables.settings_table(runs)
    frames = {
        "results.csv": runs,
        "summary.csv": summary,
        "comparisons.csv": comps,
        "seeds.csv": rep.seeds,
        "seed_comparisons.csv": seed_comps,
    }
    for _, name in CSV_FILES:
        atomic_write_csv(out / name, frames[name])
    write_markdown(rep, shown, settings)
    write_html(rep, shown, settings)
    log_wandb(rep, shown, force=log_to_wandb)
    return rep


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python scripts/compare.py SWEEP_DIR [...] [--out DIR] [--n-boot N] [--seed S] [--wandb]
    [--allow-mixed-code]``."""
    parser = argparse.ArgumentParser(
        prog="compare.py",
        description="Compare the runs of one or more sweeps: AUROC table, paired aug-vs-none tests (run level "
        "over training seeds; id level: bootstrap CI + DeLong), plots, and a Markdown/HTML report in "
        f"SWEEP_DIR/{REPORT_DIR_NAME}/.",
    )
    parser.add_argument("sweep_dirs", nargs="+", metavar="SWEEP_DIR", help="sweep directory (runs at any depth below)")
    parser.add_argument("--out", default=None, help=f"report directory (default: FIRST_SWEEP_DIR/{REPORT_DIR_NAME})")
    parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument(
        "--wandb", action="store_true", help="also log tables and plots to W&B (offline unless WANDB_MODE is set)"
    )
    parser.add_argument(
        "--factor",
        default=None,
        metavar="KEY",
        help="compare the levels of this config key (e.g. data.batch_size) instead of augs; runs should share "
        "their aug",
    )
    parser.add_argument(
        "--baseline", default=None, metavar="VALUE", help="with --factor: the level compared with (default: smallest)"
    )
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only runs whose config has this value (repeatable), e.g. --where aug=none to compare "
        "data.background within one arm of a two-factor sweep",
    )
    parser.add_argument(
        "--allow-mixed-code",
        action="store_true",
        help="pair runs whose metrics.json name different commits or library versions (refused by default)",
    )
    args = parser.parse_args(argv)
    for d in args.sweep_dirs:
        if not Path(d).is_dir():
            parser.error(f"sweep directory {d!r} does not exist or is not a directory")
    if args.n_boot < 1:
        parser.error("--n-boot must be >= 1")
    try:
        where = parse_where(args.where)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        rep = compare_sweeps(
            args.sweep_dirs,
            out_dir=args.out,
            n_boot=args.n_boot,
            seed=args.seed,
            log_to_wandb=args.wandb,
            allow_mixed_code=args.allow_mixed_code,
            factor=args.factor,
            baseline=args.baseline,
            where=where,
        )
    except ReportError as exc:
        print(f"compare.py: error: {exc}", file=sys.stderr)
        return 2
    n_bad = int((rep.runs["status"] != "finished").sum())
    print(f"{len(rep.runs)} runs ({n_bad} failed or missing)")
    for v in rep.verdicts or ["(no aug vs none comparisons possible)"]:
        print(f"  {v}")
    for line in rep.code:
        print(f"  code: {line}")
    for d in rep.disclosures:
        print(f"  disclosure: {d}")
    for r in rep.resumed.itertuples() if not rep.resumed.empty else []:
        print(f"  resumed: {r.run_name} ({r.resume_note})")
    for p in rep.problems:
        print(f"  problem: {p}")
    print(f"report: {rep.html_path}")
    print(f"        {rep.markdown_path}")
    return 0
