"""launcher=gpus: the slot pool on real lock files and processes, jobs_per_gpu (given or auto), the CPU
share of each job, and a real two-job joblib sweep on the CPU."""

from __future__ import annotations

import copy
import multiprocessing as mp
import os

import pytest
from helpers import TINY, compose_train, hydra_context, read_metrics_json, real, run_train
from omegaconf import OmegaConf, open_dict

from seti.training import devices

AUTO = {
    "memory_gib": {"b1": 5.0, "b3": 6.9, "b5": 12.7},
    "default_gib": 16.0,
    "job_overhead_gib": 1.0,
    "memory_headroom": 0.9,
    "max_jobs_per_gpu": 8,
}


# ---- the slot pool: real lock files, real processes ------------------------------------------------
def _hold_slot(lock_dir: str, count: int, per_gpu: int, out, release) -> None:
    try:
        slot = devices.acquire_slot(count, per_gpu, lock_dir, poll_s=0.05, timeout_s=1.0)
    except TimeoutError as err:
        out.put(("timeout", str(err)))
        return
    out.put((slot.index, slot.slot))
    release.wait(300)  # set by the test once all slots are taken; a loaded machine starts processes slowly
    slot.release()


def test_slot_pool_fills_every_gpu_before_doubling_up_and_blocks_when_full(tmp_path):
    ctx = mp.get_context("spawn")
    out, release = ctx.Queue(), ctx.Event()
    procs, got = [], []
    for _ in range(4):  # 2 GPUs x 2 slots, one process at a time so the order is deterministic
        proc = ctx.Process(target=_hold_slot, args=(str(tmp_path), 2, 2, out, release))
        proc.start()
        procs.append(proc)
        got.append(out.get(timeout=60))
    assert got == [(0, 0), (1, 0), (0, 1), (1, 1)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"gpu{g}-slot{s}.lock" for g in (0, 1) for s in (0, 1)]
    fifth = ctx.Process(target=_hold_slot, args=(str(tmp_path), 2, 2, out, release))
    fifth.start()
    status, message = out.get(timeout=60)
    assert status == "timeout" and "2 GPU(s) x 2 slot(s)" in message
    fifth.join(30)
    release.set()
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    slot = devices.acquire_slot(2, 2, tmp_path, timeout_s=1.0)  # all released: the first slot again
    assert (slot.index, slot.slot) == (0, 0)
    slot.release()


def test_slot_pool_rejects_an_empty_pool(tmp_path):
    with pytest.raises(ValueError, match="jobs_per_gpu=0"):
        devices.acquire_slot(1, 0, tmp_path)


# ---- jobs_per_gpu ------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["0", "-1", "1.5", "two", None])
def test_jobs_per_gpu_must_be_a_positive_integer_or_auto(bad):
    with pytest.raises(ValueError, match="launcher.jobs_per_gpu must be an integer >= 1 or auto"):
        devices.resolve_jobs_per_gpu(bad)
    assert devices.resolve_jobs_per_gpu("3") == 3 and devices.resolve_jobs_per_gpu(2) == 2


