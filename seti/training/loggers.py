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
    from lightning.pytorch.loggers import WandbLogger

    mode = resolve_wandb_mode(mode)
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    logger = WandbLogger(
        project=project, entity=entity, save_dir=save_dir, name=name, group=group, tags=tags,
        config=run_config, mode=mode, reinit="finish_previous", **kwargs,
    )
    logger.seti_log_images = int(log_images)
    return logger
