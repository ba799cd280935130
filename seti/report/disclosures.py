"""What a reader must know to trust a row: runs trained by several processes, constants tuned on some data,
and augmentations that inject needles (from which distribution, against the evaluation data's).

Everything is read from the runs' own files (metrics.json, .hydra/config.yaml), so a report on old runs
says what is not recorded instead of guessing.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from seti.rundir import read_config

__all__ = ["resumed_runs", "disclosures", "needle_differences"]

#: SyntheticParams fields that describe an injected needle (partial_on_fraction is not one: the cadence
#: augmentation always injects into all three ON panels; see :func:`_partial_on`)
NEEDLE_FIELDS = (
    "snr_range",
    "faint_fraction",
    "faint_snr_range",
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


def _model_meta(model_cfg: dict) -> tuple[str | None, list[str] | None]:
    """(fitted_on, tuned keys) from ``model.meta`` (newer configs) or the model node itself (older runs)."""
    meta = model_cfg.get("meta") if isinstance(model_cfg.get("meta"), dict) else {}
    fitted_on = meta.get("fitted_on") or model_cfg.get("fitted_on")
    tuned = meta.get("tuned", model_cfg.get("tuned"))
    return fitted_on, [str(k) for k in tuned] if isinstance(tuned, (list, tuple)) else None


def _tuning(model: str, model_cfg: dict) -> str | None:
    """What a model's constants were fitted on, naming only the keys the config says were tuned."""
    fitted_on, tuned = _model_meta(model_cfg)
    scorer = model_cfg.get("scorer") or {}
    if fitted_on and tuned is not None:
        constants = ", ".join(f"{k}={_fmt(scorer.get(k))}" for k in tuned)
        untuned = [f"{k}={_fmt(v)}" for k, v in scorer.items() if k not in tuned]
        return f"{model}: tuned constants ({constants}) were fitted on {fitted_on}" + (
            f"; not tuned: {', '.join(untuned)}." if untuned else "."
        )
    if fitted_on:
        settings = ", ".join(f"{k}={_fmt(v)}" for k, v in scorer.items())
        return (
            f"{model}: its tuned constants were fitted on {fitted_on}; the run does not record which of its "
            f"settings ({settings}) were tuned (see the comments in its model config)."
        )
    if str(model) == "dedoppler":
        return (
            "dedoppler: its run config does not record what its tuned constants (OFF-veto window) were "
            "fitted on (older run); they may have been tuned on the evaluation generator."
        )
    return None


def _partial_on(aug: str, evaluation: dict) -> str | None:
    """Injected needles fill all three ON panels; say what share of the evaluation positives do not."""
    from seti.data.synthetic import SyntheticParams

    share = SyntheticParams(**(evaluation or {})).partial_on_fraction
    if share <= 0:
        return None
    return (
        f"{aug}: every injected needle is drawn into all three ON panels, while {share:.0%} of the synthetic "
        f"evaluation positives (partial_on_fraction={share:g}) have their needle in only 1 or 2 of them: the "
        "augmentation teaches a pattern that part of the evaluation data lacks."
    )


def _run_config_root(run_dir: Path) -> str | None:
    """``data.root`` from the run's own run_config.yaml (runs trained without Hydra's .hydra/ files)."""
    import yaml

    from seti.rundir import RUN_CONFIG_YAML

    try:
        data = yaml.safe_load((run_dir / RUN_CONFIG_YAML).read_text())
    except (OSError, yaml.YAMLError):
        return None
    config = data.get("config") if isinstance(data, dict) else None
    return config.get("data.root") if isinstance(config, dict) else None


def _backgrounds(used: pd.DataFrame) -> list[str]:
    """Which backgrounds each data folder's synthetic manifest says its cadences were drawn on (generated,
    real or a mix, with the real folder and the hash of its label-0 id list); nothing for real Kaggle data."""
    from seti.data.synthetic import MANIFEST_NAME, describe_backgrounds

    out: list[str] = []
    roots: dict[str, None] = {}
    for run_dir in used["run_dir"]:
        root = ((read_config(Path(run_dir)) or {}).get("data") or {}).get("root") or _run_config_root(Path(run_dir))
        if root:
            roots.setdefault(str(root))
    for root in roots:
        try:
            manifest = json.loads((Path(root) / MANIFEST_NAME).read_text())
        except (OSError, ValueError):
            continue
        text = describe_backgrounds(manifest)
        if text:
            out.append(f"{text} (data.root {root})" if len(roots) > 1 else text)
    return out


def disclosures(used: pd.DataFrame) -> list[str]:
    """Sentences for the report: tuned constants and where they were fitted; needle-injecting augmentations;
    the backgrounds synthetic data was drawn on."""
    out: list[str] = []
    if used.empty:
        return out
    if "run_dir" in used:
        out.extend(_backgrounds(used))
    for model, group in used.groupby("model", sort=True):
        text = _tuning(str(model), _first_config(group).get("model") or {})
        if text:
            out.append(text)
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
            partial = _partial_on(str(aug), evaluation)
            if partial:
                out.append(partial)
        else:
            diff = needle_differences(needle, None)
            out.append(
                f"{aug}: injects synthetic needles (p={p:g}) into all three ON panels of real negatives"
                + (" (vs the generator's defaults: " + "; ".join(diff) + ")." if diff else ".")
            )
    return out
