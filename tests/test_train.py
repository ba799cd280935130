"""Configs compose, and train.py runs end to end: real sample, synthetic, sweeps, W&B offline, DDP, resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import read_complete_run
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import open_dict

from seti.training.resolvers import register_resolvers

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
TINY = ["model=tiny", "data.batch_size=2", "data.num_workers=0", "data.image_size=[32,64]", "trainer.max_epochs=2"]


def real(root) -> list[str]:
    return ["data=kaggle", f"data.root={root}", "data.num_folds=3"]


def train(args: list[str], tmp_path: Path, *, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "SETI_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, str(REPO / "train.py"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        pytest.fail(
            f"train.py {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


# ---- config groups -----------------------------------------------------------------------------
GROUP_OPTIONS = {
    "data": ["kaggle", "synthetic"],
    "model": ["b0", "b1", "b2", "b3", "b4", "b5", "v2s", "v2m", "tiny"],
    "aug": ["none", "light", "strong"],
    "trainer": ["default", "cpu", "gpu", "ddp"],
    "logger": ["wandb", "csv", "none"],
    "launcher": ["basic", "gpus", "slurm"],
    "debug": ["fast"],
    "experiment": ["augmentation_study", "augmentation_study_cpu"],
}


def compose_cfg(overrides: list[str]):
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.paths.output_dir = "/tmp/seti-compose-test"
    return cfg


NO_ROOT = "/nonexistent/kaggle"  # composing and instantiating never read data.root


@pytest.mark.parametrize("group, option", [(g, o) for g, opts in GROUP_OPTIONS.items() for o in opts])
def test_every_config_option_composes(group, option):
    """Each option composes and is the one chosen; every key resolves (a typo in an interpolation fails here)."""
    from omegaconf import OmegaConf

    cfg = compose_cfg(
        [f"{group}={option}", f"data.root={NO_ROOT}"]
        if group != "data" or option == "kaggle"
        else [f"{group}={option}"]
    )
    assert cfg.hydra.runtime.choices[group] == option
    if group in ("data", "model", "aug"):
        assert cfg[group].get("name", cfg[group].get("source")) == option
    job = cfg.copy()
    with open_dict(job):
        del job["hydra"]
    resolved = OmegaConf.to_container(job, resolve=True)
    assert resolved["seed"] == 42 and resolved["data"]["seed"] == 42


def test_cpu_study_sweeps_training_seeds_over_one_fold_split():
    """The study's seeds are training seeds: the fold split keeps its own fixed seed, so every seed
    validates on the same ids and seeds can be compared pair by pair."""
    cfg = compose_cfg(["experiment=augmentation_study_cpu"])
    params = cfg.hydra.sweeper.params
    assert str(params.seed).replace(" ", "") == "1,2,3"
    assert str(params.aug).replace(" ", "") == "none,light,strong" and str(params.model) == "tiny"
    assert cfg.data.seed == 42 and cfg.data.num_folds == 4
    for seed in (1, 2, 3):
        assert compose_cfg(["experiment=augmentation_study_cpu", f"seed={seed}"]).data.seed == 42


@pytest.mark.parametrize("aug", ["none", "light", "strong"])
@pytest.mark.parametrize("model", ["tiny", "b0"])
def test_data_and_model_instantiate(model, aug):
    cfg = compose_cfg(
        ["data=kaggle", f"data.root={NO_ROOT}", f"model={model}", f"aug={aug}", "data.image_size=[32,32]"]
    )
    dm = instantiate(cfg.data, aug=cfg.aug, _recursive_=False)
    net = instantiate(cfg.model, in_chans=dm.in_chans, _convert_="partial")
    out = net(torch.zeros(2, dm.in_chans, 32, 32))
    assert out.shape == (2,)
    trainer = instantiate(cfg.trainer, logger=False, enable_progress_bar=False, precision="32-true", benchmark=False)
    assert trainer.max_epochs == cfg.trainer.max_epochs


def test_broken_config_gets_clear_error(tmp_path, sample_root):
    proc = train([*real(sample_root), *TINY, "data.fold=7"], tmp_path, check=False)
    assert proc.returncode != 0 and "data.fold=7 must be in 0..2" in proc.stderr
    proc = train(["data=kaggle", *TINY], tmp_path, check=False)
    assert proc.returncode != 0 and "data.root" in proc.stderr


# ---- end to end -----------------------------------------------------------------------------------
def test_train_on_real_sample_writes_every_artifact(tmp_path, sample_root):
    run = tmp_path / "run"
    train([*real(sample_root), *TINY, f"hydra.run.dir={run}"], tmp_path)
    m = metrics(run)
    assert m["status"] == "finished" and m["model"] == "tiny" and m["aug"] == "none" and m["fold"] == 0
    for key in ("best_val_auroc", "last_val_auroc", "epochs", "wall_time_s", "train_samples_per_s", "peak_memory_mb"):
        assert m[key] is not None
    assert (run / "checkpoints" / "best.ckpt").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    assert (run / ".hydra" / "config.yaml").is_file()
    preds = pd.read_csv(run / "val_predictions.csv")
    assert list(preds.columns) == ["id", "target", "pred"] and len(preds) == 2 and preds.pred.between(0, 1).all()
    ckpt = torch.load(run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["seti_config"]["data"]["image_size"] == [32, 64]
    # W&B offline run holds what metrics.json says
    logged = read_complete_run(run)
    assert max(logged.series("val/auroc")) == pytest.approx(m["best_val_auroc"])
    assert "model=tiny" in logged.tags and logged.config["model"]["name"] == "tiny"


def test_train_on_tiny_synthetic_set(tmp_path):
    """The synthetic data path end to end (generated on first use, test split scored); too small to learn:
    that is tests/test_learning.py's job."""
    run = tmp_path / "run"
    args = [
        "data=synthetic",
        "data.synthetic.n=30",
        "data.synthetic.test_n=6",
        "data.num_folds=3",
        "logger=csv",
        *TINY,
        f"hydra.run.dir={run}",
    ]
    train(args, tmp_path)
    m = metrics(run)
    assert m["status"] == "finished" and m["num_val"] == 10 and m["num_train"] == 20
    assert isinstance(m["test_auroc"], float)  # the 6 labelled test cadences were scored after fit
    assert (tmp_path / "data" / "synthetic-n30-s0" / "synthetic.json").is_file()
    assert (run / "csv" / "metrics.csv").is_file()


