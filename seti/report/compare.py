"""Build a comparison report (Markdown + self-contained HTML + CSV + PNG) from finished sweeps.

The question a sweep answers is "does augmentation X help model Y?". Differences between augs are
small relative to fold-to-fold and seed-to-seed spread, so the report compares each aug with ``none`` on
the SAME validation ids (paired by fold and seed): per fold (unpooled, the verdict's statistic) and pooled
over folds, each with a stratified paired bootstrap CI and a DeLong test, per training seed and across
seeds, and writes a verdict only when it holds across seeds (seti.report.seeds). Failed, missing and
resumed runs are always listed, and what a run was tuned or augmented with is disclosed.

This module is the entry point; the work is done by sweep (collect runs), analysis (the numbers),
tables and render (the words), and seti.figures.report (the plots).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from seti.atomic import atomic_write_csv
from seti.figures import save
from seti.figures.report import auroc_bars, epoch_curves, roc_curves
from seti.report import tables
from seti.report.analysis import Predictions, compare, curve_panels, roc_panels, summarise, usable_runs
from seti.report.disclosures import disclosures, resumed_runs
from seti.report.render import log_wandb, write_html, write_markdown
from seti.report.seeds import seed_spread
from seti.report.sweep import aug_sort_key, collect_runs

__all__ = ["ReportError", "Report", "compare_sweeps", "build_report", "main"]


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


def _write_figures(rep: Report, summary: pd.DataFrame, used: pd.DataFrame, preds: Predictions) -> None:
    """The PNGs beside report.md, each written atomically; a figure with nothing to draw is left out."""
    if used.empty:
        return
    augs = sorted(used["aug"].unique(), key=aug_sort_key)
    multi = used["data"].nunique() > 1
    for title, fname, build in (
        ("Best validation AUROC", "auroc_bars.png", lambda: auroc_bars(summary, augs)),
        ("ROC curves (pooled out-of-fold)", "roc_curves.png", lambda: roc_curves(roc_panels(used, preds), augs, multi)),
        ("Validation AUROC per epoch", "val_auroc_epochs.png", lambda: epoch_curves(curve_panels(used), augs, multi)),
    ):
        fig = build()
        if fig is not None:
            rep.images[title] = save(fig, rep.out_dir / fname, dpi=110)


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

    used = usable_runs(runs)
    preds = Predictions()
    summary = summarise(used)
    comps, seed_comps = compare(used, preds, n_boot, seed)
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
    _write_figures(rep, summary, used, preds)
    missing_preds = used[~used["has_predictions"]]
    rep.problems = [
        f"{r}: finished but has no val_predictions.csv (left out of paired tests and ROC curves)"
        for r in missing_preds["run_name"]
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
    atomic_write_csv(out / "results.csv", runs)
    atomic_write_csv(out / "summary.csv", summary)
    atomic_write_csv(out / "comparisons.csv", comps)
    atomic_write_csv(out / "seed_comparisons.csv", seed_comps)
    atomic_write_csv(out / "seeds.csv", rep.seeds)
    write_markdown(rep, shown, settings)
    write_html(rep, shown, settings)
    log_wandb(rep, shown, force=log_to_wandb)
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
