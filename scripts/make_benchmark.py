#!/usr/bin/env python
"""Write the project's realistic benchmark: a held-out Kaggle-layout set with labelled test cadences.

Needles (setigen) in varied real label-0 backgrounds (--backgrounds, a Kaggle-layout folder) and in generated
ones, with RFI and needle look-alikes in all six panels and needles in OFF panels only as hard negatives,
drawn with a generator seed nothing in the project trains or fits on. Score it with scripts/score_benchmark.py.

Example:
    python scripts/make_benchmark.py --out data/benchmark-s1717 --backgrounds /path/to/kaggle-sample
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from seti.bench.quality import BENCHMARK_PARAMS, DEFAULT_SEED, RESERVED_SEEDS, make_benchmark
from seti.errors import SetiError


def build_parser() -> argparse.ArgumentParser:
    reserved = "; ".join(f"{s}: {why}" for s, why in RESERVED_SEEDS.items())
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path, help="output folder (the benchmark's data.root)")
    p.add_argument(
        "--backgrounds",
        required=True,
        type=Path,
        help="Kaggle-layout folder whose label-0 cadences are real backgrounds",
    )
    p.add_argument("--n", type=int, default=1200, help="labelled cadences (train/validation folds; default 1200)")
    p.add_argument("--test-n", type=int, default=600, help="test cadences, labels in test_labels.csv (default 600)")
    p.add_argument("--positive-rate", type=float, default=0.3, help="fraction of positives (default 0.3)")
    p.add_argument("--real-fraction", type=float, default=0.5, help="share drawn on real backgrounds (default 0.5)")
    p.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"generator seed (default {DEFAULT_SEED}); refused because the defaults use them: {reserved}",
    )
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.epilog = f"generator settings: {BENCHMARK_PARAMS}"
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        root = make_benchmark(
            args.out,
            args.backgrounds,
            n=args.n,
            test_n=args.test_n,
            positive_rate=args.positive_rate,
            seed=args.seed,
            real_fraction=args.real_fraction,
            workers=args.workers,
            progress=not args.no_progress,
        )
    except (SetiError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"benchmark written to {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