def test_auto_takes_the_most_demanding_model_and_scales_by_batch_and_area():
    # b5 at batch 16, 512x512: 12.7 + 1 GiB per job; 139 GiB free x 0.9 -> 9 jobs, capped at 8 per GPU
    job = devices.job_memory_gib(["b1", "b5", "b3"], [16], [[512, 512]], AUTO)
    assert job == pytest.approx(13.7)
    assert devices.auto_jobs_per_gpu([139.0], job, AUTO, cpus=64) == 8
    assert devices.auto_jobs_per_gpu([139.0], job, AUTO | {"max_jobs_per_gpu": 100}, cpus=64) == int(139 * 0.9 // 13.7)
    # the GPU with the least free memory decides; CPUs cap it (two cores per job)
    assert devices.auto_jobs_per_gpu([139.0, 40.0], job, AUTO, cpus=64) == int(40 * 0.9 // 13.7)
    assert devices.auto_jobs_per_gpu([139.0], job, AUTO, cpus=6) == 3
    assert devices.auto_jobs_per_gpu([5.0], job, AUTO, cpus=64) == 1  # never below one
    assert devices.auto_jobs_per_gpu([], job, AUTO) == 1  # no GPU: nothing to share
    # b1 at batch 32, 256x256: half the reference's batch x area
    assert devices.job_memory_gib(["b1"], [32], [[256, 256]], AUTO) == pytest.approx(5.0 * 0.5 + 1.0)
    assert devices.job_memory_gib(["v2m"], [16], [[512, 512]], AUTO) == pytest.approx(17.0)  # unknown: default


def test_auto_reads_the_sweep_from_the_command_line_and_from_presets(tmp_path, monkeypatch):
    (tmp_path / "control").touch()  # an MPS daemon's pipe: jobs sharing a GPU overlap (else auto picks 1)
    monkeypatch.setenv("CUDA_MPS_PIPE_DIRECTORY", str(tmp_path))
    cfg = compose_train(["launcher=gpus", "experiment=augmentation_study", "data.root=/x"])
    params = OmegaConf.to_container(cfg.hydra.sweeper.params)
    task = [*cfg.hydra.overrides.task, "data.batch_size=16,64"]  # as the launching process of a -m sweep sees it
    assert devices.sweep_values("model", cfg.model.name, task, params) == ["b1", "b3", "b5"]
    assert devices.sweep_values("data.batch_size", cfg.data.batch_size, task, params) == [16, 64]  # command line wins
    assert devices.sweep_values("data.image_size", list(cfg.data.image_size), task, params) == [[512, 512]]
    jobs = devices.resolve_jobs_per_gpu(
        "auto",
        OmegaConf.to_container(cfg.launcher.auto),
        cfg.model.name,
        cfg.data.batch_size,
        list(cfg.data.image_size),
        task,
        params,
        free_gib=[139.0],
    )
    per_job = 4.7 * 4 + 1.0  # b5 at batch 64
    assert jobs == max(1, min(int(139 * 0.9 // per_job), 8, max(1, (os.cpu_count() or 1) // 2)))


def test_n_jobs_resolves_from_jobs_per_gpu_on_a_cpu_machine():
    cfg = compose_train(["launcher=gpus", "launcher.jobs_per_gpu=3"])
    assert cfg.hydra.launcher.n_jobs == max(1, devices.gpu_count()) * 3
    with pytest.raises(Exception, match="launcher.jobs_per_gpu must be an integer"):
        _ = compose_train(["launcher=gpus", "launcher.jobs_per_gpu=zero"]).hydra.launcher.n_jobs
    if devices.gpu_count() == 0:
        assert compose_train(["launcher=gpus", "launcher.jobs_per_gpu=auto"]).hydra.launcher.n_jobs == 1


@pytest.mark.parametrize("explicit", [False, True])
def test_job_share_splits_cpu_workers_unless_given_on_the_command_line(explicit):
    overrides = ["launcher=gpus", "launcher.jobs_per_gpu=2"] + (["data.num_workers=5"] if explicit else [])
    cfg = compose_train(overrides)
    with hydra_context(cfg):
        task_cfg = copy.deepcopy(cfg)  # as Hydra's run_job hands it to the job
        with open_dict(task_cfg):
            del task_cfg["hydra"]
        share = devices.job_share(task_cfg)
    concurrent = max(1, devices.gpu_count()) * 2
    assert share.concurrent_jobs == concurrent and share.jobs_per_gpu == 2
    assert share.num_workers == (5 if explicit else max(1, (os.cpu_count() or 1) // concurrent))
    assert share.workers_explicit is explicit
    assert devices.job_share(compose_train([])) is None  # launcher=basic: no pool


# ---- a real sweep ------------------------------------------------------------------------------------
def test_two_jobs_share_the_machine_in_a_real_joblib_sweep(tmp_path, sample_root):
    """Two jobs at once (jobs_per_gpu=2; one GPU slot pair, or the CPU here): each its own directory and
    metrics, each with half the CPUs as DataLoader workers (the preset's data.num_workers is not used)."""
    sweep = tmp_path / "sweep"
    tiny = [o for o in TINY if not o.startswith("data.num_workers")]  # the job's share decides the workers
    args = [*real(sample_root), *tiny, "trainer.max_epochs=1", "logger=csv", "launcher=gpus", "launcher.jobs_per_gpu=2"]
    proc = run_train(["-m", *args, "data.fold=0,1", f"hydra.sweep.dir={sweep}"], tmp_path)
    assert "n_jobs=2" in proc.stdout + proc.stderr  # joblib ran them side by side
    runs = sorted(p.parent for p in sweep.glob("*/metrics.json"))
    assert len(runs) == 2 and not any(
        "launcher" in r.name for r in runs
    )  # a re-run with another jobs_per_gpu finds them
    concurrent = max(1, devices.gpu_count()) * 2
    for run in runs:
        summary = read_metrics_json(run)
        assert summary["status"] == "finished"
        assert summary["parallel_jobs"] == concurrent and summary["jobs_per_gpu"] == 2
        assert summary["num_workers"] == max(1, (os.cpu_count() or 1) // concurrent)
        assert (summary["gpu"] is None) == (devices.gpu_count() == 0)
