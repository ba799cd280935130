"""Benchmarks, printed as ratios against a baseline measured in the same run (machines here are noisy).

  python scripts/benchmark.py data     [--root ROOT] [--n 200]
  python scripts/benchmark.py train    [--root ROOT] [--model tiny] [--batch-size 32] [--batches 30] [--memory-models tiny b0]
  python scripts/benchmark.py predict  --ckpt RUN_DIR_OR_CKPT [--root ROOT]
  python scripts/benchmark.py all      --ckpt RUN_DIR_OR_CKPT     # data, train and predict
  python scripts/benchmark.py scan     --ckpt RUN_DIR_OR_CKPT [--cadence A1.h5 B.h5 A2.h5 C.h5 A3.h5 D.h5] [--fchans 32768]
  python scripts/benchmark.py compile  --ckpt RUN_DIR_OR_CKPT [--root ROOT] [--model tiny] [--batch-size 32] [--batches 30]
  python scripts/benchmark.py gpu      [--json PATH] [--docs PATH] [--tiny] [--budget-s 480] [--work-dir DIR]
  python scripts/benchmark.py gpu      --from-json PATH [--docs PATH]     # re-render a run's table into the docs

ROOT defaults to the synthetic default dataset (generated on first use). Nothing here is asserted.

``gpu`` is one time-boxed run for a GPU machine: per model of experiment=augmentation_study at its image
size, the bare-loop batch ladder up to the fastest batch, train.py's own path at the reference and the
fastest batch, torch.compile on/off, predict for one member; then a 6-member flip-TTA ensemble and the
founding study's projected wall time. It writes JSON (--json, after every phase) and its section of
docs/benchmarks.md. Without CUDA (or with --tiny) it runs tiny settings so CI exercises every line, and
writes the docs only when --docs is given.

``compile`` is the CPU's figures of torch.compile on/off (train: the bare loop of --model; predict: the
members under --ckpt) and of predict's padded vs unpadded last batch, as ratios to eager padded.

All logic lives in seti.bench (one module per measurement), so it is importable and tested.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def run_data(args, root: Path) -> dict:
    from seti.bench.data import bench_data

    return {"data": bench_data(root, args.n)}


def run_train(args, root: Path) -> dict:
    from seti.bench.memory import bench_memory
    from seti.bench.train import bench_train

    return {
        "train": bench_train(root, args.model, args.batch_size, args.batches, args.image_size, args.workers),
        "memory": bench_memory(args.memory_models, args.memory_batch_size, args.memory_image_size),
    }


def run_predict(args, root: Path) -> dict:
    from seti.bench.predict import bench_predict

    return {"predict": bench_predict(args.ckpt, root, args.batch_size)}


def run_scan(args) -> dict:
    """windows/s, peak memory and the time shares of scan.py on an observation cadence (a synthetic one of
    --fchans channels by default), projected to a full GBT high-resolution cadence."""
    from seti.scan.benchmark import benchmark_scan, format_report

    result = benchmark_scan(args.ckpt, args.cadence, fchans=args.fchans)
    print(format_report(result), file=sys.stderr)
    return {"scan": result}


def run_compile(args, root: Path) -> dict:
    from seti.bench.compiled import bench_compile, format_compile

    result = bench_compile(
        args.ckpt, root, model=args.model, batch_size=args.batch_size, steps=args.batches, image_size=args.image_size
    )
    print(format_compile(result), file=sys.stderr)
    return {"compile": result}


#: subcommand -> the function that runs it on the dataset; ``all`` runs them in this order
SUBCOMMANDS = {"data": run_data, "train": run_train, "predict": run_predict}
NEEDS_CKPT = {"predict", "all", "scan", "compile"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=[*SUBCOMMANDS, "all", "gpu", "scan", "compile"])
    parser.add_argument("--root", type=Path, default=None, help="Kaggle-layout data (default: the synthetic default)")
    parser.add_argument("--n", type=int, default=200, help="cadences for the data benchmark")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--image-size", type=int, nargs=2, default=[96, 128], metavar=("H", "W"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-models", nargs="*", default=["tiny", "b0"])
    parser.add_argument("--memory-batch-size", type=int, default=16)
    parser.add_argument("--memory-image-size", type=int, nargs=2, default=[256, 256], metavar=("H", "W"))
    parser.add_argument("--ckpt", default=None, help="checkpoint, run dir or sweep dir (predict)")
    parser.add_argument("--cadence", nargs=6, default=None, metavar="FILE", help="scan: six .h5/.fil files, ABACAD")
    parser.add_argument("--fchans", type=int, default=2**15, help="scan: channels of the synthetic cadence")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--tiny", action="store_true", help="gpu: tiny settings even where CUDA is available")
    parser.add_argument(
        "--budget-s", type=float, default=None, help="gpu: wall-time budget (default 480 s; tiny 600 s)"
    )
    parser.add_argument("--work-dir", type=Path, default=None, help="gpu: where data and runs go (default: a temp dir)")
    parser.add_argument(
        "--docs",
        type=Path,
        default=None,
        help="gpu: the Markdown file whose gpu section is replaced (default docs/benchmarks.md; tiny: none)",
    )
    parser.add_argument(
        "--from-json", type=Path, default=None, help="gpu: render this earlier run's JSON instead of measuring"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.what == "gpu":
        from seti.bench.docs import gpu_markdown
        from seti.bench.gpu import run_gpu

        results = run_gpu(
            from_json=args.from_json,
            json_path=args.json,
            docs=args.docs,
            tiny=args.tiny,
            budget_s=args.budget_s,
            work_dir=args.work_dir,
        )
        print(results.get("markdown") or gpu_markdown(results))
        return 0 if results.get("complete") else 1
    if args.what in NEEDS_CKPT and not args.ckpt:
        parser.error(f"{args.what} needs --ckpt (a checkpoint, run dir or sweep dir)")
    from seti.atomic import atomic_write_text
    from seti.bench.common import ensure_root

    results: dict = {}
    if args.what == "scan":
        results.update(run_scan(args))
    else:
        root = ensure_root(args.root)
        if args.what == "compile":  # not in ``all``: compiling takes minutes on a CPU
            results.update(run_compile(args, root))
        else:
            for name in SUBCOMMANDS if args.what == "all" else [args.what]:
                results.update(SUBCOMMANDS[name](args, root))
    text = json.dumps(results, indent=2, default=float)
    print(text)
    if args.json:
        atomic_write_text(args.json, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
