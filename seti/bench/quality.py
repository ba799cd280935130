"""The project's realistic benchmark: a held-out set, and the CPU default vs the dedoppler scored on it.

Why: the synthetic validation data is the data the defaults were built on, so it cannot tell whether the
learned model earns its cost over the classical search. The benchmark (``scripts/make_benchmark.py``) is a
Kaggle-layout set with labelled test cadences: needles in real label-0 backgrounds and in generated ones,
hard negatives (RFI and needle look-alikes in all six panels, needles in OFF panels only), drawn with a
generator seed nothing is trained or fitted on. Scoring (``scripts/score_benchmark.py``) trains the CPU
default (``train.py data=kaggle data.root=<benchmark>``) and ``model=dedoppler`` once per training seed,
blends each seed's pair with ``predict.py ckpt=[a,b] blend=rank``, and compares the three on the test split
at the run level (:mod:`seti.report.runlevel`: the training seed is the unit), keeping every per-id
prediction.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from seti.atomic import atomic_write_csv, atomic_write_json, atomic_write_text
from seti.data.synthetic.real import BACKGROUNDS_CSV, GENERATED
from seti.errors import SetiError
from seti.metrics import auc_score

#: generator seeds the project's defaults train or fit on: a benchmark drawn with one of them is not held out
RESERVED_SEEDS = {
    0: "data=synthetic's default dataset (conf/data/synthetic.yaml data.synthetic.seed), the CPU default's training data",
    1: "scripts/fit_dedoppler.py's fitting set, on which model=dedoppler's OFF-veto window was fitted",
}
DEFAULT_SEED = 1717
#: the generator's settings for the benchmark: fainter needles and more hard negatives than the defaults
BENCHMARK_PARAMS = {
    "snr_range": [10.0, 60.0],
    "faint_fraction": 0.3,
    "faint_snr_range": [6.0, 10.0],
    "partial_on_fraction": 0.3,
    "rfi_rate": 2.0,
    "all_panel_signal_fraction": 0.3,
    "off_only_signal_fraction": 0.1,
    "engine": "numpy",
}
SYSTEMS = ("default", "dedoppler", "blend_rank")
#: (a, b): the report's run-level contrasts, AUROC(a) - AUROC(b)
COMPARISONS = (("default", "dedoppler"), ("blend_rank", "default"), ("blend_rank", "dedoppler"))
RULE = (
    "A difference is established only when its run-level 95% interval excludes 0. Run level "
    "(seti.report.runlevel): the training seed is the unit; each seed's difference is AUROC(a) - AUROC(b) on "
    "the same test ids, and the interval is a t interval on (seeds - 1) degrees of freedom whose variance is "
    "the seeds' spread / seeds plus the id-sampling (DeLong) covariance the seeds share. The dedoppler trains "
    "nothing, so its seeds agree; the spread comes from the CPU default."
)
PREDICTIONS_CSV = "predictions.csv"
SUMMARY_JSON = "summary.json"
REPORT_MD = "report.md"


class BenchmarkError(SetiError, ValueError):
    """A benchmark request that would not measure what it claims; the message says the fix."""


def check_seed(seed: int) -> None:
    """Refuse a generator seed the defaults train or fit on (the benchmark must be held out)."""
    if int(seed) in RESERVED_SEEDS:
        raise BenchmarkError(
            f"--seed {seed} is used by {RESERVED_SEEDS[int(seed)]}: a benchmark drawn with it is not held out; "
            f"use another seed (default {DEFAULT_SEED})"
        )


def make_benchmark(
    out: Path,
    background_root: Path,
    *,
    n: int = 1200,
    test_n: int = 600,
    positive_rate: float = 0.3,
    seed: int = DEFAULT_SEED,
    real_fraction: float = 0.5,
    workers: int = 1,
    progress: bool = True,
) -> Path:
    """Write the benchmark: ``n`` labelled cadences (train/validation folds are train.py's data.num_folds
    split) and ``test_n`` test cadences with test_labels.csv; ``real_fraction`` of them on varied label-0
    cadences of ``background_root``, the rest on generated backgrounds."""
    from seti.data.synthetic import SyntheticParams, write_dataset

    check_seed(seed)
    return write_dataset(
        out,
        n=n,
        test_n=test_n,
        positive_rate=positive_rate,
        seed=seed,
        workers=workers,
        params=SyntheticParams.from_dict(BENCHMARK_PARAMS),
        progress=progress,
        backgrounds="mix",
        background_root=background_root,
        real_fraction=real_fraction,
    )


@dataclass
class ScoreSettings:
    """What score_benchmark runs: the benchmark folder, the output folder, the training seeds, and extra
    train.py overrides for both systems (``overrides``, e.g. data.num_folds) and for the CPU default only
    (``default_overrides``, e.g. fewer epochs for a test; the dedoppler trains nothing and takes its data
    settings from conf/model_input). None by default: the CPU default is trained exactly as
    ``python train.py data=kaggle data.root=<benchmark>`` would."""

    root: Path
    out: Path
    seeds: Sequence[int] = (0, 1, 2)
    overrides: Sequence[str] = field(default_factory=list)
    default_overrides: Sequence[str] = field(default_factory=list)
    timeout_s: float | None = None


def _repo() -> Path:
    return Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(_repo()), os.environ.get("PYTHONPATH")]))
    return {
        **os.environ,
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": path,
    }


def train_args(system: str, root: Path, seed: int, run_dir: Path, overrides: Sequence[str] = ()) -> list[str]:
    """train.py's arguments for one run: the CPU default or model=dedoppler, csv logging (the logger does not
    change the model), no test stage (predict.py scores the test split)."""
    model = ["model=dedoppler"] if system == "dedoppler" else []
    return [
        "data=kaggle",
        f"data.root={root}",
        *model,
        f"seed={seed}",
        "logger=csv",
        "test_after_fit=false",
        f"hydra.run.dir={run_dir}",
        *overrides,
    ]


def _run(script: str, args: Sequence[str], log: Path, timeout: float | None) -> None:
    cmd = [sys.executable, str(_repo() / script), *args]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as fh:
        proc = subprocess.run(cmd, cwd=_repo(), env=_env(), stdout=fh, stderr=subprocess.STDOUT, timeout=timeout)
    if proc.returncode != 0:
        tail = log.read_text()[-2000:]
        raise BenchmarkError(f"{' '.join(cmd)} failed ({proc.returncode}); its log {log} ends:\n{tail}")


def _runs(out: Path, seed: int) -> dict[str, Path]:
    return {s: Path(out) / "runs" / f"{s}-s{seed}" for s in ("default", "dedoppler")}


def _blend_path(out: Path, seed: int) -> Path:
    return Path(out) / "predict" / f"seed{seed}.csv"


def score_seed(settings: ScoreSettings, seed: int) -> pd.DataFrame:
    """Train both systems with ``seed``, blend them, and return the test split's per-id predictions
    (:func:`collect_seed`)."""
    out = Path(settings.out)
    runs = _runs(out, seed)
    for system, run_dir in runs.items():
        extra = [*settings.overrides, *(settings.default_overrides if system == "default" else [])]
        args = train_args(system, settings.root, seed, run_dir, extra)
        _run("train.py", args, out / "logs" / f"train-{system}-s{seed}.log", settings.timeout_s)
    blend = _blend_path(out, seed)
    _run(
        "predict.py",
        [
            f"ckpt=[{runs['default']},{runs['dedoppler']}]",
            "blend=rank",
            f"data.root={settings.root}",
            f"output={blend}",
            "overwrite=true",
            f"hydra.run.dir={out / 'predict' / f'hydra-s{seed}'}",
        ],
        out / "logs" / f"predict-s{seed}.log",
        settings.timeout_s,
    )
    return collect_seed(settings, seed)


def collect_seed(settings: ScoreSettings, seed: int) -> pd.DataFrame:
    """A scored seed's test predictions from its predict.py files: ``seed, id, target, default, dedoppler,
    blend_rank`` and, where the benchmark has backgrounds.csv, ``drawn_on`` (a real background id or
    "generated")."""
    runs, blend = _runs(settings.out, seed), _blend_path(settings.out, seed)
    if not blend.is_file():
        raise BenchmarkError(f"no {blend}: seed {seed} was not scored in {settings.out}; run without --report-only")
    members = pd.read_csv(blend.with_name(f"{blend.stem}.members.csv"), dtype={"id": str})
    members = members.rename(columns={runs[s].name: s for s in runs})
    blended = pd.read_csv(blend, dtype={"id": str}).rename(columns={"target": "blend_rank"})
    labels = pd.read_csv(Path(settings.root) / "test_labels.csv", dtype={"id": str})
    frame = labels.merge(members[["id", "default", "dedoppler"]], on="id", validate="1:1")
    frame = frame.merge(blended, on="id", validate="1:1")
    if len(frame) != len(labels):
        raise BenchmarkError(f"predictions for seed {seed} cover {len(frame)} of {len(labels)} test ids")
    frame.insert(0, "seed", int(seed))
    used = Path(settings.root) / BACKGROUNDS_CSV
    if used.is_file():  # which background each test cadence was drawn on: the report splits AUROC by it
        kinds = pd.read_csv(used, dtype=str)
        kinds = kinds[kinds["split"] == "test"].rename(columns={"background": "drawn_on"})[["id", "drawn_on"]]
        frame = frame.merge(kinds, on="id", how="left", validate="1:1")
    return frame


def summarise(predictions: pd.DataFrame) -> dict:
    """Per system and seed the test AUROC, their mean, and the run-level contrasts (:data:`COMPARISONS`)."""
    from seti.report.runlevel import plan, run_level_test, seed_level_differences

    seeds = sorted(int(s) for s in predictions["seed"].unique())
    per_seed = {
        system: {
            s: auc_score(g["target"].to_numpy(), g[system].to_numpy())
            for s, g in predictions.groupby("seed", sort=True)
        }
        for system in SYSTEMS
    }
    contrasts = []
    for a, b in COMPARISONS:
        pairs = {
            (int(s), 0): g[["id", "target"]].assign(pred_a=g[a].to_numpy(), pred_b=g[b].to_numpy())
            for s, g in predictions.groupby("seed", sort=True)
        }
        found = seed_level_differences(pairs)
        if found is None:
            result = run_level_test([])
        else:
            _, d, cov = found
            result = run_level_test(d, cov)
        contrasts.append({"a": a, "b": b, **result, **plan(result)})
    by_background = {}
    if "drawn_on" in predictions:
        real = predictions["drawn_on"] != GENERATED
        for kind, part in (("real", predictions[real]), ("generated", predictions[~real])):
            if part.groupby("seed")["target"].nunique().min() == 2:
                by_background[kind] = {
                    system: float(np.mean([auc_score(g["target"], g[system]) for _, g in part.groupby("seed")]))
                    for system in SYSTEMS
                } | {"test_ids": int(len(part) // len(seeds))}
    return {
        "auroc_by_background": by_background,
        "seeds": seeds,
        "test_ids": int(predictions.groupby("seed").size().iloc[0]) if len(predictions) else 0,
        "test_positive": int(predictions.groupby("seed")["target"].sum().iloc[0]) if len(predictions) else 0,
        "auroc": {
            system: {"per_seed": {str(s): v for s, v in values.items()}, "mean": float(np.mean(list(values.values())))}
            for system, values in per_seed.items()
        },
        "run_level": contrasts,
        "rule": RULE,
    }


def _num(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def render(summary: dict, meta: dict) -> str:
    """The markdown report: what was run on what, AUROC per seed, the run-level verdicts."""
    lines = [
        "# Realistic benchmark: CPU default vs dedoppler vs their rank blend",
        "",
        f"- benchmark: `{meta['root']}` ({meta.get('backgrounds') or 'backgrounds not recorded'})",
        f"- test split: {summary['test_ids']} cadences, {summary['test_positive']} positive",
        f"- training seeds: {', '.join(map(str, summary['seeds']))}; extra train.py overrides: "
        + (", ".join(f"`{o}`" for o in meta.get("overrides") or []) or "none")
        + "; for the CPU default only: "
        + (", ".join(f"`{o}`" for o in meta.get("default_overrides") or []) or "none (the CPU default as shipped)"),
        f"- commit {meta.get('commit', '?')}; machine: {meta.get('machine', '?')}; "
        + (
            "report rebuilt from the seeds' predict.py outputs (--report-only)"
            if meta.get("report_only")
            else f"wall time {meta.get('wall_s', 0):.0f} s"
        ),
        "",
        "| system | " + " | ".join(f"seed {s}" for s in summary["seeds"]) + " | mean |",
        "|---|" + "---|" * (len(summary["seeds"]) + 1),
    ]
    for system in SYSTEMS:
        auc = summary["auroc"][system]
        cells = [_num(auc["per_seed"][str(s)]) for s in summary["seeds"]]
        lines.append(f"| {system} | " + " | ".join(cells) + f" | {_num(auc['mean'])} |")
    if summary.get("auroc_by_background"):
        lines += [
            "",
            "| test cadences drawn on | ids | " + " | ".join(SYSTEMS) + " |",
            "|---|---|" + "---|" * len(SYSTEMS),
        ]
        for kind, aucs in summary["auroc_by_background"].items():
            cells = " | ".join(_num(aucs[s]) for s in SYSTEMS)
            lines.append(f"| {kind} backgrounds | {aucs['test_ids']} | {cells} |")
        lines.append("")
        lines.append("(mean test AUROC over seeds, on the test cadences drawn on each kind of background)")
    lines += [
        "",
        "| contrast (test AUROC) | diff | 95% run-level CI | p | established | seeds needed |",
        "|---|---|---|---|---|---|",
    ]
    for c in summary["run_level"]:
        lines.append(
            f"| {c['a']} - {c['b']} | {_num(c['diff'], 4)} | [{_num(c['ci_lo'], 4)}, {_num(c['ci_hi'], 4)}] | "
            f"{_num(c['p'], 3)} | {'yes' if c['established'] else 'no'} | {c.get('seeds_needed') or 'n/a'} |"
        )
    lines += [
        "",
        summary["rule"],
        "",
        f"Per-id predictions: `{PREDICTIONS_CSV}` (seed, id, target, one column per system).",
    ]
    return "\n".join(lines) + "\n"


def _commit() -> str:
    """The short commit of this checkout, as the report names it (provenance's git_state, one home)."""
    from seti.training.provenance import git_state

    commit, _ = git_state()
    return commit[:7] if commit else "unknown"


def score_benchmark(settings: ScoreSettings, report_only: bool = False) -> dict:
    """Score every seed, then write ``predictions.csv``, ``summary.json`` and ``report.md`` under ``out``.
    ``report_only`` rebuilds the three files from the seeds' predict.py outputs already in ``out``."""
    from seti.data.synthetic import MANIFEST_NAME, describe_backgrounds

    root = Path(settings.root)
    if not (root / "test_labels.csv").is_file():
        raise BenchmarkError(f"{root} has no test_labels.csv: make the benchmark with scripts/make_benchmark.py")
    if len(settings.seeds) < 2:
        raise BenchmarkError("--seeds needs at least 2 training seeds: the run-level interval needs their spread")
    started = time.time()
    score = collect_seed if report_only else score_seed
    frames = [score(settings, int(s)) for s in settings.seeds]
    predictions = pd.concat(frames, ignore_index=True)
    summary = summarise(predictions)
    try:
        manifest = json.loads((root / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        manifest = None
    meta = {
        "root": str(root),
        "backgrounds": describe_backgrounds(manifest),
        "generator_seed": (manifest or {}).get("seed"),
        "overrides": list(settings.overrides),
        "default_overrides": list(settings.default_overrides),
        "commit": _commit(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "wall_s": time.time() - started,
        "report_only": report_only,
    }
    out = Path(settings.out)
    atomic_write_csv(out / PREDICTIONS_CSV, predictions, index=False)
    atomic_write_json(out / SUMMARY_JSON, {**summary, "meta": meta})
    atomic_write_text(out / REPORT_MD, render(summary, meta))
    return {**summary, "meta": meta}
