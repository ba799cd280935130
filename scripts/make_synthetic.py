#!/usr/bin/env python
"""Write a synthetic SETI dataset in the Kaggle layout (train_labels.csv, train/, test/, sample_submission.csv).

Example:
    python scripts/make_synthetic.py --out data/synthetic --n 3000 --test-n 200 --workers 2
    python scripts/make_synthetic.py --out data/hard --n 3000 --param 'snr_range=[8, 40]' --param faint_fraction=0.5

Re-running with the same arguments keeps the valid files and writes only what is missing.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from pathlib import Path

from seti.data.synthetic import MANIFEST_NAME, SyntheticParams, write_dataset


def _parse_param(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param expects KEY=VALUE (VALUE in JSON), got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value  # a bare string, e.g. engine=numpy


def _exit_on_signal(signum: int, frame) -> None:
    print(
        f"interrupted by {signal.Signals(signum).name}; re-run the same command to finish (valid files are kept)",
        file=sys.stderr,
    )
    raise SystemExit(128 + signum)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path, help="output folder (the dataset root)")
    p.add_argument("--n", required=True, type=int, help="number of train cadences (> 0)")
    p.add_argument("--test-n", type=int, default=0, help="number of test cadences (>= 0, default 0)")
    p.add_argument("--positive-rate", type=float, default=0.2, help="fraction of positives, in [0, 1] (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="seed (>= 0, default 0)")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (>= 1, default 1)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        type=_parse_param,
        metavar="KEY=VALUE",
        help="override a SyntheticParams field, VALUE in JSON (repeatable), e.g. 'snr_range=[8,40]'",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.n <= 0:
        parser.error(f"--n must be > 0, got {args.n}")
    if args.test_n < 0:
        parser.error(f"--test-n must be >= 0, got {args.test_n}")
    if not 0.0 <= args.positive_rate <= 1.0:
        parser.error(f"--positive-rate must lie in [0, 1], got {args.positive_rate}")
    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    if args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    try:
        params = SyntheticParams.from_dict(dict(args.param))
    except (TypeError, ValueError) as err:
        parser.error(f"bad --param: {err}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # SIGTERM (a scheduler, `timeout`, `kill`) unwinds like Ctrl-C: the worker pool is terminated on the way
    # out and the exit status says what happened (128 + signal). Workers also die if we are killed with -9.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    started = time.perf_counter()
    try:
        root = write_dataset(
            args.out,
            args.n,
            args.test_n,
            args.positive_rate,
            args.seed,
            args.workers,
            params,
            progress=not args.no_progress,
        )
    except ValueError as err:  # includes CadenceDataError (a folder made with other settings)
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to finish (valid files are kept)", file=sys.stderr)
        return 128 + signal.SIGINT
    elapsed = time.perf_counter() - started
    manifest = json.loads((root / MANIFEST_NAME).read_text())
    counts, run = manifest["counts"], manifest["last_run"]
    rate = run["generated"] / elapsed if elapsed > 0 else float("nan")
    print(
        f"wrote {root}: train {counts['train']} ({counts['train_positive']} positive), "
        f"test {counts['test']} ({counts['test_positive']} positive)"
    )
    print(
        f"generated {run['generated']}, kept {run['skipped']} existing, {elapsed:.1f} s, "
        f"{rate:.1f} cadences/s with {args.workers} worker(s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
