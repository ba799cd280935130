"""data.batch_size=auto (the probe's search rule and its cache), lr scaling to the batch used, and where both
are recorded (metrics.json, the report's run table); compare.py pairing runs that differ by batch."""

from __future__ import annotations

import json
import math
import threading
import time

import numpy as np
import pandas as pd
import pytest
from helpers import TINY, compose_train, read_metrics_json, real, train_in_process
from omegaconf import OmegaConf
from wandb_offline import read_complete_run

from seti.atomic import atomic_write_csv, atomic_write_json, atomic_write_text
from seti.errors import SetiError
from seti.report.compare import compare_sweeps
from seti.report.sweep import collect_runs
from seti.rundir import RunMetrics
from seti.training import batch_probe
from seti.training.batch_probe import OOM, Measurement, cached_search, search
from seti.training.lr_scaling import scaled_lr, with_batch_lr


# ---- the search rule ---------------------------------------------------------------------------------
def table(rates: dict):
    """A deterministic measure: samples/s (or OOM / Measurement) per batch, and the batches it was asked for."""
    asked = []

    def measure(batch):
        asked.append(batch)
        return rates[batch]

    return measure, asked


def test_search_keeps_the_fastest_batch_and_stops_when_the_gain_is_small():
    measure, asked = table({16: 200.0, 32: 380.0, 64: 640.0, 128: 660.0, 256: 900.0})
    result = search(measure, 16, 1024, min_gain=0.05)
    assert (result.batch, result.samples_per_s, result.largest_fit) == (64, 640.0, 128)
    assert asked == [16, 32, 64, 128]  # 128 is only 3 % faster: stop, never try 256
    assert "less than 5%" in result.stopped


def test_search_stops_at_out_of_memory_and_at_the_jobs_memory_share():
    measure, asked = table({8: 100.0, 16: 190.0, 32: OOM})
    result = search(measure, 8, 1024)
    assert (result.batch, result.tried[32], asked) == (16, "OOM", [8, 16, 32])
    shared = {16: Measurement(200, 4.7), 32: Measurement(380, 9.0), 64: Measurement(700, 18.0)}
    measure, asked = table(shared)
    result = search(measure, 16, 1024, memory_limit_gib=12.0)  # e.g. 139 GiB x 0.9 / 8 jobs - 1 GiB overhead
    assert result.batch == 32 and asked == [16, 32, 64] and "share" in result.stopped


def test_search_caps_at_max_batch_and_refuses_when_nothing_fits():
    measure, asked = table({16: 100.0, 32: 300.0, 64: 900.0})
    assert search(measure, 16, 64).batch == 64 and asked == [16, 32, 64]
    with pytest.raises(SetiError, match="even the start batch 16 does not fit"):
        search(table({16: OOM})[0], 16, 64)


