"""The one test harness: paths, the tiny-run overrides, an offline environment, and the ways to run a job.

Wiring tests call :func:`train_in_process` (compose the real ``conf/``, then ``pipeline.train(cfg)``, as
lightning-hydra-template's tests do): seconds, not a Python start-up plus Lightning's import. Subprocesses
(:func:`run_train`, :func:`start_train`, :func:`run_predict`) are kept for tests whose subject is the
process itself: signals and kill -9, DDP, joblib/submitit launchers, the network guard, CLI parsing.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
#: the default is the CI layout: a copy of shared/ beside the clone
SAMPLE_ROOT = Path(os.environ.get("SETI_SAMPLE_DIR") or REPO.parent / "shared" / "data" / "kaggle-sample")

#: the smallest run that still trains: the 99k-parameter EfficientNet on tiny images, in the main process
#: The tests' small model and run. lr_scaling=none: a test states its lr at the batch it trains with (tiny's lr
#: is given for batch 32, which these tests never use); tests of the scaling rule set it back.
TINY = [
    "model=tiny",
    "aug=none",  # the shipped aug=inject draws a setigen needle per injection; tests of it name it
    "data.batch_size=2",
    "data.num_workers=0",
    "data.image_size=[32,64]",
    "trainer.max_epochs=2",
    "model.optimizer.lr_scaling=none",
]


def real(root: Path | str, folds: int = 3) -> list[str]:
    """Overrides that read a Kaggle-layout folder (the sample has 6 labelled ids: 3 folds of 2)."""
    return ["data=kaggle", f"data.root={root}", f"data.num_folds={folds}"]


def offline_env(home: Path | str, **extra: str) -> dict[str, str]:
    """The environment of a test job: W&B offline and quiet, no hub, logs and data under ``home``.

    This checkout comes first on PYTHONPATH: a script run as a file would otherwise import whatever
    ``seti`` is installed.
    """
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "HF_HUB_OFFLINE": "1",
        "SETI_HOME": str(home),
        "PYTHONPATH": pythonpath,
    }
    env.update(extra)
    return env


def _fail(what: str, args: Sequence[str], proc: subprocess.CompletedProcess) -> None:
    pytest.fail(f"{what} {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")


def run_script(
    script: str,
    args: Sequence[str],
    home: Path,
    *,
    check: bool = True,
    timeout: float = 600,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``REPO/<script>`` with ``args`` in ``home`` (its cwd and SETI_HOME); fail the test on a non-zero exit."""
    proc = subprocess.run(
        [sys.executable, str(REPO / script), *args],
        cwd=home,
        env=env or offline_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        _fail(script, args, proc)
    return proc


def run_train(args: Sequence[str], home: Path, **kwargs) -> subprocess.CompletedProcess:
    """``python train.py ARGS`` as a user types it (see :func:`run_script`)."""
    return run_script("train.py", args, home, **kwargs)


def run_predict(args: Sequence[str], home: Path, **kwargs) -> subprocess.CompletedProcess:
    """``python predict.py ARGS`` as a user types it (see :func:`run_script`)."""
    return run_script("predict.py", args, home, **kwargs)


def start_train(args: Sequence[str], home: Path, *, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    """``train.py`` started in the background, in its own session (so a test can signal it and its children)."""
    return start_script("train.py", args, home, env=env, **kwargs)


def start_script(
    script: str, args: Sequence[str], home: Path, *, env: dict[str, str] | None = None, **kwargs
) -> subprocess.Popen:
    """``REPO/<script> ARGS`` started in the background in ``home``, in its own session (see :func:`start_train`)."""
    return subprocess.Popen(
        [sys.executable, str(REPO / script), *args],
        cwd=home,
        env=env or offline_env(home),
        stdout=kwargs.pop("stdout", subprocess.DEVNULL),
        stderr=kwargs.pop("stderr", subprocess.PIPE),
        text=True,
        start_new_session=kwargs.pop("start_new_session", True),
        **kwargs,
    )


def compose_train(overrides: Sequence[str] = (), *, output_dir: Path | str | None = None, hydra: bool = True):
    """The real ``conf/train.yaml`` composed with ``overrides``, as train.py would see it.

    With ``hydra`` the ``hydra`` node is kept (launcher and sweep settings); ``output_dir`` stands in for
    the run directory Hydra would create (``paths.output_dir`` interpolates ``hydra:runtime.output_dir``).
    """
    from hydra import compose, initialize_config_dir
    from omegaconf import open_dict

    from seti.training.resolvers import register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=hydra)
    if output_dir is not None:
        with open_dict(cfg):
            cfg.paths.output_dir = str(output_dir)
            if hydra:
                cfg.hydra.runtime.output_dir = str(output_dir)
    return cfg


def compose_predict(values: dict | None = None):
    """The real ``conf/predict.yaml`` composed (no ``hydra`` node), with ``values`` merged in as predict.py's
    command line would set them; a key predict.py does not have is refused, as on the command line."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("predict")
    return OmegaConf.merge(cfg, values or {})


@contextlib.contextmanager
def hydra_context(cfg) -> Iterator[None]:
    """Make ``cfg``'s hydra node the current HydraConfig (as ``@hydra.main`` does), and clear it after."""
    from hydra.core.hydra_config import HydraConfig

    HydraConfig.instance().set_config(cfg)
    try:
        yield
    finally:
        HydraConfig.instance().cfg = None


def train_in_process(overrides: Sequence[str], run_dir: Path, *, home: Path | None = None) -> dict:
    """Compose the real config and call ``pipeline.train(cfg)`` in this process; returns metrics.json.

    ``home`` (default: ``run_dir``'s parent) is SETI_HOME, where synthetic data is generated and logs go.
    """
    from omegaconf import open_dict

    from seti.training.pipeline import train

    home = Path(home or Path(run_dir).parent)
    old = os.environ.get("SETI_HOME")
    os.environ["SETI_HOME"] = str(home)
    try:
        cfg = compose_train(overrides, output_dir=run_dir)
        with open_dict(cfg):
            cfg.hydra.run.dir = str(run_dir)
        with hydra_context(cfg):
            with open_dict(cfg):
                del cfg["hydra"]  # as Hydra's run_job hands the config to the task
            return train(cfg)
    finally:
        if old is None:
            os.environ.pop("SETI_HOME", None)
        else:
            os.environ["SETI_HOME"] = old


def read_metrics_json(run_dir: Path) -> dict:
    """A run directory's metrics.json as a plain dict."""
    return json.loads((Path(run_dir) / "metrics.json").read_text())


def sample_cadences(root: Path) -> list:
    """Every labelled cadence of a Kaggle-layout folder (the sample's 6), as float16 numpy arrays."""
    from seti.data.layout import cadence_path, load_cadence, read_id_table

    ids = read_id_table(Path(root) / "train_labels.csv", require_binary_target=True)["id"]
    return [load_cadence(cadence_path(root, "train", i)) for i in ids]


def random_cadences(n: int, seed: int = 0):
    """(n, 6, 273, 256) float16 Kaggle-like cadences: noise, per-channel stripes, a bright line in ON panels."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6, 273, 256)) + rng.normal(scale=3, size=(n, 6, 1, 256))
    x[:, ::2, :, 100:103] += 4.0
    return x.astype(np.float16)


def auroc_by_hand(target, pred) -> float:
    """Mann-Whitney, independent of every AUROC in seti: share of (positive, negative) pairs ranked right, ties half."""
    import numpy as np

    target, pred = np.asarray(target), np.asarray(pred, dtype=np.float64)
    pos, neg = pred[target == 1], pred[target == 0]
    return float(((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean())


def score_checkpoint(run_dir: Path, root: Path, split: str, ids: Sequence[str], which: str = "best"):
    """A run's ``checkpoints/<which>.ckpt`` re-scored by the predict path (not the Trainer) on ``ids`` of
    ``root/<split>``: its probabilities in ``ids`` order, as a numpy array."""
    from seti.inference.ensemble import predict_ids
    from seti.inference.members import find_checkpoints, load_members
    from seti.inference.settings import PredictSettings

    members = load_members(find_checkpoints(run_dir, which))
    values = {"ckpt": str(run_dir), "data": {"root": str(root)}, "output": "unused.csv", "num_workers": 0}
    options = PredictSettings.from_config(compose_predict({**values, "batch_size": 8})).scoring()
    frame = predict_ids(members, Path(root), split, list(ids), options)
    return frame[members[0].name].to_numpy()
