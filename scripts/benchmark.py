"""Benchmarks, printed as ratios against a baseline measured in the same run (machines here are noisy).

  python scripts/benchmark.py data     [--root ROOT] [--n 200]
  python scripts/benchmark.py train    [--root ROOT] [--model tiny] [--batch-size 32] [--batches 30] [--memory-models tiny b0]
  python scripts/benchmark.py predict  --ckpt RUN_DIR_OR_CKPT [--root ROOT]
  python scripts/benchmark.py all
  python scripts/benchmark.py gpu      [--json PATH] [--docs PATH] [--tiny] [--budget-s 240] [--work-dir DIR]
  python scripts/benchmark.py gpu      --from-json PATH [--docs PATH]     # re-render a run's table into the docs

ROOT defaults to the synthetic default dataset (generated on first use). Nothing here is asserted.

``gpu`` is one time-boxed script for a GPU machine (about 5 minutes on an H200): per model (b1, b3, b5) at
512x512, at batch 16 and at the fastest batch of a short ladder, the bare-loop ceiling, train.py's own
path on synthetic Kaggle-layout files, their ratio and peak memory; predict.py's path for one member and
for a 6-member ensemble with flip TTA; and the founding study's projected wall time. It writes JSON
(--json, after every phase, so a cut-off run still leaves its numbers) and its section of
docs/benchmarks.md. Without CUDA (or with --tiny) it runs tiny settings (tiny model, 32x64, a few steps)
so CI can exercise every line, and writes the docs only when --docs is given.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"


def compose(config_name: str, overrides: list[str] | None = None, *, return_hydra_config: bool = False):
    """A config of conf/ composed as train.py/predict.py compose it, so the benchmark's defaults are the
    project's, never copies of them."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from seti.training.resolvers import register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return hydra_compose(config_name, overrides=overrides or [], return_hydra_config=return_hydra_config)


def ensure_root(root: Path | None) -> Path:
    """``root``, or data=synthetic's default dataset (its size, seed and folder from conf/data/synthetic.yaml,
    under this checkout's data/), generated on first use."""
    if root is not None:
        return root
    from omegaconf import OmegaConf

    from seti.data.synthetic import SyntheticParams, ensure_dataset

    data = compose("train", ["data=synthetic", f"paths.root_dir={REPO}"]).data
    synthetic = OmegaConf.to_container(data.synthetic, resolve=True)
    default_root = Path(data.root)
    ensure_dataset(
        default_root,
        n=synthetic["n"],
        test_n=synthetic["test_n"],
        positive_rate=synthetic["positive_rate"],
        seed=synthetic["seed"],
        params=SyntheticParams(**(synthetic.get("params") or {})),
        workers=synthetic["workers"],
    )
    return default_root


def aug_cfg(name: str):
    from omegaconf import OmegaConf

    return OmegaConf.load(REPO / "conf" / "aug" / f"{name}.yaml")


def rate(fn, n: int) -> float:
    start = time.perf_counter()
    fn(n)
    return n / (time.perf_counter() - start)


# ---- data ---------------------------------------------------------------------------------------
def bench_data(root: Path, n: int) -> dict:
    """Per worker: one process, one torch thread, as in a DataLoader worker; files in the page cache."""
    import torch

    torch.set_num_threads(1)
    from seti.data.augment import build_augment
    from seti.data.dataset import CadenceDataset
    from seti.data.layout import cadence_path, read_id_table
    from seti.data.preprocess import Preprocessor
    from seti.data.synthetic import SyntheticParams, generate_cadence

    labels = read_id_table(root / "train_labels.csv", require_binary_target=True).iloc[:n]
    paths = [cadence_path(root, "train", i) for i in labels.id]
    results: dict = {"samples": len(paths)}

    def bare(k):
        for p in paths[:k]:
            np.load(p, allow_pickle=False)

    bare(len(paths))  # warm the page cache so every variant reads from memory
    results["np_load_per_s"] = rate(bare, len(paths))
    for name in ("none", "light", "strong"):
        cadence_aug, image_aug = build_augment(aug_cfg(name))
        for size in ((96, 128), (512, 512)):
            ds = CadenceDataset(
                root,
                "train",
                labels.id.tolist(),
                labels.target.tolist(),
                Preprocessor(image_size=size, layout="stack"),
                cadence_aug,
                image_aug,
            )
            key = f"dataset_{name}_{size[0]}x{size[1]}_per_s"
            results[key] = rate(lambda k, ds=ds: [ds[i] for i in range(k)], len(ds))
            results[key.replace("_per_s", "_ratio")] = results[key] / results["np_load_per_s"]
    rng = np.random.default_rng(0)
    params = SyntheticParams()
    generate_cadence(rng, True, params)  # import/first-call costs out of the timing
    results["generator_cadences_per_s"] = rate(
        lambda k: [generate_cadence(rng, i % 3 == 0, params) for i in range(k)], 40
    )
    from seti.baselines.dedoppler import DedopplerScorer

    batch = np.stack([np.load(p) for p in paths[:64]])
    scorer = DedopplerScorer()
    results["dedoppler_cadences_per_s"] = rate(lambda k: scorer(batch[:k]), len(batch))
    return results


