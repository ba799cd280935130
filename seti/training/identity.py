"""What a run is, as far as its result goes: the resolved config minus the keys that do not change the result.

A finished or resumable run directory is matched by this config, not by its name: a re-run whose config
differs (another lr, another ``data.root``) is refused, naming every differing key (old -> new), unless
``on_config_change=force``. The config a run started with is kept in ``run_config.yaml`` with its hash
(metrics.json ``config_hash``). Hydra rewrites ``.hydra/`` at every job start, before any of our code runs,
so the run's first ``.hydra/`` files are kept in ``.hydra-run/`` and put back whenever a process ends up
not training the run (skipped, refused, busy): the directory never contradicts its results.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import yaml
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from seti.atomic import atomic_write_bytes, atomic_write_text
from seti.errors import SetiError
from seti.rundir import HYDRA_DIR, HYDRA_KEPT, RUN_CONFIG_YAML

log = logging.getLogger(__name__)

#: never part of a run's identity, besides the job-name exclude list (conf/hydra/default.yaml) less data.root:
#: where files go, how a re-run treats the old run, how DataLoader workers run
ALWAYS_IGNORED = (
    "paths",
    "on_config_change",
    "skip_finished",
    "ckpt_path",
    "data.multiprocessing_context",
    "data.persistent_workers",
    "data.pin_memory",
    "data.needle_bank_dir",  # a cache's location; the bank's content follows from its settings
    "batch_auto.cache_dir",  # the batch probe's cache location (seti.training.batch_probe)
)
#: in the job-name exclude list, but they change the result: hashed (data.root as the resolved absolute path)
NOT_IGNORED = ("data.root",)
ON_CONFIG_CHANGE = ("refuse", "force")


class ConfigChanged(SetiError, ValueError):
    """The run directory holds a run made with another config."""


def ignored_keys() -> list[str]:
    """The keys left out of the identity: the job-name exclude list (less data.root) plus :data:`ALWAYS_IGNORED`."""
    names = list(ALWAYS_IGNORED)
    if HydraConfig.initialized():
        names += [str(k) for k in HydraConfig.get().job.config.override_dirname.exclude_keys or []]
    return sorted({n for n in names if n not in NOT_IGNORED})


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out or {prefix[:-1]: {}}
    return {prefix[:-1]: node}


def identity(cfg: DictConfig) -> dict[str, Any]:
    """``{dotted key: value}`` of the resolved config that makes the result (see :func:`ignored_keys`)."""
    resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    resolved.pop("hydra", None)
    flat = _flatten(resolved)
    ignored = ignored_keys()
    kept = {k: v for k, v in flat.items() if not any(k == i or k.startswith(i + ".") for i in ignored)}
    if kept.get("data.root"):
        kept["data.root"] = str(Path(str(kept["data.root"])).expanduser().resolve())
    # paths inside the run directory (checkpoint folders) name it relatively: a copied run keeps its identity
    run_dir = str(flat.get("paths.output_dir") or "")
    if run_dir:
        for key, value in kept.items():
            if isinstance(value, str) and run_dir in value:
                kept[key] = value.replace(run_dir, "<run dir>")
    return dict(sorted(kept.items()))


def config_hash(flat: dict[str, Any]) -> str:
    text = json.dumps(flat, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_stored(run_dir: Path) -> dict[str, Any] | None:
    """The identity a run directory's run started with (``run_config.yaml``), or None (an older run, or none)."""
    path = Path(run_dir) / RUN_CONFIG_YAML
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigChanged(f"cannot read {path}: {err}; restore it, or train into another hydra.run.dir") from err
    return dict(data.get("config") or {}) if isinstance(data, dict) else None


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``"key: old -> new"`` for every key whose value differs (absent reads as ``<unset>``)."""
    unset = "<unset>"
    return [
        f"{key}: {old.get(key, unset)} -> {new.get(key, unset)}"
        for key in sorted(set(old) | set(new))
        if old.get(key, unset) != new.get(key, unset)
    ]


def refusal(run_dir: Path, changes: list[str], what: str) -> ConfigChanged:
    shown = "; ".join(changes[:12]) + (f"; ... ({len(changes)} in all)" if len(changes) > 12 else "")
    return ConfigChanged(
        f"{run_dir} holds a {what} run made with another config ({shown}). Not reusing it: train into a new "
        "directory (hydra.run.dir=<new dir>, or another hydra.sweep.dir for a sweep), or pass "
        f"on_config_change=force{' skip_finished=false' if what == 'finished' else ''} to continue it with the new "
        "config (recorded in metrics.json config_changes)"
    )


def store(run_dir: Path, flat: dict[str, Any], digest: str) -> None:
    """Write ``run_config.yaml`` (a forced change keeps the previous one as ``run_config.<n>.yaml``) and keep
    this start's ``.hydra/`` files in ``.hydra-run/`` if none are kept yet."""
    run_dir = Path(run_dir)
    path = run_dir / RUN_CONFIG_YAML
    if path.is_file():
        n = 1
        while (run_dir / f"run_config.{n}.yaml").exists():
            n += 1
        shutil.copy2(path, run_dir / f"run_config.{n}.yaml")
    text = "# the config this run was made with (seti.training.identity); metrics.json config_hash is its hash\n"
    atomic_write_text(path, text + yaml.safe_dump({"config_hash": digest, "config": flat}, sort_keys=True), fsync=True)
    hydra, kept = run_dir / HYDRA_DIR, run_dir / HYDRA_KEPT
    if hydra.is_dir() and not kept.exists():
        kept.mkdir()
        for file in hydra.glob("*.yaml"):
            atomic_write_bytes(kept / file.name, file.read_bytes())


def restore_hydra(run_dir: Path) -> None:
    """Put back the run's own ``.hydra/`` files, which Hydra just overwrote with this command's."""
    kept = Path(run_dir) / HYDRA_KEPT
    if not kept.is_dir():
        return
    for file in kept.glob("*.yaml"):
        atomic_write_bytes(Path(run_dir) / HYDRA_DIR / file.name, file.read_bytes())


def identity_or_none(cfg: DictConfig) -> dict[str, Any] | None:
    """:func:`identity`, or None when the config does not resolve (check_config then names the key)."""
    try:
        return identity(cfg)
    except Exception as err:  # noqa: BLE001 - a broken config is refused with a clear message later
        log.debug("config identity not computed: %s", err)
        return None
