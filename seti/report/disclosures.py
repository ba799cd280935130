"""What a reader must know to trust a row: runs trained by several processes, constants tuned on some data,
and augmentations that inject needles (from which distribution, against the evaluation data's).

Everything is read from the runs' own files (metrics.json, .hydra/config.yaml), so a report on old runs
says what is not recorded instead of guessing.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from seti.rundir import read_config

__all__ = ["resumed_runs", "disclosures", "needle_differences"]

#: SyntheticParams fields that describe a needle (what an injected needle is drawn from)
NEEDLE_FIELDS = (
    "snr_range",
    "faint_fraction",
    "faint_snr_range",
    "partial_on_fraction",
    "max_drift_hz_s",
    "sine_fraction",
    "sine_period_range_s",
    "sine_amplitude_range_hz",
    "width_range_hz",
    "profiles",
)


def resumed_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs that were resumed (several training processes): attempts and wall time summed over them."""
    if runs.empty or "resumed" not in runs:
        return pd.DataFrame()
    flagged = runs[runs["resumed"].fillna(False).astype(bool)]
    cols = ["run_name", "status", "attempts", "wall_time_s", "wall_time_s_attempts", "resume_note"]
    return flagged[cols].reset_index(drop=True)


def _fmt(value) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def needle_differences(needle: dict, evaluation: dict | None) -> list[str]:
    """``field: injected vs evaluation`` for every needle field where the two SyntheticParams differ."""
    from seti.data.synthetic import SyntheticParams

    injected = SyntheticParams(**(needle or {})).to_dict()
    reference = SyntheticParams(**(evaluation or {})).to_dict()
    return [f"{k} {_fmt(injected[k])} vs {_fmt(reference[k])}" for k in NEEDLE_FIELDS if injected[k] != reference[k]]


def _first_config(group: pd.DataFrame) -> dict:
    for run_dir in group["run_dir"]:
        cfg = read_config(Path(run_dir))
        if cfg:
            return cfg
    return {}


def disclosures(used: pd.DataFrame) -> list[str]:
    """Sentences for the report: tuned constants and where they were fitted; needle-injecting augmentations."""
    out: list[str] = []
    if used.empty:
        return out
    for model, group in used.groupby("model", sort=True):
        model_cfg = _first_config(group).get("model") or {}
        fitted_on = (model_cfg.get("meta") or {}).get("fitted_on") or model_cfg.get("fitted_on")  # older runs: model.*
        scorer = model_cfg.get("scorer")
        if fitted_on:
            constants = ", ".join(f"{k}={_fmt(v)}" for k, v in (scorer or {}).items())
            out.append(f"{model}: tuned constants ({constants}) were fitted on {fitted_on}.")
        elif str(model) == "dedoppler":
            out.append(
                "dedoppler: its run config does not record what its tuned constants (OFF-veto window) were "
                "fitted on (older run); they may have been tuned on the evaluation generator."
            )
    for aug, group in used.groupby("aug", sort=True):
        cfg = _first_config(group)
        cadence = (cfg.get("aug") or {}).get("cadence") or {}
        p = cadence.get("inject_needle_p") or 0
        if not (isinstance(p, (int, float)) and math.isfinite(p) and p > 0):
            continue
        data = cfg.get("data") or {}
        needle = cadence.get("needle") or {}
        if data.get("source") == "synthetic" or data.get("synthetic"):
            evaluation = (data.get("synthetic") or {}).get("params") or {}
            diff = needle_differences(needle, evaluation)
            if diff:
                out.append(
                    f"{aug}: injects needles (p={p:g}) from its own distribution, not the synthetic evaluation "
                    f"data's (injected vs evaluation): " + "; ".join(diff) + "."
                )
            else:
                out.append(
                    f"{aug}: injects needles (p={p:g}) drawn from the SAME distribution as the synthetic "
                    "evaluation data: an oracle augmentation on that data; treat its gain with suspicion."
                )
        else:
            diff = needle_differences(needle, None)
            out.append(
                f"{aug}: injects synthetic needles (p={p:g}) into real negatives"
                + (" (vs the generator's defaults: " + "; ".join(diff) + ")." if diff else ".")
            )
    return out