def test_the_cache_probes_once_across_threads_and_re_probes_for_another_key(tmp_path):
    calls = []

    def run():
        calls.append(1)
        time.sleep(0.3)  # long enough that the second caller arrives while the first probes
        return search(table({16: 100.0, 32: 300.0, 64: 310.0})[0], 16, 1024)

    key = batch_probe.probe_key(gpu="NVIDIA H200", model="tf_efficientnet_b1", image_size=[512, 512])
    results = []
    threads = [threading.Thread(target=lambda: results.append(cached_search(tmp_path, key, run))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and sorted(cached for _, cached in results) == [False, True]
    assert {r.batch for r, _ in results} == {32}
    (file,) = tmp_path.glob("*.json")
    assert json.loads(file.read_text())["key"] == key
    other = batch_probe.probe_key(gpu="NVIDIA H200", model="tf_efficientnet_b5", image_size=[512, 512])
    cached_search(tmp_path, other, run)
    assert len(calls) == 2


@pytest.mark.parametrize("transforms", ["workers", "device"])
def test_the_probe_measures_the_runs_real_training_step(transforms):
    """The probe's measure on the CPU: the run's model and data path at two batches, then the search over it."""
    import torch

    cfg = compose_train([*TINY, f"data.transforms={transforms}", "aug=light"])
    measure = batch_probe.step_measure(cfg, torch.device("cpu"), "32-true", steps=2, warmup_steps=1)
    found = [measure(2), measure(4)]
    assert all(isinstance(m, Measurement) and m.samples_per_s > 0 for m in found)
    result = search(measure, 2, 8, min_gain=0.0)
    assert result.batch in (2, 4, 8) and set(result.tried) <= {2, 4, 8}


# ---- the lr rule -------------------------------------------------------------------------------------
def test_lr_scaling_rules_and_exactly_the_lr_at_the_reference_batch():
    assert scaled_lr(1e-3, 64, 16, "linear") == pytest.approx(4e-3)
    assert scaled_lr(1e-3, 64, 16, "sqrt") == pytest.approx(2e-3)
    assert scaled_lr(1e-3, 64, 16, "none") == 1e-3
    for rule in ("linear", "sqrt", "none"):
        assert scaled_lr(5e-3, 32, 32, rule) == 5e-3  # bit for bit
    with pytest.raises(SetiError, match="lr_scaling must be one of"):
        scaled_lr(1e-3, 64, 16, "quadratic")
    with pytest.raises(SetiError, match="reference_batch must be an integer >= 1"):
        scaled_lr(1e-3, 64, 0, "sqrt")


def test_the_cpu_default_trains_at_its_old_lr_and_the_founding_models_scale_from_16():
    cfg = compose_train([])
    assert cfg.data.batch_size == cfg.model.optimizer.reference_batch == 32
    model_cfg, lr = with_batch_lr(cfg.model, cfg.data.batch_size)
    assert lr == 5e-3 and "reference_batch" not in model_cfg["optimizer"] and "lr_scaling" not in model_cfg["optimizer"]
    b5 = compose_train(["model=b5", "data.batch_size=64"])
    assert (b5.model.optimizer.reference_batch, b5.model.optimizer.lr_scaling) == (16, "sqrt")
    assert with_batch_lr(b5.model, 64)[1] == pytest.approx(2e-3)
    study = compose_train(["experiment=augmentation_study", "data.root=/x"])
    assert study.data.batch_size == "auto"
    assert compose_train(["experiment=batch_scaling_cpu"]).hydra.sweeper.params["data.batch_size"] == "16,64"


# ---- wiring: what a run records ----------------------------------------------------------------------
def test_auto_on_cpu_trains_the_configured_cpu_batch_with_the_scaled_lr(tmp_path, sample_root):
    run = tmp_path / "sweep" / "run"
    overrides = [
        *real(sample_root),
        *TINY,
        "model.optimizer.lr_scaling=sqrt",
        "data.batch_size=auto",
        "batch_auto.cpu=4",
    ]
    train_in_process([*overrides, "trainer.max_epochs=1"], run)
    metrics = read_metrics_json(run)
    assert (metrics["batch_size"], metrics["batch_source"], metrics["eval_batch_size"]) == (4, "cpu", 4)
    assert metrics["lr"] == pytest.approx(5e-3 * math.sqrt(4 / 32))
    used = read_complete_run(run).config["used"]
    assert (used["batch_size"], used["batch_source"], used["lr"]) == (4, "cpu", pytest.approx(metrics["lr"]))
    row = collect_runs(tmp_path / "sweep").iloc[0]
    assert (row["batch_size"], row["lr"]) == (4, pytest.approx(metrics["lr"]))


def test_auto_settings_are_checked_with_the_key_named():
    cfg = compose_train(["data.batch_size=auto", "batch_auto.min_gain=fast"])
    with pytest.raises(SetiError, match="batch_auto.min_gain"):
        batch_probe.choose_batch(cfg, cuda=False)
    assert batch_probe.choose_batch(compose_train(["data.batch_size=8"]), cuda=True).batch == 8


# ---- compare.py --factor -----------------------------------------------------------------------------
def _write_run(root, batch: int, seed: int, ids, y, pred, aug: str = "none", model: str = "tiny"):
    run = root / f"aug={aug},data.batch_size={batch},model={model},seed={seed}"
    cfg = {
        "seed": seed,
        "data": {"fold": 0, "num_folds": 5, "batch_size": batch, "image_size": [96, 128]},
        "model": {"name": model, "_target_": "seti.models.classifier.CadenceClassifier"},
        "aug": {"name": aug},
        "trainer": {"max_epochs": 10},
    }
    atomic_write_text(run / ".hydra" / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(cfg)))
    atomic_write_text(run / ".hydra" / "overrides.yaml", f"- seed={seed}\n- data.batch_size={batch}\n")
    atomic_write_csv(run / "val_predictions.csv", pd.DataFrame({"id": ids, "target": y, "pred": pred}))
    metrics = RunMetrics(status="finished", model=model, aug=aug, data="synthetic", fold=0, num_folds=5)
    metrics.seed, metrics.best_val_auroc, metrics.batch_size = seed, 0.8, batch
    atomic_write_json(run / "metrics.json", metrics.to_dict())


def test_compare_pairs_runs_that_differ_by_batch_with_factor(tmp_path):
    rng = np.random.default_rng(0)
    ids = [f"{i:015x}" for i in range(300)]
    y = (rng.random(300) < 0.3).astype(int)
    for seed in (1, 2, 3):
        for batch, signal in ((16, 1.0), (64, 1.0)):
            _write_run(tmp_path, batch, seed, ids, y, 1 / (1 + np.exp(-(signal * y + rng.normal(size=300)))))
    # without --factor the six runs share (model, aug, fold, seed) in pairs: three are duplicates, nothing compared
    assert collect_runs(tmp_path)["duplicate_of"].notna().sum() == 3
    rep = compare_sweeps(tmp_path, out_dir=tmp_path / "report", n_boot=50, factor="data.batch_size")
    (row,) = rep.comparisons.itertuples()
    assert (row.aug, row.baseline, row.n_pairs, row.n_seeds) == ("data.batch_size=64", "data.batch_size=16", 3, 3)
    assert "data.batch_size=64 vs data.batch_size=16 on tiny" in row.verdict
    assert "| 16, 64 |" in (tmp_path / "report" / "report.md").read_text()  # the settings table's batch column
    with pytest.raises(SetiError, match="no finished run has data.batch_size=32"):
        compare_sweeps(tmp_path, out_dir=tmp_path / "r2", n_boot=50, factor="data.batch_size", baseline="32")


def test_compare_factor_model_pairs_runs_of_two_models_by_seed(tmp_path):
    """--factor model: the models are the compared levels (by their choice's name, never their config node),
    paired by seed; without it each model's runs stand alone and nothing is compared."""
    rng = np.random.default_rng(2)
    ids = [f"{i:015x}" for i in range(300)]
    y = (rng.random(300) < 0.3).astype(int)
    for seed in (1, 2, 3):
        for model, signal in (("tiny", 0.5), ("hybrid", 2.5)):
            _write_run(tmp_path, 32, seed, ids, y, 1 / (1 + np.exp(-(signal * y + rng.normal(size=300)))), model=model)
    rep = compare_sweeps(tmp_path, out_dir=tmp_path / "report", n_boot=50, factor="model", baseline="tiny")
    (row,) = rep.comparisons.itertuples()
    assert (row.aug, row.baseline, row.n_pairs, row.n_seeds) == ("model=hybrid", "model=tiny", 3, 3)
    assert row.run_diff > 0.2 and (tmp_path / "report" / "roc_curves.png").is_file()


def test_compare_where_picks_one_arm_of_a_two_factor_sweep(tmp_path):
    """batch x aug: with --factor alone the arms collide as duplicates; --where aug=... compares within one."""
    from seti.report.compare import main

    rng = np.random.default_rng(1)
    ids = [f"{i:015x}" for i in range(300)]
    y = (rng.random(300) < 0.3).astype(int)
    for aug, gain in (("none", 0.0), ("light", 1.5)):  # in the light arm batch 64 is far better
        for seed in (1, 2, 3):
            for batch in (16, 64):
                signal = 1.0 + (gain if batch == 64 else 0.0)
                pred = 1 / (1 + np.exp(-(signal * y + rng.normal(size=300))))
                _write_run(tmp_path, batch, seed, ids, y, pred, aug=aug)
    assert collect_runs(tmp_path, "data.batch_size")["duplicate_of"].notna().sum() == 6
    assert len(collect_runs(tmp_path, "data.batch_size", {"aug": "light"})) == 6
    light = compare_sweeps(
        tmp_path, out_dir=tmp_path / "r1", n_boot=50, factor="data.batch_size", where={"aug": "light"}
    )
    (row,) = light.comparisons.itertuples()
    assert (row.n_pairs, row.n_seeds) == (3, 3) and row.run_diff > 0.1
    none = compare_sweeps(tmp_path, out_dir=tmp_path / "r2", n_boot=50, factor="data.batch_size", where={"aug": "none"})
    (row,) = none.comparisons.itertuples()
    assert (row.n_pairs, row.n_seeds) == (3, 3) and abs(row.run_diff) < 0.1
    assert (
        main(
            [
                str(tmp_path),
                "--out",
                str(tmp_path / "r3"),
                "--n-boot",
                "20",
                "--factor",
                "data.batch_size",
                "--where",
                "aug=nothing",
            ]
        )
        == 2
    )
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--where", "aug"])
