"""Training speed, measured two ways at the same model and batch: the bare-loop ceiling (the model's network
on random tensors already on the device) and train.py's own path (``seti.training.pipeline.train`` on
Kaggle-layout files, timed between batch ends). Their ratio says what the data path and Lightning cost."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from seti.bench.common import Settings, compose, peak_gib, reset_peak


def build_network(model_name: str, image_size: Sequence[int]):
    """conf/model/<model_name>.yaml's network, built as the classifier builds it (``create_backbone``) for
    the input channels the default data config gives; returns (network, in_chans, composed config)."""
    from omegaconf import OmegaConf

    from seti.data.preprocess import Preprocessor
    from seti.models.backbone import create_backbone

    cfg = compose("train", [f"model={model_name}", f"data.image_size=[{image_size[0]},{image_size[1]}]"])
    in_chans = Preprocessor(panels=cfg.data.panels, layout=cfg.data.layout).in_chans
    backbone = OmegaConf.to_container(cfg.model.backbone, resolve=True)
    return create_backbone(in_chans=in_chans, **backbone), in_chans, cfg


def bare_loop(model_name: str, batch: int, settings: Settings, device, compile_model: bool = False) -> dict:
    """The ceiling: the model's network on random tensors already on the device, with the precision,
    channels_last and cudnn autotuning train.py resolves for that device, AdamW; ``warmup`` untimed steps,
    then ``steps`` timed between two synchronisations."""
    import torch
    import torch.nn.functional as F

    from seti.runtime import autocast_for, resolve_benchmark, resolve_precision, resolve_switch, synchronize

    cuda = device.type == "cuda"
    torch.manual_seed(0)
    model, in_chans, cfg = build_network(model_name, settings.image_size)
    model = model.to(device).train()
    nhwc = resolve_switch(cfg.model.channels_last, cuda)
    if nhwc:
        model = model.to(memory_format=torch.channels_last)
    torch.backends.cudnn.benchmark = bool(resolve_benchmark(cfg.trainer.benchmark, "gpu" if cuda else "cpu"))
    precision = resolve_precision(cfg.trainer.precision, cuda)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    step_model = torch.compile(model) if compile_model else model
    x = torch.randn(batch, in_chans, *settings.image_size, device=device)
    if nhwc:
        x = x.contiguous(memory_format=torch.channels_last)
    y = (torch.rand(batch, device=device) < 0.3).float()

    def step() -> None:
        with autocast_for(device, precision):
            loss = F.binary_cross_entropy_with_logits(step_model(x).float().reshape(-1), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    reset_peak(device)
    started = time.perf_counter()
    for _ in range(settings.warmup):
        step()
    synchronize(device)
    warmup_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(settings.steps):
        step()
    synchronize(device)
    seconds = time.perf_counter() - started
    return {
        "batch": batch,
        "status": "ok",
        "samples_per_s": batch * settings.steps / seconds,
        "peak_memory_gib": peak_gib(device),
        "warmup_s": warmup_s,
        "seconds": seconds,
        "precision": precision,
        "compile": compile_model,
    }


CLOCKS: list = []  # the step clocks built for train.py-path runs, newest last


def step_clock(warmup: int, steps: int):
    """Hydra target of the train.py-path runs' extra callback: wall-clock training samples/s over the steps
    after ``warmup``, data waits included, as the pipeline's ThroughputMeter counts them, but without the
    warm-up steps (cuDNN autotuning, compilation) that the meter's whole-epoch figure includes. Synchronises
    the device only twice. An epoch shorter than ``warmup + steps`` batches is timed up to its last batch."""
    from lightning.pytorch.callbacks import Callback

    from seti.runtime import synchronize

    class StepClock(Callback):
        def __init__(self) -> None:
            self.mark: float | None = None
            self.samples, self.seconds = 0, None

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if batch_idx in (warmup - 1, warmup + steps - 1):
                synchronize(pl_module.device)
                now = time.perf_counter()
                if batch_idx == warmup - 1:
                    self.mark = now
                elif self.mark is not None:
                    self.seconds = now - self.mark
            if batch_idx >= warmup:
                self.samples += int(batch[0].shape[0])

        def on_validation_start(self, trainer, pl_module) -> None:
            self._stop_early(pl_module)

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            self._stop_early(pl_module)

        def _stop_early(self, pl_module) -> None:
            """The epoch had fewer than ``warmup + steps`` batches (small data): time the steps it had."""
            if self.mark is not None and self.seconds is None and self.samples:
                synchronize(pl_module.device)
                self.seconds = time.perf_counter() - self.mark

        @property
        def samples_per_s(self) -> float | None:
            return self.samples / self.seconds if self.seconds else None

    CLOCKS.append(StepClock())
    return CLOCKS[-1]


def train_overrides(
    model_name: str, batch: int, settings: Settings, root: Path, device, extra: Sequence[str] = ()
) -> list[str]:
    """train.py's command line for a measured run: Kaggle-layout files at ``root``, ``warmup + steps``
    training batches, one validation batch, no test stage (data.transforms=device where the config has it)."""
    from omegaconf import OmegaConf

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
        *extra,
    ]
    if OmegaConf.select(compose("train", overrides), "data.transforms", default=None) is not None:
        overrides.append("data.transforms=device")
    return overrides


def train_path(
    model_name: str,
    batch: int,
    settings: Settings,
    root: Path,
    out_dir: Path,
    device,
    extra: Sequence[str] = (),
) -> dict:
    """train.py's own path in this process: the real Hydra config (:func:`train_overrides`) and
    ``seti.training.pipeline.train``, timed by a :func:`step_clock` over the steps after the warm-up."""
    from omegaconf import OmegaConf

    from seti.runtime import resolve_switch
    from seti.training.pipeline import train

    clock_overrides = [
        f"paths.output_dir={out_dir}",
        f"+callbacks.bench_clock._target_={__name__}.step_clock",
        f"+callbacks.bench_clock.warmup={settings.warmup}",
        f"+callbacks.bench_clock.steps={settings.steps}",
    ]
    cfg = compose("train", [*train_overrides(model_name, batch, settings, root, device, extra), *clock_overrides])
    CLOCKS.clear()
    reset_peak(device)
    started = time.perf_counter()
    summary = train(cfg)
    wall_s = time.perf_counter() - started
    clock = CLOCKS[-1] if CLOCKS else None
    cuda = device.type == "cuda"
    return {
        "batch": batch,
        "status": summary.get("status"),
        "run_dir": str(out_dir),
        "samples_per_s": clock.samples_per_s if clock else None,
        "meter_samples_per_s": summary.get("train_samples_per_s"),
        "peak_memory_gib": (summary.get("peak_memory_mb") or 0) / 1024 if cuda else None,
        "precision": summary.get("precision"),
        "transforms": OmegaConf.select(cfg, "data.transforms", default="workers"),
        "channels_last": resolve_switch(OmegaConf.select(cfg, "model.channels_last", default=False), cuda),
        "compile": resolve_switch(OmegaConf.select(cfg, "model.compile", default=False), cuda),
        "overrides": list(extra),
        "wall_s": wall_s,
        **({"error": summary.get("error")} if summary.get("error") else {}),
    }


def bench_train(root: Path, model_name: str, batch_size: int, batches: int, image_size, workers: int) -> dict:
    """``benchmark.py train``: train.py's path against the bare-loop ceiling, same model, batch and image
    size, 3 warm-up steps then ``batches`` timed ones each; ``ratio_lightning_to_bare`` = path / ceiling."""
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    settings = Settings(
        models=[model_name],
        image_size=tuple(image_size),
        ladder=[batch_size],
        warmup=3,
        steps=batches,
        num_workers=workers,
    )
    with tempfile.TemporaryDirectory(prefix="seti-bench-train-") as out:
        path = train_path(model_name, batch_size, settings, root, Path(out) / "run", device)
    if not path["samples_per_s"]:
        raise RuntimeError(f"train.py's path did not finish ({path['status']}): {path.get('error')}")
    bare = bare_loop(model_name, batch_size, settings, device)
    return {
        "model": model_name,
        "batch_size": batch_size,
        "image_size": list(image_size),
        "device": str(device),
        "lightning_samples_per_s": path["samples_per_s"],
        "bare_loop_samples_per_s": bare["samples_per_s"],
        "ratio_lightning_to_bare": path["samples_per_s"] / bare["samples_per_s"],
        "lightning_wall_s": path["wall_s"],
        "bare_wall_s": bare["warmup_s"] + bare["seconds"],
    }
