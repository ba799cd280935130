"""Scale-out through submitit, proven without a scheduler: launcher=slurm's code path (hydra-submitit-launcher,
one submitit job per sweep job) run by ``launcher=submitit_local``, whose jobs are local processes."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import TINY, read_metrics_json, real, run_train
from wandb_offline import read_complete_run


@pytest.mark.slow
def test_two_job_sweep_through_submitit_local(tmp_path, sample_root):
    """A 2-job sweep (folds 0 and 1): each job ran in its own process via submitit, in its own run directory
    with metrics.json and val_predictions.csv, and logged its own complete offline W&B run."""
    sweep = tmp_path / "sweep"
    args = ["-m", *real(sample_root), *TINY, "trainer.max_epochs=1", "test_after_fit=false", "data.fold=0,1"]
    run_train([*args, "launcher=submitit_local", f"hydra.sweep.dir={sweep}"], tmp_path)
    assert sorted(p.name for p in (sweep / ".submitit").iterdir() if p.is_dir())  # submitit's own job folders
    runs = sorted(p.parent for p in sweep.glob("*/metrics.json"))
    assert len(runs) == 2
    ids = set()
    for run in runs:
        metrics = read_metrics_json(run)
        assert metrics["status"] == "finished"
        assert len(pd.read_csv(run / "val_predictions.csv")) == 2  # the fold's validation ids
        logged = read_complete_run(run)
        assert logged.series("val/auroc")[-1] == pytest.approx(metrics["last_val_auroc"])
        assert logged.group == sweep.name and logged.name == run.name
        ids.add(logged.run_id)
    assert {read_metrics_json(r)["fold"] for r in runs} == {0, 1} and len(ids) == 2
