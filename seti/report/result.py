"""What a comparison produces: the :class:`Report` record and the :class:`ReportError` it can refuse with.

Its own module so the entry point (compare) and the writers (render) both import it and neither the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from seti.errors import SetiError

__all__ = ["ReportError", "Report", "REPORT_MD", "REPORT_HTML"]

REPORT_MD = "report.md"
REPORT_HTML = "report.html"


class ReportError(SetiError, ValueError):
    """Nothing to report (e.g. no run directories), or runs that must not be paired; the message says why."""


@dataclass
class Report:
    """Everything :func:`seti.report.compare.compare_sweeps` computed, plus where it was written."""

    out_dir: Path
    runs: pd.DataFrame  # one row per run (results.csv)
    summary: pd.DataFrame  # one row per (data, model, aug)
    comparisons: pd.DataFrame  # one row per (data, model, aug != none)
    verdicts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seed_comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per (model, aug, seed)
    seeds: pd.DataFrame = field(default_factory=pd.DataFrame)  # per (model, aug): spread over seeds
    resumed: pd.DataFrame = field(default_factory=pd.DataFrame)  # runs trained by several processes
    code: list[str] = field(default_factory=list)  # which commit(s), library versions and machines made the runs
    disclosures: list[str] = field(default_factory=list)  # tuning data, augmentation distributions
    images: dict[str, Path] = field(default_factory=dict)

    @property
    def markdown_path(self) -> Path:
        return self.out_dir / REPORT_MD

    @property
    def html_path(self) -> Path:
        return self.out_dir / REPORT_HTML