# ---- train ---------------------------------------------------------------------------------------
def _datamodule(root: Path, batch_size: int, image_size, workers: int):
    from seti.data.datamodule import CadenceDataModule

    dm = CadenceDataModule(
        root=str(root),
        batch_size=batch_size,
        num_workers=workers,
        image_size=image_size,
        cache=False,
        persistent_workers=True,
    )
    dm.setup("fit")
    return dm


def _model(name: str, in_chans: int):
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from seti.training.resolvers import register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[f"model={name}"])
    torch.manual_seed(0)
    return instantiate(cfg.model, in_chans=in_chans, _convert_="partial")


def bench_train(root: Path, model_name: str, batch_size: int, batches: int, image_size, workers: int) -> dict:
    """Lightning (train.py's module, datamodule, callbacks) vs a bare loop: same model, batch, loader."""
    import lightning as L
    import torch
    import torch.nn.functional as F

    from seti.training.callbacks import ThroughputMeter

    warmup = 3
    dm = _datamodule(root, batch_size, image_size, workers)
    module = _model(model_name, dm.in_chans)
    meter = ThroughputMeter()

    class SkipWarmup(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if batch_idx == warmup:
                meter.reset()

    trainer = L.Trainer(
        max_epochs=1,
        limit_train_batches=warmup + batches,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[SkipWarmup(), meter],
        accelerator="auto",
        devices=1,
        precision="bf16-mixed" if torch.cuda.is_available() else "32-true",
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=dm)
    lightning_wall = time.perf_counter() - start
    device = trainer.strategy.root_device

    bare_model = _model(model_name, dm.in_chans).to(device).train()
    optimizer = torch.optim.AdamW(bare_model.parameters(), lr=1e-3)
    loader = dm.train_dataloader()
    samples, seconds = 0, 0.0
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    start_all = time.perf_counter()
    for index, (x, y, _) in enumerate(loader):
        if index >= warmup + batches:
            break
        tick = time.perf_counter()
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast:
            loss = F.binary_cross_entropy_with_logits(bare_model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(bare_model.parameters(), 1.0)
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if index >= warmup:
            seconds += time.perf_counter() - tick
            samples += len(y)
    bare_wall = time.perf_counter() - start_all
    lightning_rate, bare_rate = meter.samples_per_s, samples / seconds
    return {
        "model": model_name,
        "batch_size": batch_size,
        "image_size": list(image_size),
        "device": str(device),
        "lightning_samples_per_s": lightning_rate,
        "bare_loop_samples_per_s": bare_rate,
        "ratio_lightning_to_bare": lightning_rate / bare_rate,
        "lightning_wall_s": lightning_wall,
        "bare_wall_s": bare_wall,
    }


MEMORY_PROBE = r"""
import json, resource, sys, torch, torch.nn.functional as F, timm
name, chans, batch, h, w = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
dev = "cuda" if torch.cuda.is_available() else "cpu"
model = timm.create_model(name, in_chans=chans, num_classes=1).to(dev).train()
opt = torch.optim.AdamW(model.parameters())
x = torch.randn(batch, chans, h, w, device=dev); y = torch.rand(batch, device=dev)
for _ in range(2):
    with torch.autocast(dev, dtype=torch.bfloat16, enabled=dev == "cuda"):
        loss = F.binary_cross_entropy_with_logits(model(x).squeeze(1).float(), y)
    opt.zero_grad(); loss.backward(); opt.step()
peak = torch.cuda.max_memory_allocated() / 2**20 if dev == "cuda" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"model": name, "device": dev, "peak_mb": peak}))
"""


def bench_memory(models: list[str], batch_size: int, image_size) -> list[dict]:
    """Peak memory of two training steps per model, each in a fresh process (GPU: allocated; CPU: RSS)."""
    out = []
    for name in models:
        timm_name = compose_train([f"model={name}"]).model.backbone.name  # the timm model conf/model/<name>.yaml names
        proc = subprocess.run(
            [sys.executable, "-c", MEMORY_PROBE, timm_name, "1", str(batch_size), *map(str, image_size)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            out.append({"model": name, "error": proc.stderr.strip().splitlines()[-1]})
        else:
            out.append(
                {
                    **json.loads(proc.stdout.strip().splitlines()[-1]),
                    "model": name,
                    "batch_size": batch_size,
                    "image_size": list(image_size),
                }
            )
    return out


# ---- predict --------------------------------------------------------------------------------------
def predict_defaults():
    """conf/predict.yaml: predict.py's own defaults (batch size, workers, device, precision, TTA)."""
    return compose("predict")


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
    """Cadences/s of predict.py's path (read raw + transfer + batched preprocessing + forward) vs the bare
    forward pass on batches already preprocessed on the device, and vs reading alone.

    All three run on the same ``batch_size * n_batches`` test cadences (the submission's ids, repeated if
    too few) with the members of the checkpoint's first preprocessing group. ``ratio`` = forward / predict
    time: near 1 means the models are the bottleneck, well below 1 means reading is (add workers or CPUs).
    A setting left None is predict.py's default (conf/predict.yaml).
    """
    import torch
    from torch.utils.data import DataLoader

    from seti.data.layout import cadence_path, read_id_table
    from seti.inference.engine import RawCadenceDataset, collate_raw, probabilities
    from seti.inference.ensemble import model_stack, predict_ids
    from seti.inference.members import find_checkpoints, group_by_preprocessing, load_members
    from seti.inference.settings import ScoringOptions, resolve_workers
    from seti.runtime import autocast_for, resolve_device, resolve_precision, resolve_switch

    defaults = predict_defaults()
    batch_size = int(defaults.batch_size if batch_size is None else batch_size)
    num_workers = defaults.num_workers if num_workers is None else num_workers
    device = str(defaults.device if device is None else device)
    precision = str(defaults.precision if precision is None else precision)
    tta = str(defaults.tta if tta is None else tta)
    setup_started = time.perf_counter()
    members = load_members(find_checkpoints(ckpt))
    preprocess, group = next(iter(group_by_preprocessing(members).items()))
    submission = read_id_table(root / "sample_submission.csv", require_binary_target=False)
    n = batch_size * n_batches
    ids = [str(i) for i in np.resize(submission["id"].to_numpy(), n)]
    dev = resolve_device(device)
    prec = resolve_precision(precision, cuda=dev.type == "cuda")
    workers = resolve_workers(num_workers, n, batch_size)
    setup_s = time.perf_counter() - setup_started

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def loader() -> DataLoader:
        return DataLoader(
            RawCadenceDataset([cadence_path(root, "test", i) for i in ids]),
            batch_size=batch_size,
            num_workers=workers,
            pin_memory=dev.type == "cuda",
            collate_fn=collate_raw,
        )

    started = time.perf_counter()
    raw_batches = [raw for raw, _ in loader()]  # also warms the page cache for the predict pass
    load_s = time.perf_counter() - started
    nhwc = resolve_switch(defaults.channels_last, cuda=dev.type == "cuda")
    stack = model_stack([m.model for m in group]).to(dev)
    if nhwc:
        stack = stack.to(memory_format=torch.channels_last)
    batches = []
    for raw in raw_batches:
        x = preprocess.batch(raw.to(dev))
        batches.append(x.contiguous(memory_format=torch.channels_last) if nhwc else x)

    @torch.no_grad()
    def forward_all() -> None:
        for x in batches:
            with autocast_for(dev, prec):
                probabilities(stack, x, tta)
        sync()

    forward_all()  # warm-up: kernels, autotuning, allocator
    started = time.perf_counter()
    forward_all()
    forward_s = time.perf_counter() - started
    options = ScoringOptions(
        check=defaults.check,
        batch_size=batch_size,
        num_workers=workers,
        device=dev,
        precision=prec,
        tta=tta,
        channels_last=defaults.channels_last,
        transforms=defaults.transforms,
    )
    predict_ids(group, root, "test", ids[:batch_size], options)  # warm-up of the full path
    sync()
    started = time.perf_counter()
    predict_ids(group, root, "test", ids, options)
    sync()
    predict_s = time.perf_counter() - started
    return {
        "cadences": n,
        "batch_size": batch_size,
        "n_batches": n_batches,
        "members": len(group),
        "num_workers": workers,
        "device": str(dev),
        "precision": prec,
        "tta": tta,
        "image": [preprocess.in_chans, *preprocess.image_size],
        "setup_s": setup_s,
        "predict_s": predict_s,
        "forward_s": forward_s,
        "load_s": load_s,
        "predict_cadences_per_s": n / predict_s,
        "forward_cadences_per_s": n / forward_s,
        "load_cadences_per_s": n / load_s,
        "ratio": forward_s / predict_s,
    }


# ---- gpu: the founding study's numbers, in one time-boxed script -----------------------------------
GIB = 2**30
DOCS = REPO / "docs" / "benchmarks.md"
SECTION_START, SECTION_END = "<!-- benchmark:gpu:start -->", "<!-- benchmark:gpu:end -->"
#: The founding study: B1/B3/B5 x none/strong x 4 folds x 5 epochs, 45k train + 15k val cadences per fold, 512x512.
FOUNDING_STUDY = {
    "models": ["b1", "b3", "b5"],
    "augs": ["none", "strong"],
    "folds": 4,
    "epochs": 5,
    "train_cadences": 45_000,
    "val_cadences": 15_000,
    "image_size": [512, 512],
}
KAGGLE_LABELLED = 60_000
PROJECTION_FORMULA = (
    "hours = augs x folds x sum over models of [epochs x (train_cadences / train_rate + val_cadences / eval_rate)"
    " + val_cadences / eval_rate] / 3600: one job at a time; train_rate = the train.py path's samples/s at that"
    " batch, eval_rate = the predict path's cadences/s for one member of that model; the last term is the"
    " best checkpoint's validation predictions that train.py writes after fitting"
)


@dataclass
class GpuSettings:
    """What ``gpu`` measures. ``tiny``: the CPU/CI variant (tiny model, small images, a few steps)."""

    tiny: bool
    models: list
    image_size: tuple
    ladder: list
    warmup: int
    steps: int
    train_n: int
    test_n: int
    num_folds: int
    predict_cadences: int
    ensemble_cadences: int
    predict_batch: int
    num_workers: int
    ensemble_members: int
    budget_s: float


def gpu_settings(tiny: bool, budget_s: float | None = None) -> GpuSettings:
    """Tiny: a few steps of the tiny model on small images. Otherwise experiment=augmentation_study's
    models, image size, batch (the ladder's first rung, then doubled) and workers, and predict.py's batch."""
    import os

    if tiny:
        return GpuSettings(
            tiny=True,
            models=["tiny"],
            image_size=(32, 64),
            ladder=[2, 4],
            warmup=1,
            steps=2,
            train_n=24,
            test_n=4,
            num_folds=4,
            predict_cadences=16,
            ensemble_cadences=16,
            predict_batch=8,
            num_workers=0,
            ensemble_members=6,
            budget_s=budget_s or 600.0,
        )
    study = augmentation_study_config()
    batch = int(study.data.batch_size)
    return GpuSettings(
        tiny=False,
        models=[str(m) for m in study_values(study, "model", study.model.name)],
        image_size=tuple(study.data.image_size),
        ladder=[batch * 2**i for i in range(4)],
        warmup=3,
        steps=10,
        train_n=2000,
        test_n=512,
        num_folds=10,
        predict_cadences=4096,
        ensemble_cadences=1024,
        predict_batch=int(predict_defaults().batch_size),
        num_workers=min(int(study.data.num_workers), os.cpu_count() or 1),
        ensemble_members=6,
        budget_s=budget_s or 240.0,
    )


class Clock:
    """Wall time since the start against the budget; optional measurements run only while time is left."""

    def __init__(self, budget_s: float) -> None:
        self.started, self.budget_s = time.perf_counter(), budget_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> float:
        return self.budget_s - self.elapsed()


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _free(device) -> None:
    """Drop what the last measurement left: Python garbage first, then the CUDA allocator's cache."""
    import gc

    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _reset_peak(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device) -> float | None:
    """Peak allocated GPU memory since the last reset; None on the CPU (RSS never goes down, so a per-step
    peak cannot be told apart there)."""
    import torch

    return torch.cuda.max_memory_allocated(device) / GIB if device.type == "cuda" else None


def _is_oom(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err).lower()


def compose_train(overrides: list[str]):
    """train.py's config, composed as train.py composes it (no Hydra run: the caller sets paths.output_dir)."""
    return compose("train", overrides)


def bare_loop(model_name: str, batch: int, settings: GpuSettings, device, compile_model: bool = False) -> dict:
    """The ceiling: train.py's model on random tensors already on the device, bf16 autocast and channels_last on
    CUDA, AdamW; ``warmup`` untimed steps, then ``steps`` timed between two synchronisations."""
    import contextlib

    import torch
    import torch.nn.functional as F
    from hydra.utils import instantiate

    cfg = compose_train([f"model={model_name}", f"data.image_size=[{settings.image_size[0]},{settings.image_size[1]}]"])
    from seti.data.preprocess import Preprocessor

    in_chans = Preprocessor(panels=cfg.data.panels, layout=cfg.data.layout).in_chans
    cuda = device.type == "cuda"
    torch.manual_seed(0)
    model = instantiate(cfg.model, in_chans=in_chans, _convert_="partial").to(device).train()
    if cuda:
        model = model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    step_model = torch.compile(model) if compile_model else model
    x = torch.randn(batch, in_chans, *settings.image_size, device=device)
    if cuda:
        x = x.contiguous(memory_format=torch.channels_last)
    y = (torch.rand(batch, device=device) < 0.3).float()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext()

    def step() -> None:
        with autocast:
            loss = F.binary_cross_entropy_with_logits(step_model(x).float().reshape(-1), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    _reset_peak(device)
    started = time.perf_counter()
    for _ in range(settings.warmup):
        step()
    _sync(device)
    warmup_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(settings.steps):
        step()
    _sync(device)
    seconds = time.perf_counter() - started
    return {
        "batch": batch,
        "status": "ok",
        "samples_per_s": batch * settings.steps / seconds,
        "peak_memory_gib": _peak_gib(device),
        "warmup_s": warmup_s,
        "compile": compile_model,
    }


def measure(fn, *args, device, **kwargs) -> dict:
    """Run one measurement; an out-of-memory is a result ("oom"), and memory is freed whatever happens."""
    try:
        result = fn(*args, **kwargs)
    except Exception as err:  # noqa: BLE001 - recorded, the next measurement still runs
        status = "oom" if _is_oom(err) else "error"
        result = {
            "status": status,
            "error": f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}",
        }
    _free(device)
    return result


CLOCKS: list = []  # the step clocks built for train.py-path runs, newest last


def step_clock(warmup: int, steps: int):
    """Hydra target of the train.py-path runs' extra callback: wall-clock training samples/s over the steps
    after ``warmup``, data waits included, as the pipeline's ThroughputMeter counts them, but without the
    warm-up steps (cuDNN autotuning, compilation) that the meter's whole-epoch figure includes. Synchronises
    the device only twice."""
    from lightning.pytorch.callbacks import Callback

    class StepClock(Callback):
        def __init__(self) -> None:
            self.mark: float | None = None
            self.samples, self.seconds = 0, None

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if batch_idx in (warmup - 1, warmup + steps - 1):
                _sync(pl_module.device)
                now = time.perf_counter()
                if batch_idx == warmup - 1:
                    self.mark = now
                elif self.mark is not None:
                    self.seconds = now - self.mark
            if batch_idx >= warmup:
                self.samples += _batch_len(batch)

        @property
        def samples_per_s(self) -> float | None:
            return self.samples / self.seconds if self.seconds else None

    CLOCKS.append(StepClock())
    return CLOCKS[-1]


def _batch_len(batch) -> int:
    import torch

    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0])
    if isinstance(batch, dict):
        batch = list(batch.values())
    return next(_batch_len(item) for item in batch if isinstance(item, (torch.Tensor, list, tuple, dict)))


def train_path(
    model_name: str,
    batch: int,
    settings: GpuSettings,
    root: Path,
    out_dir: Path,
    device,
    extra: list[str] | None = None,
) -> dict:
    """train.py's own path on Kaggle-layout files: the real Hydra config and ``seti.training.pipeline.train``
    for ``warmup + steps`` training batches (data.transforms=device where the config has it)."""
    from omegaconf import OmegaConf

    from seti.runtime import resolve_switch
    from seti.training.pipeline import train

    h, w = settings.image_size
    overrides = [
        "data=kaggle",
        f"data.root={root}",
        f"model={model_name}",
        f"data.batch_size={batch}",
        f"data.image_size=[{h},{w}]",
        f"data.num_folds={settings.num_folds}",
        "data.fold=0",
        f"data.num_workers={settings.num_workers}",
        "data.cache=false",
        "logger=csv",
        "trainer.max_epochs=1",
        "++trainer.enable_progress_bar=false",
        *(["trainer.accelerator=cpu"] if device.type == "cpu" else []),
        f"trainer.limit_train_batches={settings.warmup + settings.steps}",
        "trainer.limit_val_batches=1",
        "test_after_fit=false",
        "skip_finished=false",
        "ckpt_path=null",
        f"paths.output_dir={out_dir}",
        "+callbacks.bench_clock._target_=" + f"{__name__}.step_clock",
        f"+callbacks.bench_clock.warmup={settings.warmup}",
        f"+callbacks.bench_clock.steps={settings.steps}",
        *(extra or []),
    ]
    probe = compose_train(overrides)
    if OmegaConf.select(probe, "data.transforms", default=None) is not None:
        overrides.append("data.transforms=device")
    cfg = compose_train(overrides)
    CLOCKS.clear()
    _reset_peak(device)
    summary = train(cfg)
    clock = CLOCKS[-1] if CLOCKS else None
    return {
        "batch": batch,
        "status": summary.get("status"),
        "run_dir": str(out_dir),
        "samples_per_s": clock.samples_per_s if clock else None,
        "meter_samples_per_s": summary.get("train_samples_per_s"),
        "peak_memory_gib": (summary.get("peak_memory_mb") or 0) / 1024 if device.type == "cuda" else None,
        "precision": summary.get("precision"),
        "transforms": OmegaConf.select(cfg, "data.transforms", default="workers"),
        "channels_last": resolve_switch(
            OmegaConf.select(cfg, "model.channels_last", default=False), device.type == "cuda"
        ),
        "compile": resolve_switch(OmegaConf.select(cfg, "model.compile", default=False), device.type == "cuda"),
        "overrides": extra or [],
    }


def predict_rate(
    run_dirs: list[Path], root: Path, settings: GpuSettings, members: int, tta: str, cadences: int, device
) -> dict:
    """predict.py's path (library calls, no CSV writing): ``members`` checkpoints cycled from ``run_dirs``,
    ``cadences`` test cadences (the test files repeated; in the page cache), timed after a one-batch warm-up.
    Worker start-up is inside the timing, as it is in predict.py."""
    from seti.data.layout import read_id_table
    from seti.inference.ensemble import predict_ids
    from seti.inference.members import find_checkpoints, load_members
    from seti.inference.settings import ScoringOptions
    from seti.runtime import resolve_precision

    specs = [find_checkpoints(run)[0] for run in run_dirs]
    loaded = load_members([specs[i % len(specs)] for i in range(members)])
    test_ids = read_id_table(root / "sample_submission.csv", require_binary_target=False)["id"].tolist()
    ids = [test_ids[i % len(test_ids)] for i in range(cadences)]
    defaults = predict_defaults()
    options = ScoringOptions(
        check=defaults.check,
        batch_size=settings.predict_batch,
        num_workers=defaults.num_workers if not settings.tiny else 0,
        device=device,
        precision=resolve_precision(defaults.precision, cuda=device.type == "cuda"),
        tta=tta,
        channels_last=defaults.channels_last,
        transforms=defaults.transforms,
    )
    predict_ids(loaded, root, "test", ids[: settings.predict_batch], options)  # warm-up: autotuning, workers
    stats: dict = {}
    started = time.perf_counter()
    predict_ids(loaded, root, "test", ids, options, stats=stats)
    _sync(device)
    seconds = time.perf_counter() - started
    return {
        "status": "ok",
        "members": members,
        "distinct_checkpoints": len({str(s.ckpt_path) for s in specs}),
        "tta": tta,
        "batch_size": settings.predict_batch,
        "cadences": len(ids),
        "seconds": seconds,
        "cadences_per_s": len(ids) / seconds,
        "member_cadences_per_s": len(ids) * members / seconds,
        "precision": options.precision,
        "channels_last": stats.get("channels_last"),
    }


def project_hours(study: dict, train_rates: dict, eval_rates: dict) -> float | None:
    """Wall hours of ``study`` one job at a time, from measured rates (see PROJECTION_FORMULA)."""
    total = 0.0
    for model in study["models"]:
        train_rate, eval_rate = train_rates.get(model), eval_rates.get(model)
        if not train_rate or not eval_rate:
            return None
        per_job = study["epochs"] * (study["train_cadences"] / train_rate + study["val_cadences"] / eval_rate)
        total += per_job + study["val_cadences"] / eval_rate
    return len(study["augs"]) * study["folds"] * total / 3600


def augmentation_study_config():
    """``experiment=augmentation_study`` composed with its Hydra config (the sweep's parameters)."""
    return compose("train", ["experiment=augmentation_study", "data.root=unused"], return_hydra_config=True)


def study_values(cfg, key: str, default) -> list:
    """The values a composed sweep config's ``key`` takes (its sweeper parameter, else ``default``)."""
    from omegaconf import OmegaConf

    from seti.training.devices import sweep_values

    return sweep_values(key, default, [], OmegaConf.to_container(cfg.hydra.sweeper.params) or {})


def augmentation_study() -> dict:
    """``experiment=augmentation_study`` as the founding-study dict: its sweep, epochs and the Kaggle fold sizes."""
    cfg = augmentation_study_config()
    folds = int(cfg.data.num_folds)
    return {
        "models": [str(m) for m in study_values(cfg, "model", cfg.model.name)],
        "augs": [str(a) for a in study_values(cfg, "aug", cfg.aug.name)],
        "folds": len(study_values(cfg, "data.fold", cfg.data.fold)),
        "epochs": int(cfg.trainer.max_epochs),
        "train_cadences": KAGGLE_LABELLED * (folds - 1) // folds,
        "val_cadences": KAGGLE_LABELLED // folds,
        "image_size": list(cfg.data.image_size),
        "batch_size": int(cfg.data.batch_size),
    }


def bench_gpu(settings: GpuSettings, work_dir: Path, save=None) -> dict:
    """Every measurement of ``gpu``, in order of importance, each time-boxed; ``save(results)`` after each phase."""
    import os
    import platform

    import torch

    from seti.data.synthetic import ensure_dataset

    clock = Clock(settings.budget_s)
    device = torch.device("cuda" if torch.cuda.is_available() and not settings.tiny else "cpu")
    save = save or (lambda r: None)
    root = work_dir / "data"
    # the files first: the generator forks its workers, best done before this process holds a CUDA context
    ensure_dataset(
        root,
        n=settings.train_n,
        test_n=settings.test_n,
        positive_rate=0.3,
        seed=0,
        workers=max(1, min(16, os.cpu_count() or 1)),
        progress=False,
    )
    cuda = device.type == "cuda"
    results: dict = {
        "mode": "tiny" if settings.tiny else "gpu",
        "complete": False,
        "machine": {
            "device": torch.cuda.get_device_name(device) if cuda else f"CPU ({platform.machine()})",
            "gpu_memory_gib": torch.cuda.get_device_properties(device).total_memory / GIB if cuda else None,
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        },
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.__dict__.items()},
        "data": {
            "root": str(root),
            "train_n": settings.train_n,
            "test_n": settings.test_n,
            "generate_s": clock.elapsed(),
        },
        "models": {},
        "predict": {},
        "compile": {},
        "skipped": [],
    }
    run_dirs: dict[str, list[Path]] = {}
    reference = settings.ladder[0]
    for index, model in enumerate(settings.models):
        entry: dict = {"ladder": [], "runs": {}}
        results["models"][model] = entry
        # bare-loop ladder: stop at OOM, when samples/s stops rising, or when this model's share of time is spent
        share_end = clock.elapsed() + max(10.0, clock.left() * 0.55 / (len(settings.models) - index))
        best = None
        for batch in settings.ladder:
            if batch != reference and clock.elapsed() > share_end:
                results["skipped"].append(f"{model} bare loop at batch {batch}: time budget")
                break
            point = measure(bare_loop, model, batch, settings, device, device=device)
            point["batch"] = batch
            entry["ladder"].append(point)
            if point["status"] != "ok":
                break
            rising = best is None or point["samples_per_s"] >= best["samples_per_s"] * 1.03
            if best is None or point["samples_per_s"] > best["samples_per_s"]:
                best = point
            if not rising:  # within 3% of the best so far: a bigger batch will not pay
                break
        entry["best_batch"] = best["batch"] if best else None
        save(results)
        for batch in dict.fromkeys(b for b in (reference, entry["best_batch"]) if b is not None):
            bare = next(p for p in entry["ladder"] if p["batch"] == batch)
            if batch != reference and clock.left() < 30 * (len(settings.models) - index):
                results["skipped"].append(f"{model} train.py path at batch {batch}: time budget")
                continue
            out = work_dir / "runs" / f"{model}-bs{batch}"
            run = measure(train_path, model, batch, settings, root, out, device, device=device)
            if run.get("status") == "finished":
                run_dirs.setdefault(model, []).append(out)
            ratio = (
                (run["samples_per_s"] / bare["samples_per_s"])
                if run.get("samples_per_s") and bare.get("samples_per_s")
                else None
            )
            entry["runs"][str(batch)] = {"batch": batch, "bare": bare, "train_path": run, "ratio": ratio}
            save(results)
    # predict: one member per model (also the eval rate of the projection), then the ensemble with flip TTA
    for model, dirs in run_dirs.items():
        results["predict"][f"one_member_{model}"] = measure(
            predict_rate, dirs[:1], root, settings, 1, "none", settings.predict_cadences, device, device=device
        )
    all_runs = [d for dirs in run_dirs.values() for d in dirs]
    if all_runs and clock.left() > 20:
        results["predict"]["ensemble"] = measure(
            predict_rate,
            all_runs,
            root,
            settings,
            settings.ensemble_members,
            "flip",
            settings.ensemble_cadences,
            device,
            device=device,
        )
    elif all_runs:
        results["skipped"].append("ensemble predict: time budget")
    save(results)
    results["projections"] = projections(results, settings)
    save(results)
    # optional, while time is left: model.compile=true on the train.py path at the reference batch (the
    # compile-off figure is the run above), or torch.compile on the bare loop where the config has no such key
    has_compile_key = compose_train([]).model.get("compile", None) is not None
    for model in settings.models:
        if settings.tiny or device.type != "cuda":
            results["compile"][model] = {
                "status": "skipped",
                "reason": "only measured on a GPU (compiling takes minutes on a CPU)",
            }
            continue
        if clock.left() < 120:
            results["compile"][model] = {"status": "skipped", "reason": f"time budget ({clock.left():.0f} s left)"}
            continue
        if has_compile_key:
            out = work_dir / "runs" / f"{model}-bs{reference}-compiled"
            point = measure(
                train_path, model, reference, settings, root, out, device, ["model.compile=true"], device=device
            )
            point["path"] = "train.py"
        else:
            point = measure(bare_loop, model, reference, settings, device, True, device=device)
            point["path"] = "bare loop"
        off = (
            ((results["models"][model]["runs"].get(str(reference)) or {}).get("train_path") or {})
            if has_compile_key
            else next((p for p in results["models"][model]["ladder"] if p["batch"] == reference), {})
        )
        point["batch"] = reference
        point["without_compile_samples_per_s"] = off.get("samples_per_s")
        results["compile"][model] = point
        save(results)
    results["wall_s"] = clock.elapsed()
    results["complete"] = True
    return results


def projections(results: dict, settings: GpuSettings) -> dict:
    """The founding study and experiment=augmentation_study, projected at the reference batch and at each
    model's fastest batch. In tiny mode the measured tiny model stands in for every model of the study."""
    stand_in = settings.models[0] if settings.tiny else None
    out: dict = {"formula": PROJECTION_FORMULA, "stand_in": stand_in}
    eval_rates = {m: (results["predict"].get(f"one_member_{m}") or {}).get("cadences_per_s") for m in settings.models}
    for name, study in (("founding_study", dict(FOUNDING_STUDY)), ("augmentation_study", augmentation_study())):
        entry = {"study": study}
        for label in ("reference_batch", "best_batch"):
            train_rates, batches = {}, {}
            for m in settings.models:
                model_entry = results["models"].get(m) or {}
                batch = settings.ladder[0] if label == "reference_batch" else model_entry.get("best_batch")
                run = (model_entry.get("runs") or {}).get(str(batch)) or {}
                train_rates[m] = (run.get("train_path") or {}).get("samples_per_s")
                batches[m] = batch
            if stand_in:
                train_rates = {m: train_rates[stand_in] for m in study["models"]}
                rates_eval = {m: eval_rates[stand_in] for m in study["models"]}
                batches = {m: batches[stand_in] for m in study["models"]}
            else:
                rates_eval = eval_rates
            entry[label] = {
                "batch": batches,
                "train_rates": train_rates,
                "eval_rates": rates_eval,
                "hours": project_hours(study, train_rates, rates_eval),
            }
        out[name] = entry
    return out


def _fmt(value, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def gpu_markdown(results: dict) -> str:
    """The docs/benchmarks.md section for one ``gpu`` run."""
    machine, settings = results["machine"], results["settings"]
    lines = [
        f"## GPU: `python scripts/benchmark.py gpu` ({results['mode']} mode)",
        "",
        f"Measured on {machine['device']} ({_fmt(machine.get('gpu_memory_gib'), 0)} GiB), {machine['cpus']} CPUs, torch "
        f"{machine['torch']}, {machine['date']}; wall time {_fmt(results.get('wall_s'), 0)} s"
        + ("" if results.get("complete") else " (**incomplete run**)")
        + ".",
        f"Images {settings['image_size'][0]}x{settings['image_size'][1]}, bf16 autocast on a GPU; bare loop: random tensors on the"
        f" device, channels_last, AdamW, {settings['warmup']} warm-up + {settings['steps']} timed steps; train.py path:"
        f" `seti.training.pipeline.train` on {settings['train_n']} synthetic Kaggle-layout files, the same steps, timed"
        " by wall clock between batch ends (loader waits included).",
        "",
        "| model | batch | bare loop samples/s | train.py path samples/s | ratio | peak GiB bare / train.py | data path |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, entry in results["models"].items():
        for batch, run in entry["runs"].items():
            bare, path = run["bare"], run["train_path"]
            status = (
                "" if path.get("status") == "finished" else f" ({path.get('status')}: {path.get('error', '')[:60]})"
            )
            lines.append(
                f"| {model} | {batch}{' (fastest)' if int(batch) == entry.get('best_batch') and int(batch) != settings['ladder'][0] else ''} "
                f"| {_fmt(bare.get('samples_per_s'))} | {_fmt(path.get('samples_per_s'))}{status} | {_fmt(run.get('ratio'), 2)} "
                f"| {_fmt(bare.get('peak_memory_gib'), 1)} / {_fmt(path.get('peak_memory_gib'), 1)} | {path.get('transforms', 'n/a')} |"
            )
    lines += ["", "Bare-loop batch ladder (samples/s; stops at out-of-memory or when it stops rising):", ""]
    for model, entry in results["models"].items():
        rungs = ", ".join(
            f"{p['batch']}: {_fmt(p.get('samples_per_s')) if p['status'] == 'ok' else p['status']}"
            for p in entry["ladder"]
        )
        lines.append(f"- {model}: {rungs}")
    lines += [
        "",
        "| predict path | members | TTA | batch | cadences/s | member-cadences/s |",
        "|---|---|---|---|---|---|",
    ]
    for name, p in results["predict"].items():
        lines.append(
            f"| {name} | {p.get('members', 'n/a')} | {p.get('tta', 'n/a')} | {p.get('batch_size', 'n/a')} "
            f"| {_fmt(p.get('cadences_per_s'))} | {_fmt(p.get('member_cadences_per_s'))} |"
        )
    compiled = {m: c for m, c in results.get("compile", {}).items() if c.get("status") in ("ok", "finished")}
    if compiled:
        lines += [
            "",
            "torch.compile (model.compile=true) at the reference batch: "
            + "; ".join(
                f"{m} ({c.get('path')}) {_fmt(c.get('samples_per_s'))} samples/s vs {_fmt(c.get('without_compile_samples_per_s'))}"
                " without"
                for m, c in compiled.items()
            ),
        ]
    proj = results.get("projections") or {}
    if proj:
        lines += [
            "",
            f"| projected wall time, one job at a time | at batch {settings['ladder'][0]} | at each model's fastest batch |",
            "|---|---|---|",
        ]
        for name in ("founding_study", "augmentation_study"):
            entry = proj[name]
            study = entry["study"]
            label = (
                f"{name.replace('_', ' ')} ({'/'.join(study['models'])} x {'/'.join(study['augs'])} x {study['folds']} folds"
                f" x {study['epochs']} epochs)"
            )
            lines.append(
                f"| {label} | {_fmt(entry['reference_batch']['hours'], 2)} h | {_fmt(entry['best_batch']['hours'], 2)} h |"
            )
        lines += ["", f"Formula: {proj['formula']}."]
        if proj.get("stand_in"):
            lines.append(
                f"Tiny mode: the measured `{proj['stand_in']}` model stands in for every model, so these hours say nothing about B1/B3/B5."
            )
    if results.get("skipped"):
        lines += ["", "Skipped: " + "; ".join(results["skipped"]) + "."]
    return "\n".join(lines) + "\n"


def write_docs_section(path: Path, markdown: str) -> None:
    """Replace the ``gpu`` section of ``path`` (between its markers) atomically, keeping everything else."""
    from seti.atomic import atomic_write_text

    text = path.read_text() if path.is_file() else ""
    block = f"{SECTION_START}\n{markdown.rstrip()}\n{SECTION_END}\n"
    if SECTION_START in text and SECTION_END in text:
        head, rest = text.split(SECTION_START, 1)
        tail = rest.split(SECTION_END, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + block
    atomic_write_text(path, text)


def run_gpu(args) -> dict:
    import tempfile

    import torch

    from seti.atomic import atomic_write_text

    if args.from_json:
        results = json.loads(args.from_json.read_text())
    else:
        tiny = args.tiny or not torch.cuda.is_available()
        settings = gpu_settings(tiny, args.budget_s)
        work = args.work_dir or Path(tempfile.mkdtemp(prefix="seti-bench-"))

        def save(results: dict) -> None:
            if args.json:
                atomic_write_text(args.json, json.dumps(results, indent=2, default=str))

        results = bench_gpu(settings, work, save)
        results["markdown"] = gpu_markdown(results)
        save(results)
    docs = args.docs if args.docs is not None else (None if results["mode"] == "tiny" else DOCS)
    if docs is not None:
        write_docs_section(docs, results.get("markdown") or gpu_markdown(results))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["data", "train", "predict", "all", "gpu"])
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
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--tiny", action="store_true", help="gpu: tiny settings even where CUDA is available")
    parser.add_argument(
        "--budget-s", type=float, default=None, help="gpu: wall-time budget (default 240 s; tiny 600 s)"
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
    args = parser.parse_args(argv)
    if args.what == "gpu":
        results = run_gpu(args)
        print(results.get("markdown") or gpu_markdown(results))
        return 0 if results.get("complete") else 1
    root = ensure_root(args.root)
    results: dict = {}
    if args.what in ("data", "all"):
        results["data"] = bench_data(root, args.n)
    if args.what in ("train", "all"):
        results["train"] = bench_train(root, args.model, args.batch_size, args.batches, args.image_size, args.workers)
        results["memory"] = bench_memory(args.memory_models, args.memory_batch_size, args.memory_image_size)
    if args.what in ("predict", "all"):
        if not args.ckpt:
            parser.error("predict needs --ckpt (a checkpoint, run dir or sweep dir)")
        results["predict"] = bench_predict(args.ckpt, root, args.batch_size)
    text = json.dumps(results, indent=2, default=float)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
