"""Experiment loggers. W&B runs offline unless a key is configured, so nothing needs the network."""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from typing import Any

WANDB_MODES = ("auto", "online", "offline", "disabled")


def wandb_credentials_present() -> bool:
    """True when a W&B API key is set or stored by ``wandb login`` (no network, no prompt)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def resolve_wandb_mode(mode: str) -> str:
    if mode not in WANDB_MODES:
        raise ValueError(f"logger.wandb.mode must be one of {list(WANDB_MODES)}, got {mode!r}")
    if mode != "auto":
        return mode
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    return "online" if wandb_credentials_present() else "offline"


def keep_wandb_offline(mode: str = "offline") -> None:
    """Make an offline (or disabled) W&B run contact no host, process-wide.

    Passing ``mode="offline"`` to ``wandb.init`` alone is not enough in wandb 0.31: its process-wide
    telemetry exporter reads the global settings (``WANDB_MODE``), and without it a background thread
    resolves and posts to the W&B API host (seconds of timeout at exit on an air-gapped machine). So the
    variable is set before wandb sets itself up, and that exporter is switched off outright.
    """
    os.environ["WANDB_MODE"] = mode
    try:
        from wandb.analytics.opentelemetry import opentelemetry_proxy
    except ImportError:  # another wandb version: WANDB_MODE is what counts there
        return
    disable = getattr(opentelemetry_proxy, "disable", None)
    if callable(disable):
        disable()


def wandb_logger(
    project: str = "seti",
    entity: str | None = None,
    mode: str = "auto",
    save_dir: str = ".",
    log_images: int = 8,
    name: str | None = None,
    group: str | None = None,
    tags: list[str] | None = None,
    run_config: dict[str, Any] | None = None,
    **kwargs: Any,
):
    """A Lightning ``WandbLogger`` grouped by sweep, named by overrides, tagged and carrying the config.

    ``reinit`` makes every job of a sweep its own run even when a previous one was not finished.
    """
    mode = resolve_wandb_mode(mode)
    if mode in ("offline", "disabled"):
        keep_wandb_offline(mode)
    from lightning.pytorch.loggers import WandbLogger

    Path(save_dir).mkdir(parents=True, exist_ok=True)
    logger = WandbLogger(
        project=project,
        entity=entity,
        save_dir=save_dir,
        name=name,
        group=group,
        tags=tags,
        config=run_config,
        mode=mode,
        reinit="finish_previous",
        **kwargs,
    )
    logger.seti_log_images = int(log_images)
    return logger


def log_report_media(loggers: list, predictions, datamodule) -> None:
    """ROC curve of the validation predictions and sample input images into W&B (when it is a logger)."""
    from lightning.pytorch.loggers import WandbLogger

    for logger in loggers:
        if not isinstance(logger, WandbLogger):
            continue
        import wandb

        from seti.figures import roc_figure, sample_images

        run = logger.experiment
        run.log({"val/roc_curve": wandb.Image(roc_figure(predictions.target.to_numpy(), predictions.pred.to_numpy()))})
        count = getattr(logger, "seti_log_images", 0)
        if count and datamodule.train_set is not None:
            images = [wandb.Image(img, caption=cap) for img, cap in sample_images(datamodule.train_set, count)]
            run.log({"train/samples": images})


def finish_wandb(loggers: list, exit_code: int) -> None:
    """Close this job's W&B run so the next sweep job starts its own."""
    from lightning.pytorch.loggers import WandbLogger

    if any(isinstance(logger, WandbLogger) for logger in loggers):
        import wandb

        if wandb.run is not None:
            wandb.finish(exit_code=exit_code)
