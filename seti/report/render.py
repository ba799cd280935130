"""The report in words: Markdown and self-contained HTML from the tables, and the same tables to W&B.

Every file is written atomically (:mod:`seti.atomic`): a report being rewritten is never seen half done.
"""

from __future__ import annotations

import base64
import html
import os
import sys
from typing import TYPE_CHECKING

import pandas as pd

from seti.atomic import atomic_write_bytes
from seti.report.analysis import REFERENCE_MODELS
from seti.report.seeds import VERDICT_RULE

if TYPE_CHECKING:
    from seti.report.compare import Report

__all__ = ["md_table", "html_table", "write_markdown", "write_html", "log_wandb"]


def md_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table; pipes and newlines in cells are escaped."""
    if df.empty:
        return "_(none)_\n"

    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def html_table(df: pd.DataFrame) -> str:
    """An escaped HTML table styled by the report's CSS."""
    if df.empty:
        return "<p><em>(none)</em></p>\n"
    return df.to_html(index=False, escape=True, border=0, classes="t", na_rep="")


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


def write_markdown(rep: Report, tables: dict[str, pd.DataFrame], settings: pd.DataFrame) -> None:
    """report.md, atomically; images are linked by file name (they sit beside it)."""
    out = ["# Sweep comparison report", ""]
    out += [f"Sweeps: {', '.join(f'`{s}`' for s in sorted(rep.runs['sweep_dir'].unique()))}", ""]
    out += ["## Verdicts", ""]
    out += [f"- {v}" for v in rep.verdicts] or ["_(no aug vs none comparisons possible)_"]
    out += ["", "## Best validation AUROC (model x aug)", "", _SECTION_INTRO["table"], "", md_table(tables["auc"])]
    if any(m in REFERENCE_MODELS for m in rep.summary.get("model", [])):
        out += ["`dedoppler` is a classical, non-learning baseline shown for reference.", ""]
    if rep.disclosures:
        out += ["Disclosures:", ""] + [f"- {d}" for d in rep.disclosures] + [""]
    out += [
        "## Paired comparisons against `none`",
        "",
        _SECTION_INTRO["comparisons"],
        "",
        md_table(tables["comparisons"]),
    ]
    notes = [f"- {r['model']} {r['aug']}: {r['note']}" for _, r in rep.comparisons.iterrows() if r.get("note")]
    if notes:
        out += ["Notes:", ""] + notes + [""]
    out += ["## Seeds", "", _SECTION_INTRO["seeds"], "", md_table(tables["seeds"])]
    out += [
        "### Per-seed paired differences",
        "",
        _SECTION_INTRO["seed_comparisons"],
        "",
        md_table(tables["seed_comparisons"]),
    ]
    out += ["## Plots", ""]
    for title, img in rep.images.items():
        out += [f"### {title}", "", f"![{title}]({img.name})", ""]
    out += ["## Failed, missing and ignored runs", "", md_table(tables["problems"])]
    out += ["## Resumed runs", "", _SECTION_INTRO["resumed"], "", md_table(tables["resumed"])]
    if rep.problems:
        out += ["Other problems:", ""] + [f"- {p}" for p in rep.problems] + [""]
    out += ["## Data and settings", "", md_table(settings)]
    out += [
        "Per-run numbers: `results.csv`; per-group: `summary.csv`; comparisons: `comparisons.csv`; per seed: "
        "`seeds.csv`, `seed_comparisons.csv`.",
        "",
    ]
    atomic_write_bytes(rep.markdown_path, "\n".join(out).encode("utf-8"))


def write_html(rep: Report, tables: dict[str, pd.DataFrame], settings: pd.DataFrame) -> None:
    """report.html, atomically and self-contained: the PNGs are embedded as data URIs."""
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
        html_table(tables["auc"]),
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
        html_table(tables["comparisons"]),
    ]
    notes = [f"{r['model']} {r['aug']}: {r['note']}" for _, r in rep.comparisons.iterrows() if r.get("note")]
    if notes:
        parts.append("<ul class=note>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    parts += [
        "<h2>Seeds</h2>",
        f"<p class=note>{e(_SECTION_INTRO['seeds'])}</p>",
        html_table(tables["seeds"]),
        "<h3>Per-seed paired differences</h3>",
        f"<p class=note>{e(_SECTION_INTRO['seed_comparisons'].replace('`', ''))}</p>",
        html_table(tables["seed_comparisons"]),
    ]
    parts.append("<h2>Plots</h2>")
    for title, img in rep.images.items():
        b64 = base64.b64encode(img.read_bytes()).decode("ascii")
        parts.append(f'<h3>{e(title)}</h3><img alt="{e(title)}" src="data:image/png;base64,{b64}">')
    parts += [
        "<h2>Failed, missing and ignored runs</h2>",
        html_table(tables["problems"]),
        "<h2>Resumed runs</h2>",
        f"<p class=note>{e(_SECTION_INTRO['resumed'])}</p>",
        html_table(tables["resumed"]),
    ]
    if rep.problems:
        parts.append("<ul>" + "".join(f"<li>{e(p)}</li>" for p in rep.problems) + "</ul>")
    parts += [
        "<h2>Data and settings</h2>",
        html_table(settings),
        "<p class=note>Per-run numbers: results.csv; per-group: summary.csv; comparisons: comparisons.csv.</p>",
        "</body></html>",
    ]
    atomic_write_bytes(rep.html_path, "\n".join(parts).encode("utf-8"))


def log_wandb(rep: Report, tables: dict[str, pd.DataFrame], force: bool) -> bool:
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
