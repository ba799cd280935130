"""Configs compose, and a training run writes what it promises: in process for the wiring (real sample,
synthetic, W&B offline, a failing job, resume), by subprocess where the process is the subject (-m sweeps,
DDP, the joblib launcher)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import pandas as pd
import pytest
import torch
from helpers import (
    TINY,
    auroc_by_hand,
    compose_train,
    read_metrics_json,
    real,
    run_train,
    score_checkpoint,
    train_in_process,
)
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict
from wandb_offline import read_complete_run

from seti.training.identity import ConfigChanged

# ---- config groups -----------------------------------------------------------------------------
GROUP_OPTIONS = {
    "data": ["kaggle", "synthetic"],
    "model": ["b0", "b1", "b2", "b3", "b4", "b5", "v2s", "v2m", "tiny"],
    "aug": ["none", "light", "strong"],
    "trainer": ["default", "cpu", "gpu", "ddp"],
    "logger": ["wandb", "csv", "none"],
    "launcher": ["basic", "gpus", "slurm", "submitit_local"],
    "debug": ["fast"],
    "experiment": ["augmentation_study", "augmentation_study_cpu"],
}


NO_ROOT = "/nonexistent/kaggle"  # composing and instantiating never read data.root


@pytest.mark.parametrize("group, option", [(g, o) for g, opts in GROUP_OPTIONS.items() for o in opts])
def test_every_config_option_composes(group, option, tmp_path):
    """Each option composes and is the one chosen; every key resolves (a typo in an interpolation fails here)."""
    cfg = compose_train(
        [f"{group}={option}", f"data.root={NO_ROOT}"]
        if group != "data" or option == "kaggle"
        else [f"{group}={option}"],
        output_dir=tmp_path,
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
    cfg = compose_train(["experiment=augmentation_study_cpu"])
    params = cfg.hydra.sweeper.params
    assert str(params.seed).replace(" ", "") == "1,2,3"
    assert str(params.aug).replace(" ", "") == "none,light,strong" and str(params.model) == "tiny"
    assert cfg.data.seed == 42 and cfg.data.num_folds == 4
    for seed in (1, 2, 3):
        assert compose_train(["experiment=augmentation_study_cpu", f"seed={seed}"]).data.seed == 42


@pytest.mark.parametrize("aug", ["none", "light", "strong"])
@pytest.mark.parametrize("model", ["tiny", "b0"])
def test_data_and_model_instantiate(model, aug, tmp_path):
    cfg = compose_train(
        ["data=kaggle", f"data.root={NO_ROOT}", f"model={model}", f"aug={aug}", "data.image_size=[32,32]"],
        output_dir=tmp_path,
    )
    dm = instantiate(cfg.data, aug=cfg.aug, _recursive_=False)
    net = instantiate(cfg.model, in_chans=dm.in_chans, _convert_="partial")
    out = net(torch.zeros(2, dm.in_chans, 32, 32))
    assert out.shape == (2,)
    trainer = instantiate(cfg.trainer, logger=False, enable_progress_bar=False, precision="32-true", benchmark=False)
    assert trainer.max_epochs == cfg.trainer.max_epochs


def test_broken_config_gets_clear_error(tmp_path):
    """Refused before any work, with the key and the fix, and recorded as a failed run."""
    with pytest.raises(ValueError, match="data.fold=7 must be in 0..2"):
        train_in_process([*real(NO_ROOT), *TINY, "data.fold=7"], tmp_path / "fold")
    assert read_metrics_json(tmp_path / "fold")["status"] == "failed"
    with pytest.raises(ValueError, match=r"data.root \(e.g. data.root=/path"):
        train_in_process(["data=kaggle", *TINY], tmp_path / "root")


# ---- end to end, in process ---------------------------------------------------------------------------
def test_train_on_real_sample_writes_every_artifact(tmp_path, sample_root):
    run = tmp_path / "run"
    m = train_in_process([*real(sample_root), *TINY], run)
    assert m == read_metrics_json(run)
    assert m["status"] == "finished" and m["model"] == "tiny" and m["aug"] == "none" and m["fold"] == 0
    for key in ("best_val_auroc", "last_val_auroc", "epochs", "wall_time_s", "train_samples_per_s", "peak_memory_mb"):
        assert m[key] is not None
    assert (run / "checkpoints" / "best.ckpt").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    preds = pd.read_csv(run / "val_predictions.csv")
    assert list(preds.columns) == ["id", "target", "pred"] and len(preds) == 2 and preds.pred.between(0, 1).all()
    ckpt = torch.load(run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["seti_config"]["data"]["image_size"] == [32, 64]
    # W&B offline run holds what metrics.json says
    logged = read_complete_run(run)
    assert max(logged.series("val/auroc")) == pytest.approx(m["best_val_auroc"])
    assert "model=tiny" in logged.tags and logged.config["model"]["name"] == "tiny"


#: the smallest synthetic run with a test split, generated on first use under SETI_HOME/data
SYNTHETIC = [
    "data=synthetic",
    "data.synthetic.n=18",
    "data.synthetic.test_n=8",
    "data.synthetic.positive_rate=0.34",
    "+data.synthetic.params.engine=numpy",
    "data.synthetic.workers=1",
    "data.num_folds=3",
    "logger=csv",
    *TINY,
]


def test_train_on_tiny_synthetic_set(tmp_path):
    """The synthetic data path end to end: generated on first use, split, trained, and the test split scored
    with best.ckpt (test_auroc equals best.ckpt's AUROC on the test ids, recomputed by the predict path)."""
    run = tmp_path / "run"
    m = train_in_process(SYNTHETIC, run, home=tmp_path)
    root = tmp_path / "data" / "synthetic-n18-s0"
    assert m["status"] == "finished" and m["num_val"] == 6 and m["num_train"] == 12 and m["epochs"] == 2
    assert (root / "synthetic.json").is_file() and (run / "csv" / "metrics.csv").is_file()
    curve = pd.read_csv(run / "csv" / "metrics.csv").dropna(subset=["val/auroc"])["val/auroc"].tolist()
    assert len(curve) == 2 and m["best_val_auroc"] == pytest.approx(max(curve))
    labels = pd.read_csv(root / "test_labels.csv", dtype={"id": str})
    assert len(labels) == 8 and 0 < labels["target"].sum() < 8
    best = auroc_by_hand(labels["target"], score_checkpoint(run, root, "test", labels["id"], which="best"))
    assert m["test_auroc"] == pytest.approx(best, abs=1e-6)


@contextlib.contextmanager
def lightning_log() -> Iterator[list[str]]:
    """The messages Lightning logs inside the block (its logger need not propagate to pytest's caplog)."""
    lines: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture(scope="module")
def best_not_last(tmp_path_factory):
    """A run whose best checkpoint is NOT its last one, by construction rather than by luck.

    Every validation cadence is the same file, scored one at a time (the same kernels, so the same bits), so
    each epoch's validation AUROC is exactly 0.5; the checkpoint callback keeps the first of equal scores, so
    best.ckpt holds epoch 0 while training goes on to epoch 2.
    Predictions or a test stage taken from the last weights differ from best.ckpt's.
    Returns (run dir, metrics, data root, validation ids, Lightning's log lines).
    """
    from seti.data.folds import split_fold
    from seti.data.layout import cadence_path, read_id_table
    from seti.data.synthetic import SyntheticParams, write_dataset

    home = tmp_path_factory.mktemp("best_not_last")
    root = write_dataset(
        home / "data", n=18, test_n=8, positive_rate=0.34, seed=1, params=SyntheticParams(engine="numpy")
    )
    labels = read_id_table(root / "train_labels.csv", require_binary_target=True)
    val_ids = sorted(split_fold(labels, 3, 0, seed=42)[1]["id"])  # conf's data.seed
    same = cadence_path(root, "train", val_ids[0]).read_bytes()
    for cadence_id in val_ids[1:]:
        cadence_path(root, "train", cadence_id).write_bytes(same)
    with lightning_log() as lines:
        overrides = [*real(root), "logger=csv", *TINY, "trainer.max_epochs=3", "data.eval_batch_size=1"]
        metrics = train_in_process(overrides, home / "run", home=home)
    return home / "run", metrics, root, val_ids, lines


def test_val_predictions_come_from_the_best_checkpoint(best_not_last):
    """val_predictions.csv holds best.ckpt's predictions (re-scored here by the predict path), not the last
    epoch's, in a run where the two differ."""
    run, m, root, val_ids, _ = best_not_last
    curve = pd.read_csv(run / "csv" / "metrics.csv").dropna(subset=["val/auroc"])["val/auroc"].tolist()
    assert curve == [0.5, 0.5, 0.5] and m["epochs"] == 3
    assert torch.load(run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)["epoch"] == 0
    preds = pd.read_csv(run / "val_predictions.csv", dtype={"id": str}).sort_values("id")
    assert list(preds["id"]) == val_ids
    best = score_checkpoint(run, root, "train", val_ids, which="best")
    last = score_checkpoint(run, root, "train", val_ids, which="last")
    assert abs(best[0] - last[0]) > 1e-4, (best[0], last[0])  # the premise: the two checkpoints differ
    assert preds["pred"].to_numpy() == pytest.approx(best, abs=1e-5)


def test_test_stage_scores_the_best_checkpoint(best_not_last):
    """The test stage restores best.ckpt (not the last weights) and its test_auroc is best.ckpt's AUROC on
    the test ids, recomputed by the predict path."""
    run, m, root, _, lines = best_not_last
    restored = [line for line in lines if line.startswith("Restoring states from the checkpoint path at")]
    assert restored == [f"Restoring states from the checkpoint path at {run / 'checkpoints' / 'best.ckpt'}"]
    labels = pd.read_csv(root / "test_labels.csv", dtype={"id": str})
    best = auroc_by_hand(labels["target"], score_checkpoint(run, root, "test", labels["id"], which="best"))
    assert m["test_auroc"] == pytest.approx(best, abs=1e-6)


def test_failing_job_is_recorded(tmp_path):
    """A job that fails is recorded as failed with its error (so a sweep lists it), then the error is raised;
    a finished job in the same place is skipped on a re-run, not trained again."""
    with pytest.raises(Exception, match="no_such_model"):
        train_in_process([*SYNTHETIC, "model.backbone.name=no_such_model"], tmp_path / "bad", home=tmp_path)
    failed = read_metrics_json(tmp_path / "bad")
    assert failed["status"] == "failed" and "no_such_model" in failed["error"]
    assert not (tmp_path / "bad" / "checkpoints").exists()


def test_resume_from_last_checkpoint(tmp_path):
    """A finished run is skipped; with skip_finished=false it resumes from last.ckpt (as after a kill) and
    trains only the missing epoch, keeping the logged history."""
    run = tmp_path / "run"
    base = [*SYNTHETIC, "data.synthetic.test_n=0", "test_after_fit=false"]
    train_in_process([*base, "trainer.max_epochs=1"], run, home=tmp_path)
    first = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert first["epoch"] == 0
    finished = (run / "metrics.json").stat().st_mtime_ns
    # a finished run asked for more epochs is refused, untouched: its config changed (reliability N21)...
    with pytest.raises(ConfigChanged, match=r"trainer.max_epochs: 1 -> 2"):
        train_in_process([*base, "trainer.max_epochs=2"], run, home=tmp_path)
    assert (run / "metrics.json").stat().st_mtime_ns == finished
    # ...and resumed from last.ckpt when forced to train again (as after a kill)
    with lightning_log() as lines:
        force = ["trainer.max_epochs=2", "skip_finished=false", "on_config_change=force"]
        m = train_in_process([*base, *force], run, home=tmp_path)
    assert f"Restoring states from the checkpoint path at {run / 'checkpoints' / 'last.ckpt'}" in lines
    second = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert second["global_step"] == 2 * first["global_step"]  # one more epoch, not two
    epochs = pd.read_csv(run / "csv" / "metrics.csv").dropna(subset=["val/auroc"])["epoch"].tolist()
    assert epochs == [0, 1] and m["epochs"] == 2  # the epoch logged before the "kill" is kept


# ---- the process is the subject: -m sweeps, DDP, the joblib launcher --------------------------------------
def test_sweep_2x2_gives_four_runs_and_four_wandb_runs(tmp_path, sample_root):
    sweep = tmp_path / "sweep"
    args = ["-m", *real(sample_root), *TINY, "trainer.max_epochs=1", "aug=none,light", "data.fold=0,1"]
    run_train([*args, f"hydra.sweep.dir={sweep}"], tmp_path)
    runs = sorted(p.parent for p in sweep.glob("*/metrics.json"))
    assert len(runs) == 4
    ids = set()
    for run in runs:
        m = read_metrics_json(run)
        assert m["status"] == "finished" and (run / ".hydra" / "config.yaml").is_file()
        logged = read_complete_run(run)  # one W&B run per job, in its own directory
        assert logged.series("val/auroc")[-1] == pytest.approx(m["last_val_auroc"])
        assert logged.group == sweep.name and logged.name == run.name and f"aug={m['aug']}" in logged.tags
        ids.add(logged.run_id)
    assert len(ids) == 4
    # re-running the same sweep skips finished jobs
    proc = run_train([*args, f"hydra.sweep.dir={sweep}"], tmp_path)
    assert proc.stderr.count("already finished") + proc.stdout.count("already finished") == 4


def test_ddp_on_cpu_inside_multirun(tmp_path, sample_root):
    """Two gloo ranks per job, two jobs: each job's ranks run only that job, in its directory."""
    sweep = tmp_path / "sweep"
    run_train(
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
    assert len(runs) == 2 and {read_metrics_json(r)["fold"] for r in runs} == {0, 1}
    for run in runs:
        assert (run / "train_ddp_process_1.log").is_file()  # rank 1 ran in this job's directory
        assert len(pd.read_csv(run / "val_predictions.csv")) == 2  # no padded duplicates
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == sorted(r.name for r in runs)