def test_sweep_2x2_gives_four_runs_and_four_wandb_runs(tmp_path, sample_root):
    sweep = tmp_path / "sweep"
    train(
        [
            "-m",
            *real(sample_root),
            *TINY,
            "trainer.max_epochs=1",
            "aug=none,light",
            "data.fold=0,1",
            f"hydra.sweep.dir={sweep}",
        ],
        tmp_path,
    )
    runs = sorted(p.parent for p in sweep.glob("*/metrics.json"))
    assert len(runs) == 4
    ids = set()
    for run in runs:
        m = metrics(run)
        assert m["status"] == "finished"
        logged = read_complete_run(run)  # one W&B run per job, in its own directory
        assert logged.series("val/auroc")[-1] == pytest.approx(m["last_val_auroc"])
        assert logged.group == sweep.name and logged.name == run.name and f"aug={m['aug']}" in logged.tags
        ids.add(logged.run_id)
    assert len(ids) == 4
    # re-running the same sweep skips finished jobs
    proc = train(
        [
            "-m",
            *real(sample_root),
            *TINY,
            "trainer.max_epochs=1",
            "aug=none,light",
            "data.fold=0,1",
            f"hydra.sweep.dir={sweep}",
        ],
        tmp_path,
    )
    assert proc.stderr.count("already finished") + proc.stdout.count("already finished") == 4


def test_failing_job_is_recorded_and_others_still_run(tmp_path, sample_root):
    sweep = tmp_path / "sweep"
    proc = train(
        [
            "-m",
            *real(sample_root),
            *TINY,
            "trainer.max_epochs=1",
            "logger=csv",
            "model.backbone.name=test_efficientnet,no_such_model",
            f"hydra.sweep.dir={sweep}",
        ],
        tmp_path,
        check=False,
    )
    assert proc.returncode != 0
    results = {metrics(p.parent)["status"]: metrics(p.parent) for p in sweep.glob("*/metrics.json")}
    assert set(results) == {"finished", "failed"}
    assert "no_such_model" in results["failed"]["error"]


def test_resume_from_last_checkpoint(tmp_path, sample_root):
    run = tmp_path / "run"
    base = [*real(sample_root), *TINY, "logger=csv", f"hydra.run.dir={run}"]
    train([*base, "trainer.max_epochs=1"], tmp_path)
    first = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert first["epoch"] == 0
    # a finished run asked for more epochs is refused: its config changed (issue 20, N21)...
    proc = train([*base, "trainer.max_epochs=2"], tmp_path, check=False)
    assert proc.returncode != 0 and "trainer.max_epochs: 1 -> 2" in proc.stderr
    # ...and resumed from last.ckpt when forced to train again (as after a kill)
    proc = train([*base, "trainer.max_epochs=2", "skip_finished=false", "on_config_change=force"], tmp_path)
    log = proc.stdout + proc.stderr + (run / "train.log").read_text()
    assert f"Restoring states from the checkpoint path at {run / 'checkpoints' / 'last.ckpt'}" in log
    second = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert second["global_step"] == 2 * first["global_step"]  # one more epoch, not two
    epochs = pd.read_csv(run / "csv" / "metrics.csv").dropna(subset=["val/auroc"])["epoch"].tolist()
    assert epochs == [0, 1]  # the epoch logged before the "kill" is kept


def test_ddp_on_cpu_inside_multirun(tmp_path, sample_root):
    """Two gloo ranks per job, two jobs: each job's ranks run only that job, in its directory."""
    sweep = tmp_path / "sweep"
    train(
        [
            "-m",
            *real(sample_root),
            *TINY,
            "trainer.max_epochs=1",
            "logger=csv",
            "trainer=ddp",
            "trainer.accelerator=cpu",
            "trainer.devices=2",
            "data.fold=0,1",
            f"hydra.sweep.dir={sweep}",
        ],
        tmp_path,
    )
    runs = sorted(p.parent for p in sweep.glob("*/metrics.json"))
    assert len(runs) == 2 and {metrics(r)["fold"] for r in runs} == {0, 1}
    for run in runs:
        assert (run / "train_ddp_process_1.log").is_file()  # rank 1 ran in this job's directory
        assert len(pd.read_csv(run / "val_predictions.csv")) == 2  # no padded duplicates
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == sorted(r.name for r in runs)


def test_parallel_jobs_with_joblib_launcher(tmp_path, sample_root):
    sweep = tmp_path / "sweep"
    train(
        [
            "-m",
            *real(sample_root),
            *TINY,
            "trainer.max_epochs=1",
            "logger=csv",
            "launcher=gpus",
            "hydra.launcher.n_jobs=2",
            "data.num_workers=1",
            "data.fold=0,1",
            f"hydra.sweep.dir={sweep}",
        ],
        tmp_path,
    )
    assert len(list(sweep.glob("*/metrics.json"))) == 2
    assert all(metrics(p.parent)["status"] == "finished" for p in sweep.glob("*/metrics.json"))
