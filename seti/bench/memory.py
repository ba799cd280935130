"""Peak memory of two training steps of a model, each model in a fresh process (a CPU's resident-set peak
never goes down, so only a new process tells one model's peak from another's).

    python -m seti.bench.memory MODEL BATCH H W     # prints one JSON line: model, device, peak_mb

MODEL is a conf/model option (tiny, b0, ...); the steps are :func:`seti.bench.train.bare_loop`'s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import seti
from seti.bench.common import Settings


def probe(model_name: str, batch: int, image_size: Sequence[int]) -> dict:
    """Two bare-loop training steps in this process, then its peak memory (GPU: allocated; CPU: RSS)."""
    from seti.bench.train import bare_loop
    from seti.runtime import resolve_device
    from seti.training.evaluation import peak_memory_mb

    device = resolve_device("auto")
    bare_loop(model_name, batch, Settings(image_size=tuple(image_size), warmup=1, steps=1), device)
    return {"model": model_name, "device": device.type, "peak_mb": peak_memory_mb(device)}


def bench_memory(models: Sequence[str], batch_size: int, image_size: Sequence[int]) -> list[dict]:
    """:func:`probe` per model, each in a fresh ``python -m seti.bench.memory`` (this checkout's seti first on
    the path); a model that fails is recorded with its error, and the next one still runs."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_package_parent(), os.environ.get("PYTHONPATH")]))}
    out = []
    for name in models:
        proc = subprocess.run(
            [sys.executable, "-m", __name__, name, str(batch_size), *map(str, image_size)],
            capture_output=True,
            text=True,
            env=env,
        )
        printed = proc.stdout.strip().splitlines()
        if printed and printed[-1].startswith("{"):
            measured = json.loads(printed[-1])
        else:  # killed before it could print (the kernel's out-of-memory killer, a signal)
            lines = proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"]
            measured = {"model": name, "error": lines[-1]}
        out.append({**measured, "batch_size": batch_size, "image_size": list(image_size)})
    return out


def _package_parent() -> str:
    return str(Path(seti.__file__).resolve().parents[1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a conf/model option, e.g. tiny or b0")
    parser.add_argument("batch", type=int)
    parser.add_argument("height", type=int)
    parser.add_argument("width", type=int)
    args = parser.parse_args(argv)
    try:
        result = probe(args.model, args.batch, (args.height, args.width))
    except Exception as err:  # noqa: BLE001 - reported as this model's result; the caller goes on to the next
        message = str(err).splitlines()[0] if str(err) else ""
        print(json.dumps({"model": args.model, "error": f"{type(err).__name__}: {message}"}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
