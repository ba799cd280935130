"""``benchmark.py compile``: what torch.compile and predict's padded last batch cost or gain, as ratios to an
eager baseline measured in the same run (this machine's speed varies with its load).

- training: the bare loop (``seti.bench.train.bare_loop``) compiled vs eager, timed after untimed warm-up
  steps that hold the compiling, whose seconds are reported apart;
- predict: predict.py's path (``seti.bench.predict.predict_rate``) on a number of cadences that leaves a
  smaller last batch: eager padded (the baseline, predict.py's default), eager unpadded, compiled padded
  and compiled unpadded (whose smaller last batch compiles a second graph inside the timed pass).
"""

from __future__ import annotations

import time
from pathlib import Path

from seti.bench.common import Settings
from seti.bench.predict import predict_rate
from seti.bench.train import bare_loop


def bench_compile(
    ckpt: str,
    root: Path,
    *,
    model: str = "tiny",
    batch_size: int = 32,
    steps: int = 30,
    image_size: tuple[int, int] = (96, 128),
    predict_batch: int = 32,
    predict_batches: int = 8,
) -> dict:
    """Train and predict figures of compile on/off and padded/unpadded predict, each with its ratio to the
    eager (padded) baseline; on the CPU (this benchmark is for CPU figures; ``gpu`` measures the GPU)."""
    import torch

    from seti.inference.members import find_checkpoints, load_members

    cpu = torch.device("cpu")
    settings = Settings(image_size=tuple(image_size), warmup=2, steps=steps)
    train = {"eager": bare_loop(model, batch_size, settings, cpu, compile_model=False)}
    train["compiled"] = bare_loop(model, batch_size, settings, cpu, compile_model=True)
    for point in train.values():
        point["ratio"] = point["samples_per_s"] / train["eager"]["samples_per_s"]
    # a smaller last batch: half a batch more than a whole number of batches
    cadences = predict_batch * predict_batches + predict_batch // 2
    members = load_members(find_checkpoints(ckpt))  # eager first: compiling changes the members in place
    predict: dict = {}
    for name, pad, compile_model in (
        ("eager_padded", True, False),
        ("eager_unpadded", False, False),
        ("compiled_padded", True, True),
        ("compiled_unpadded", False, True),
    ):
        started = time.perf_counter()
        point = predict_rate(
            members,
            root,
            cadences,
            batch_size=predict_batch,
            tta="none",
            device=cpu,
            num_workers=0,
            precision="32",
            pad_last_batch=pad,
            compile=compile_model,
        )
        point["with_warmup_s"] = time.perf_counter() - started  # the untimed one-batch warm-up (compiling) too
        predict[name] = point
    for point in predict.values():
        point["ratio"] = point["cadences_per_s"] / predict["eager_padded"]["cadences_per_s"]
    return {
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "train": {"model": model, "batch_size": batch_size, "image_size": list(image_size), "steps": steps, **train},
        "predict": {"batch_size": predict_batch, "cadences": cadences, **predict},
    }


def format_compile(result: dict) -> str:
    """The ratios, one line each, as benchmark.py prints them to stderr."""
    t, p = result["train"], result["predict"]
    lines = [f"train ({t['model']}, batch {t['batch_size']}, {t['image_size']}, {t['steps']} steps, bare loop):"]
    for name in ("eager", "compiled"):
        point = t[name]
        lines.append(
            f"  {name:<18}{point['samples_per_s']:>9.1f} samples/s  x{point['ratio']:.2f}  "
            f"(warm-up {point['warmup_s']:.1f} s)"
        )
    lines.append(f"predict ({p['cadences']} cadences, batch {p['batch_size']}, the last one smaller):")
    for name in ("eager_padded", "eager_unpadded", "compiled_padded", "compiled_unpadded"):
        point = p[name]
        lines.append(
            f"  {name:<18}{point['cadences_per_s']:>9.1f} cadences/s  x{point['ratio']:.2f}  "
            f"(with warm-up {point['with_warmup_s']:.1f} s)"
        )
    return "\n".join(lines)
