"""How the report writes numbers: AUROCs, signed differences, intervals and p-values.

One place, so a verdict sentence and the table beside it print the same digits.
"""

from __future__ import annotations

import math


def fmt_diff(x: float, digits: int = 3) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:+.{digits}f}"


def fmt_p(p: float) -> str:
    """Two significant digits (0.0548 -> p=0.055, never 0.05, which reads like the threshold); below 0.001, p<0.001."""
    if p is None or not math.isfinite(p):
        return "p=—"
    if p < 0.001:
        return "p<0.001"
    return f"p={float(f'{p:.2g}'):#.2g}".rstrip(".")


def fmt_sd(x: float) -> str:
    """A spread or an effect size (always positive): three decimals."""
    return "—" if x is None or not math.isfinite(x) else f"{x:.3f}"


def diff_digits(*values: float) -> int:
    finite = [abs(v) for v in values if v is not None and math.isfinite(v)]
    return 4 if finite and max(finite) < 0.01 else 3


def interval(diff: float, lo: float, hi: float) -> str:
    d = diff_digits(diff, lo, hi)
    return f"{fmt_diff(diff, d)} [{fmt_diff(lo, d)}, {fmt_diff(hi, d)}]"


def p_cell(p: float) -> str:
    return fmt_p(p).removeprefix("p=") if p is not None and math.isfinite(p) else "—"
