"""Compare sweep runs: paired AUROC statistics, run collection and the Markdown/HTML report.

sweep (collect runs) -> analysis (runs, summaries), comparison (paired tests and verdicts, from stats, seeds
and runlevel), provenance, disclosures -> tables, render (Markdown, HTML, W&B) and seti.figures.report
(plots); result holds the Report record, compare the entry points.
"""

from seti.report.compare import compare_sweeps
from seti.report.result import Report, ReportError
from seti.report.stats import (
    auc_score,
    bootstrap_aucs,
    delong_contrast_test,
    delong_covariance,
    delong_paired_test,
    delong_roc_variance,
    paired_bootstrap_auc_diff,
)
from seti.report.sweep import collect_runs, load_epoch_curve, load_predictions

__all__ = [
    "Report",
    "ReportError",
    "compare_sweeps",
    "auc_score",
    "bootstrap_aucs",
    "delong_contrast_test",
    "delong_covariance",
    "delong_paired_test",
    "delong_roc_variance",
    "paired_bootstrap_auc_diff",
    "collect_runs",
    "load_epoch_curve",
    "load_predictions",
]
