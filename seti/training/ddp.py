"""DDP inside a Hydra multirun.

Lightning starts ranks > 0 by re-running ``sys.argv`` with ``hydra.run.dir`` appended. Under ``-m`` that
argv is the whole sweep, so every child would start its own sweep. Before fit, on rank 0 of a MULTIRUN
job, we narrow argv to this job's overrides and point ``run.dir`` at this job's directory; after fit we
tear the process group down so the next job of the sweep starts clean.
"""

from __future__ import annotations

import os
import sys

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import open_dict, read_write

DDP_ENV_VARS = ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "GROUP_RANK", "LOCAL_WORLD_SIZE")


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def prepare_ddp_relaunch() -> None:
    """Make Lightning's child ranks re-run only this job, in this job's directory."""
    if not in_multirun() or os.environ.get("LOCAL_RANK", "0") != "0":
        return
    hc = HydraConfig.get()
    sys.argv = [sys.argv[0], *hc.overrides.task]
    with read_write(hc), open_dict(hc):
        hc.run.dir = hc.runtime.output_dir


def teardown_ddp() -> None:
    """Destroy the process group and forget the rank variables Lightning set for this job."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    if in_multirun():
        for name in DDP_ENV_VARS:
            os.environ.pop(name, None)


def is_rank_zero() -> bool:
    """Rank 0 of the job (the only process that writes the run directory)."""
    return int(os.environ.get("LOCAL_RANK", 0)) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0
