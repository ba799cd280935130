#!/usr/bin/env python
"""Score the realistic benchmark: the CPU default, model=dedoppler and their rank blend over training seeds.

For each seed: python train.py data=kaggle data.root=<benchmark> seed=S (and the same with model=dedoppler),
then predict.py ckpt=[default,dedoppler] blend=rank on the test split. Writes report.md (AUROC per seed,
run-level verdicts: the seed is the unit), summary.json and predictions.csv (every per-id prediction) to --out.

Example:
    python scripts/score_benchmark.py --root data/benchmark-s1717 --out docs/quality --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from seti.bench.quality import REPORT_MD, ScoreSettings, score_benchmark
from seti.errors import SetiError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", required=True, type=Path, help="the benchmark (scripts/make_benchmark.py --out)")
    p.add_argument("--out", required=True, type=Path, help="report folder (runs/, logs/ and the report go here)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)")
    p.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra train.py override for both systems, e.g. data.num_folds=2 (repeatable; none by default)",
    )
    p.add_argument(
        "--default-override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra train.py override for the CPU default only, e.g. trainer.max_epochs=1 (repeatable; none by "
        "default: the CPU default as shipped)",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="train and predict nothing: rebuild the report from the seeds' predictions already in --out",
    )
    p.add_argument("--timeout", type=float, default=None, help="seconds allowed per train/predict command")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = ScoreSettings(
        args.root.resolve(), args.out.resolve(), args.seeds, args.override, args.default_override, args.timeout
    )
    try:
        score_benchmark(settings, report_only=args.report_only)
    except (SetiError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print((settings.out / REPORT_MD).read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
