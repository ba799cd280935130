"""The report in words: Markdown and self-contained HTML from the tables, and the same tables to W&B.

The report is described once, as a list of :class:`Section` (:func:`document`); the Markdown and HTML
writers only walk it, so the two cannot drift. Every file is written atomically (:mod:`seti.atomic`): a
report being rewritten is never seen half done.
"""

from __future__ import annotations

import base64
import html
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from seti.atomic import atomic_write_bytes
from seti.report.analysis import REFERENCE_MODELS
from seti.report.result import Report
from seti.report.runlevel import RUN_LEVEL_RULE
from seti.report.seeds import VERDICT_RULE

__all__ = ["TITLE", "Section", "document", "md_table", "html_table", "write_markdown", "write_html", "log_wandb"]

TITLE = "Sweep comparison report"


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
    "verdicts": RUN_LEVEL_RULE,
    "table": "Validation AUROC per run (of its val_predictions.csv, the best checkpoint's predictions, scored by "
    "seti.metrics: the same numbers the paired tests use), mean ± sample std over folds and seeds; n = number "
    "of runs. Test: the runs' test_auroc (metrics.json), where a test split exists.",
    "comparisons": "Each aug vs `none` on the SAME validation ids, runs paired by (fold, seed). Run level (the "
    "verdict): each seed's difference is the mean over its folds of AUROC(aug) - AUROC(none); the interval is "
    "a t interval over seeds whose variance adds the id-sampling covariance the seeds share (a mixed model, "
    "seti.report.runlevel). Seed sd: the spread of the seeds' differences; detectable: the smallest true "
    "difference found with 80% power at alpha 0.05 with this many seeds; seeds to resolve: how many seeds "
    "would find the observed difference with 80% power. Id level and pooled, conditional on these trained "
    "models: per fold, the mean over (fold, seed) pairs, with a stratified paired bootstrap 95% CI (all "
    "curves resampled jointly by id) and a DeLong p; pooled, predictions pooled over folds per seed (pooling "
    "mixes the folds' score scales). " + VERDICT_RULE + " Test: the mean over seeds of each seed's mean "
    "test_auroc difference, with a t interval over seeds only (no test predictions: its id sampling is not "
    "counted); a sign that differs from validation is flagged.",
    "seeds": "Each training seed's validation AUROC (mean over its folds), and the spread over seeds: "
    "how much of a difference between augs one seed could produce on its own; test beside it.",
    "seed_comparisons": "Each seed's own paired difference against `none`, conditional on that seed's models "
    "(per-fold mean, its bootstrap 95% CI and DeLong p; pooled over folds and the test difference beside it).",
    "plots": "The bars and ROC curves use the val_predictions.csv AUROCs; the per-epoch curves are the "
    "validation AUROC as logged by torchmetrics during training (the checkpoint monitor).",
    "resumed": "Runs trained by more than one process (killed and resumed). Their wall time is the sum over "
    "all attempts when metrics.json records them; older runs are flagged from their logs.",
}
#: the CSVs written beside the report (named once, in both footers)
CSV_FILES = (
    ("per run", "results.csv"),
    ("per group", "summary.csv"),
    ("comparisons", "comparisons.csv"),
    ("per seed", "seeds.csv"),
    ("per seed and comparison", "seed_comparisons.csv"),
)


@dataclass(frozen=True)
class Section:
    """One section of the report, in the order its parts are shown; Markdown and HTML both render it."""

    title: str
    level: int = 2
    intro: str = ""
    table: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()  # paragraphs after the table
    bullets_label: str = ""
    bullets: tuple[str, ...] = ()
    bullet_classes: tuple[str, ...] = ()  # HTML classes per bullet (verdict colours); empty: none
    empty: str = ""  # shown instead of the bullets when there are none
    image: Path | None = None


