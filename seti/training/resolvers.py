"""The ``${seti.*}`` resolvers conf/train.yaml uses, registered before Hydra composes (train.py, tests).

They live above ``seti.config`` because one of them asks the GPU pool how many sweep jobs run at once.
"""

from __future__ import annotations

from omegaconf import OmegaConf

from seti.config import job_dirname
from seti.training.devices import sweep_n_jobs


def register_resolvers() -> None:
    """Idempotent: train.py and tests call it before Hydra composes."""
    if not OmegaConf.has_resolver("seti.job_dirname"):
        OmegaConf.register_new_resolver(
            "seti.job_dirname",
            lambda overrides, exclude=None: job_dirname(
                OmegaConf.to_container(overrides) if OmegaConf.is_config(overrides) else overrides,
                OmegaConf.to_container(exclude) if OmegaConf.is_config(exclude) else exclude,
            ),
        )
    if not OmegaConf.has_resolver("seti.sweep_n_jobs"):  # cached: decided once at launch, read by every job
        OmegaConf.register_new_resolver("seti.sweep_n_jobs", sweep_n_jobs, use_cache=True)
