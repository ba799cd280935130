"""Benchmarks, printed as ratios against a baseline measured in the same run (machines here are noisy).

  python scripts/benchmark.py data     [--root ROOT] [--n 200]
  python scripts/benchmark.py train    [--root ROOT] [--model tiny] [--batch-size 32] [--batches 30] [--memory-models tiny b0]
  python scripts/benchmark.py predict  --ckpt RUN_DIR_OR_CKPT [--root ROOT]
  python scripts/benchmark.py all

ROOT defaults to the synthetic default dataset (generated on first use). Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO / "data" / "synthetic-n3000-s0"


def ensure_root(root: Path | None) -> Path:
    if root is not None:
        return root
    from seti.data.synthetic import SyntheticParams, ensure_dataset

    ensure_dataset(DEFAULT_ROOT, n=3000, test_n=200, positive_rate=0.3, seed=0, params=SyntheticParams(), workers=2)
    return DEFAULT_ROOT


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
        cadence_aug, image_aug, _ = build_augment(aug_cfg(name))
        for size in ((96, 128), (512, 512)):
            ds = CadenceDataset(root, "train", labels.id.tolist(), labels.target.tolist(),
                                Preprocessor(image_size=size, layout="stack"), cadence_aug, image_aug)
            key = f"dataset_{name}_{size[0]}x{size[1]}_per_s"
            results[key] = rate(lambda k: [ds[i] for i in range(k)], len(ds))
            results[key.replace("_per_s", "_ratio")] = results[key] / results["np_load_per_s"]
    rng = np.random.default_rng(0)
    params = SyntheticParams()
    generate_cadence(rng, True, params)  # import/first-call costs out of the timing
    results["generator_cadences_per_s"] = rate(lambda k: [generate_cadence(rng, i % 3 == 0, params) for i in range(k)], 40)
    from seti.baselines.dedoppler import DedopplerScorer

    batch = np.stack([np.load(p) for p in paths[:64]])
    scorer = DedopplerScorer()
    results["dedoppler_cadences_per_s"] = rate(lambda k: scorer(batch[:k]), len(batch))
    return results


# ---- train ---------------------------------------------------------------------------------------
def _datamodule(root: Path, batch_size: int, image_size, workers: int):
    from seti.data.datamodule import CadenceDataModule

    dm = CadenceDataModule(root=str(root), batch_size=batch_size, num_workers=workers, image_size=image_size,
                           cache=False, persistent_workers=True)
    dm.setup("fit")
    return dm


def _model(name: str, in_chans: int):
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from seti.config import register_resolvers

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

    from seti.training.pipeline import ThroughputMeter

    warmup = 3
    dm = _datamodule(root, batch_size, image_size, workers)
    module = _model(model_name, dm.in_chans)
    meter = ThroughputMeter()

    class SkipWarmup(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if batch_idx == warmup:
                meter.samples, meter.seconds = 0, 0.0

    trainer = L.Trainer(max_epochs=1, limit_train_batches=warmup + batches, limit_val_batches=0, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[SkipWarmup(), meter], accelerator="auto", devices=1,
                        precision="bf16-mixed" if torch.cuda.is_available() else "32-true")
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
        "model": model_name, "batch_size": batch_size, "image_size": list(image_size), "device": str(device),
        "lightning_samples_per_s": lightning_rate, "bare_loop_samples_per_s": bare_rate,
        "ratio_lightning_to_bare": lightning_rate / bare_rate,
        "lightning_wall_s": lightning_wall, "bare_wall_s": bare_wall,
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
    from seti.config import register_resolvers

    register_resolvers()
    out = []
    for name in models:
        timm_name = {"tiny": "test_efficientnet", "v2s": "tf_efficientnetv2_s", "v2m": "tf_efficientnetv2_m"}.get(
            name, f"tf_efficientnet_{name}")
        proc = subprocess.run([sys.executable, "-c", MEMORY_PROBE, timm_name, "1", str(batch_size), *map(str, image_size)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            out.append({"model": name, "error": proc.stderr.strip().splitlines()[-1]})
        else:
            out.append({**json.loads(proc.stdout.strip().splitlines()[-1]), "model": name,
                        "batch_size": batch_size, "image_size": list(image_size)})
    return out


# ---- predict --------------------------------------------------------------------------------------
def bench_predict(ckpt: str, root: Path, batch_size: int) -> dict:
    from seti.inference.predict import benchmark_predict

    return benchmark_predict(ckpt, root, batch_size=batch_size, n_batches=8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["data", "train", "predict", "all"])
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
    args = parser.parse_args(argv)
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
