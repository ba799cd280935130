"""Which code made the runs of a comparison. Runs of different code differ by more than the aug: a retrained
run at another commit moved its AUROC by as much as an effect, so pairing them would measure the code.

A run's code is (git_commit, git_dirty, versions of torch/lightning/timm/albumentations/numpy) from its
metrics.json. Runs that predate these keys are "unknown". A comparison whose runs are ALL unknown counts as
one code version (nothing says otherwise) and the report discloses it; any other mix (two commits, two
version sets, known beside unknown) is refused unless the caller allows mixed code, and then disclosed.
"""

from __future__ import annotations

import pandas as pd

from seti.report.result import ReportError

__all__ = ["UNKNOWN", "MixedCodeError", "code_of", "mixed_code", "check_code", "code_disclosures"]

UNKNOWN = "unknown (not recorded)"


class MixedCodeError(ReportError):
    """Runs of one comparison come from different code; the message names them and the way to allow it."""


def code_of(run: pd.Series) -> str:
    """One label per code version: ``commit[+dirty] | versions``, or :data:`UNKNOWN`."""
    commit, dirty, versions = run.get("git_commit"), run.get("git_dirty"), run.get("versions")
    known = [v for v in (commit, dirty, versions) if isinstance(v, (str, bool))]
    if not known:
        return UNKNOWN
    label = str(commit)[:12] if isinstance(commit, str) else "commit unknown"
    if dirty is True:
        label += "+dirty"
    return f"{label} | {versions if isinstance(versions, str) else 'versions unknown'}"


def _compared(used: pd.DataFrame, baseline: str) -> list[tuple[tuple, pd.DataFrame]]:
    """The (data, model) groups that pair runs: a baseline run and at least one other aug."""
    out = []
    for key, group in used.groupby(["data", "model"], sort=True):
        augs = set(group["aug"])
        if baseline in augs and len(augs) > 1:
            out.append((key, group))
    return out


def mixed_code(used: pd.DataFrame, baseline: str) -> list[str]:
    """One line per compared (data, model) whose runs come from more than one code version, naming them."""
    lines = []
    for (data, model), group in _compared(used, baseline):
        codes = group.apply(code_of, axis=1)
        if codes.nunique() < 2:
            continue
        parts = [
            f"{code} ({', '.join(group.loc[codes == code, 'run_name'])})" for code in sorted(codes.unique(), key=str)
        ]
        lines.append(f"{data}/{model}: its runs come from {codes.nunique()} code versions: " + "; ".join(parts))
    return lines


def check_code(used: pd.DataFrame, baseline: str, allow_mixed: bool) -> list[str]:
    """Raise :class:`MixedCodeError` for mixed code unless ``allow_mixed``; returns the lines to disclose."""
    lines = mixed_code(used, baseline)
    if lines and not allow_mixed:
        raise MixedCodeError(
            "refusing to pair runs made by different code (a retrained run moves by as much as an effect):\n  "
            + "\n  ".join(lines)
            + "\nre-run them at one commit, or pass --allow-mixed-code (compare_sweeps(..., allow_mixed_code=True)) "
            "to pair them anyway; the report then says so"
        )
    return [f"paired despite mixed code (--allow-mixed-code): {line}" for line in lines]


def code_disclosures(used: pd.DataFrame) -> list[str]:
    """The commit(s), versions and machines of the runs, in words: every report states which code made it."""
    if used.empty:
        return []
    codes = used.apply(code_of, axis=1)
    out = []
    for code, n in codes.value_counts().sort_index().items():
        if code == UNKNOWN:
            out.append(
                f"{n} run(s) do not record their commit or library versions (they predate provenance in "
                "metrics.json); they are treated as one code version, which nothing in the runs can confirm."
            )
        else:
            out.append(f"{n} run(s) from {code}.")
    if (used.get("git_dirty") == True).any():  # noqa: E712 (a column of True/False/None)
        out.append("some runs were trained from a modified tree (git_dirty): their commit alone does not fix the code.")
    machines = used.get("machine", pd.Series(dtype=object)).dropna()
    if not machines.empty:
        out.append(
            "machines: " + "; ".join(f"{m} ({k} run(s))" for m, k in machines.value_counts().sort_index().items())
        )
    return out