def document(rep: Report, tables: dict[str, pd.DataFrame], settings: pd.DataFrame) -> list[Section]:
    """The report as a list of sections: the one description both writers walk."""
    sweeps = ", ".join(f"`{s}`" for s in sorted(rep.runs["sweep_dir"].unique()))
    effects = {"helps": "helps", "hurts": "hurts"}
    verdicts = [
        (v, effects.get(e, "none"))
        for e, v in zip(rep.comparisons.get("effect", []), rep.comparisons.get("verdict", []))
        if v
    ]
    notes = tuple(f"{r['model']} {r['aug']}: {r['note']}" for _, r in rep.comparisons.iterrows() if r.get("note"))
    reference = any(m in REFERENCE_MODELS for m in rep.summary.get("model", []))
    out = [
        Section(TITLE, level=1, intro=f"Sweeps: {sweeps}", bullets_label="Code:", bullets=tuple(rep.code)),
        Section(
            "Verdicts",
            intro=_SECTION_INTRO["verdicts"],
            bullets=tuple(v for v, _ in verdicts),
            bullet_classes=tuple(c for _, c in verdicts),
            empty="(no aug vs none comparisons possible)",
        ),
        Section(
            "Validation AUROC (model x aug)",
            intro=_SECTION_INTRO["table"],
            table=tables["auc"],
            notes=("`dedoppler` is a classical, non-learning baseline shown for reference.",) if reference else (),
            bullets_label="Disclosures:" if rep.disclosures else "",
            bullets=tuple(rep.disclosures),
        ),
        Section(
            "Paired comparisons against `none`",
            intro=_SECTION_INTRO["comparisons"],
            table=tables["comparisons"],
            bullets_label="Notes:" if notes else "",
            bullets=notes,
        ),
        Section("Seeds", intro=_SECTION_INTRO["seeds"], table=tables["seeds"]),
        Section(
            "Per-seed paired differences",
            level=3,
            intro=_SECTION_INTRO["seed_comparisons"],
            table=tables["seed_comparisons"],
        ),
        Section("Plots", intro=_SECTION_INTRO["plots"]),
        *(Section(title, level=3, image=img) for title, img in rep.images.items()),
        Section("Failed, missing and ignored runs", table=tables["problems"]),
        Section(
            "Resumed runs",
            intro=_SECTION_INTRO["resumed"],
            table=tables["resumed"],
            bullets_label="Other problems:" if rep.problems else "",
            bullets=tuple(rep.problems),
        ),
        Section(
            "Data and settings",
            table=settings,
            notes=("; ".join(f"{what}: `{name}`" for what, name in CSV_FILES) + ".",),
        ),
    ]
    return out


def _markdown(sections: list[Section]) -> str:
    out: list[str] = []
    for sec in sections:
        out += ["#" * sec.level + " " + sec.title, ""]
        if sec.intro:
            out += [sec.intro, ""]
        if sec.table is not None:
            out += [md_table(sec.table)]
        for note in sec.notes:
            out += [note, ""]
        if sec.bullets:
            out += ([sec.bullets_label, ""] if sec.bullets_label else []) + [f"- {b}" for b in sec.bullets] + [""]
        elif sec.empty:
            out += [f"_{sec.empty}_", ""]
        if sec.image is not None:
            out += [f"![{sec.title}]({sec.image.name})", ""]
    return "\n".join(out)


def _inline(text: str) -> str:
    """Escaped text with `code` spans as <code>."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _html(sections: list[Section]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(TITLE)}</title>",
        f"<style>{_CSS}</style></head><body>",
    ]
    for sec in sections:
        parts.append(f"<h{sec.level}>{_inline(sec.title)}</h{sec.level}>")
        if sec.intro:
            parts.append(f"<p class=note>{_inline(sec.intro)}</p>")
        if sec.table is not None:
            parts.append(html_table(sec.table))
        parts += [f"<p class=note>{_inline(note)}</p>" for note in sec.notes]
        if sec.bullets:
            if sec.bullets_label:
                parts.append(f"<p class=note>{_inline(sec.bullets_label)}</p>")
            classes = sec.bullet_classes or ("note",) * len(sec.bullets)
            parts.append(
                '<ul class="v">'
                + "".join(f'<li class="{c}">{_inline(b)}</li>' for b, c in zip(sec.bullets, classes))
                + "</ul>"
            )
        elif sec.empty:
            parts.append(f"<p><em>{html.escape(sec.empty)}</em></p>")
        if sec.image is not None:
            b64 = base64.b64encode(sec.image.read_bytes()).decode("ascii")
            parts.append(f'<img alt="{html.escape(sec.title)}" src="data:image/png;base64,{b64}">')
    parts.append("</body></html>")
    return "\n".join(parts)


def write_markdown(rep: Report, tables: dict[str, pd.DataFrame], settings: pd.DataFrame) -> None:
    """report.md, atomically; images are linked by file name (they sit beside it)."""
    atomic_write_bytes(rep.markdown_path, _markdown(document(rep, tables, settings)).encode("utf-8"))


def write_html(rep: Report, tables: dict[str, pd.DataFrame], settings: pd.DataFrame) -> None:
    """report.html, atomically and self-contained: the PNGs are embedded as data URIs."""
    atomic_write_bytes(rep.html_path, _html(document(rep, tables, settings)).encode("utf-8"))


def log_wandb(rep: Report, tables: dict[str, pd.DataFrame], force: bool) -> bool:
    """Log tables and plots to W&B if a run is active in this process, or start an offline one if forced.

    Checks ``sys.modules`` first: if wandb was never imported no run can be active, and importing it
    just to find out is slow.
    """
    wandb = sys.modules.get("wandb")
    if wandb is None and force:
        import wandb
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
