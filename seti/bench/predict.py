"""Prediction speed: predict.py's own path (``seti.inference.ensemble.predict_ids``: workers read raw
cadences, each batch is preprocessed once per group and scored by every member), measured once here for
every caller; and for ``benchmark.py predict`` two baselines from the same run: reading alone, and
the members' scoring on batches already preprocessed on the device (the ceiling)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from seti.bench.common import compose


def predict_defaults():
    """conf/predict.yaml: predict.py's own defaults (batch size, workers, device, precision, TTA)."""
    return compose("predict")


def test_ids(root: Path, n: int) -> list[str]:
    """``n`` ids of ``root``'s sample_submission.csv, cycled when it has fewer."""
    from seti.data.layout import read_id_table

    ids = read_id_table(root / "sample_submission.csv", require_binary_target=False)["id"].to_numpy()
    return [str(i) for i in np.resize(ids, n)]


def predict_rate(
    members: Sequence,
    root: Path,
    cadences: int,
    *,
    batch_size: int,
    tta: str,
    device,
    num_workers=None,
    precision: str | None = None,
    pad_last_batch: bool | None = None,
    compile: bool = False,
) -> dict:
    """The predict-speed measurement: ``predict_ids`` for loaded ``members`` on ``cadences`` test ids (the
    files cycled, so in the page cache), timed after a one-batch warm-up (autotuning, allocator, and with
    ``compile`` the compiling). Worker start-up is inside the timing, as it is in predict.py. A setting left
    None is predict.py's default. ``phases`` is the timed pass's own breakdown (PASS_PHASES)."""
    from seti.inference.engine import PASS_PHASES
    from seti.inference.ensemble import predict_ids
    from seti.inference.settings import ScoringOptions, resolve_workers
    from seti.runtime import resolve_precision, synchronize

    defaults = predict_defaults()
    cuda = device.type == "cuda"
    ids = test_ids(root, cadences)
    options = ScoringOptions(
        check="header",  # the timed files were checked when the benchmark wrote them
        batch_size=batch_size,
        num_workers=resolve_workers(defaults.num_workers if num_workers is None else num_workers, cadences, batch_size),
        device=device,
        precision=resolve_precision(defaults.precision if precision is None else precision, cuda=cuda),
        tta=tta,
        channels_last=defaults.channels_last,
        transforms=defaults.transforms,
        pad_last_batch=bool(defaults.pad_last_batch if pad_last_batch is None else pad_last_batch),
        compile=compile,
    )
    predict_ids(members, root, "test", ids[:batch_size], options)
    synchronize(device)
    stats: dict = {}
    started = time.perf_counter()
    frame = predict_ids(members, root, "test", ids, options, stats=stats)
    synchronize(device)
    seconds = time.perf_counter() - started
    return {
        "status": "ok",
        "members": len(members),
        "tta": tta,
        "batch_size": batch_size,
        "cadences": len(frame),
        "num_workers": options.num_workers,
        "device": str(device),
        "precision": options.precision,
        "seconds": seconds,
        "cadences_per_s": len(frame) / seconds,
        "member_cadences_per_s": len(frame) * len(members) / seconds,
        "channels_last": stats.get("channels_last"),
        "transforms": stats.get("transforms"),
        "pad_last_batch": options.pad_last_batch,
        "compile": compile,
        "phases": {phase: stats.get(phase) for phase in PASS_PHASES},
    }


def read_batches(root: Path, ids: Sequence[str], batch_size: int) -> list:
    """The raw batches predict.py's workers would hand over, read here in one process: (cadences, indices)."""
    from seti.data.layout import cadence_path
    from seti.inference.engine import RawCadenceDataset, collate_raw

    dataset = RawCadenceDataset([cadence_path(root, "test", i) for i in ids])
    return [
        collate_raw([dataset[i] for i in range(start, min(start + batch_size, len(ids)))])
        for start in range(0, len(ids), batch_size)
    ]


def forward_seconds(members: Sequence, raw_batches: list, device, precision: str, tta: str) -> float:
    """The ceiling: predict's scoring (``score_cadences``) on batches already preprocessed on the device, so
    no reading, transfer or preprocessing is timed: one untimed warm-up pass, then one timed pass."""
    import torch

    from seti.inference.engine import score_cadences
    from seti.inference.ensemble import model_stack
    from seti.inference.members import group_by_preprocessing
    from seti.runtime import synchronize

    groups = [(p, model_stack([m.model for m in group])) for p, group in group_by_preprocessing(members).items()]
    with torch.no_grad():
        ready = [([p.batch(raw.to(device)) for p, _ in groups], index) for raw, index in raw_batches]
    score_cadences(groups, ready, device, precision, tta)  # warm-up: kernels, autotuning, allocator
    synchronize(device)
    started = time.perf_counter()
    score_cadences(groups, ready, device, precision, tta)
    synchronize(device)
    return time.perf_counter() - started


def bench_predict(
    ckpt: str,
    root: Path,
    batch_size: int | None = None,
    n_batches: int = 8,
    *,
    num_workers=None,
    device: str | None = None,
    precision: str | None = None,
    tta: str | None = None,
) -> dict:
    """``benchmark.py predict``: cadences/s of predict.py's path for every member under ``ckpt`` vs the
    ceiling (scoring preprocessed batches) vs reading alone, on the same ``batch_size * n_batches`` test
    cadences. ``ratio`` = forward / predict time: near 1 means the models are the bottleneck, well below 1
    means reading or preprocessing is (add workers or CPUs). A setting left None is predict.py's default."""
    from seti.inference.members import find_checkpoints, group_by_preprocessing, load_members
    from seti.inference.settings import resolve_batch_size
    from seti.runtime import resolve_device, resolve_precision

    defaults = predict_defaults()
    tta = str(defaults.tta if tta is None else tta)
    setup_started = time.perf_counter()
    members = load_members(find_checkpoints(ckpt))
    dev = resolve_device(str(defaults.device if device is None else device))
    batch_size = resolve_batch_size(defaults.batch_size if batch_size is None else batch_size, dev)
    prec = resolve_precision(defaults.precision if precision is None else precision, cuda=dev.type == "cuda")
    n = batch_size * n_batches
    setup_s = time.perf_counter() - setup_started
    started = time.perf_counter()
    raw_batches = read_batches(root, test_ids(root, n), batch_size)  # also warms the page cache
    load_s = time.perf_counter() - started
    forward_s = forward_seconds(members, raw_batches, dev, prec, tta)
    path = predict_rate(
        members, root, n, batch_size=batch_size, tta=tta, device=dev, num_workers=num_workers, precision=prec
    )
    preprocess = next(iter(group_by_preprocessing(members)))
    return {
        "cadences": path["cadences"],
        "batch_size": batch_size,
        "n_batches": n_batches,
        "members": len(members),
        "num_workers": path["num_workers"],
        "device": str(dev),
        "precision": prec,
        "tta": tta,
        "image": [preprocess.in_chans, *preprocess.image_size],
        "setup_s": setup_s,
        "predict_s": path["seconds"],
        "forward_s": forward_s,
        "load_s": load_s,
        "predict_cadences_per_s": path["cadences_per_s"],
        "forward_cadences_per_s": n / forward_s,
        "load_cadences_per_s": n / load_s,
        "ratio": forward_s / path["seconds"],
    }
