"""Reliability under bad input and faults: every case of docs/reliability.md has its test here.

Kill tests use real processes and real signals on a tiny synthetic dataset made once for the module by
``scripts/make_synthetic.py`` (60 train + 10 test cadences, 32x64 images, the 99k-parameter model).
"""

from __future__ import annotations

import json
import os
import pickle
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
import torch
from helpers import REPO, TINY, offline_env, real, run_train, start_train

from seti.checkpoints import AtomicCheckpointIO, CheckpointLoadError
from seti.data.dataset import check_header, find_bad_files
from seti.data.folds import split_fold
from seti.data.layout import cadence_path
from seti.inference import PredictError, check_outputs, quote_path_overrides
from seti.training.history import merge_csv_logs, set_aside_csv_log
from seti.training.pipeline import resolve_ckpt_path

OFFLINE_SITE = REPO / "tests" / "offline"


# ---- helpers --------------------------------------------------------------------------------------
def overrides(root: Path, run: Path, *extra: str) -> list[str]:
    """The harness's tiny run on ``root`` (Kaggle layout), batch 8, CSV log, in ``run``."""
    return [*real(root), *TINY, "data.batch_size=8", "logger=csv", f"hydra.run.dir={run}", *extra]


def train(args: list[str], home: Path, **kwargs) -> subprocess.CompletedProcess:
    """``train.py ARGS`` whose failure a test inspects (the harness's run_train, not failing the test)."""
    return run_train(args, home, check=False, **kwargs)


def metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def ckpt_epoch(path: Path) -> int | None:
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])
    except Exception:  # noqa: BLE001 - not there yet
        return None


def wait_for_epoch(proc: subprocess.Popen, last: Path, epoch: int, timeout: float = 300) -> None:
    """Wait until last.ckpt holds ``epoch`` (or later): the process is then training the next epoch."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"train.py ended ({proc.returncode}) before epoch {epoch} was saved:\n{proc.stderr.read()[-3000:]}"
            )
        found = ckpt_epoch(last) if last.is_file() else None
        if found is not None and found >= epoch:
            return
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"no last.ckpt of epoch {epoch} after {timeout} s")


def val_epochs(run: Path) -> list[int]:
    log = pd.read_csv(run / "csv" / "metrics.csv")
    return log.dropna(subset=["val/auroc"])["epoch"].astype(int).tolist()


def fail_output(proc) -> str:
    return f"rc={proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    """A real synthetic dataset in the Kaggle layout (60 labelled + 10 test cadences)."""
    root = tmp_path_factory.mktemp("synthetic") / "set"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "make_synthetic.py"),
            "--out",
            str(root),
            "--n",
            "60",
            "--test-n",
            "10",
            "--positive-rate",
            "0.3",
            "--workers",
            "1",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=offline_env(root.parent),
    )
    assert proc.returncode == 0, proc.stderr
    return root


@pytest.fixture
def synth_copy(synth, tmp_path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(synth, root)
    return root


def fold_ids(root: Path) -> tuple[list[str], list[str]]:
    labels = pd.read_csv(root / "train_labels.csv", dtype={"id": str})
    train_ids, val_ids = split_fold(labels, 3, 0, 42)
    return train_ids["id"].tolist(), val_ids["id"].tolist()


def put_nan(path: Path) -> None:
    """A NaN behind a perfectly valid .npy header: data.check=header cannot see it."""
    array = np.load(path)
    array[0, 0, 0] = np.nan
    np.save(path, array)


# ---- checkpoints ----------------------------------------------------------------------------------
def test_last_ckpt_is_the_last_epoch_even_when_best_does_not_improve(synth, tmp_path):
    """Monitoring `epoch` in min mode: the best never improves after epoch 0, last.ckpt must still move."""
    run = tmp_path / "run"
    proc = train(
        overrides(
            synth,
            run,
            "trainer.max_epochs=3",
            "callbacks.model_checkpoint.monitor=epoch",
            "callbacks.model_checkpoint.mode=min",
        ),
        tmp_path,
    )
    assert proc.returncode == 0, fail_output(proc)
    assert ckpt_epoch(run / "checkpoints" / "last.ckpt") == 2
    assert ckpt_epoch(run / "checkpoints" / "best.ckpt") == 0
    m = metrics(run)
    assert m["attempts"] == 1 and m["resumed"] is False
    assert m["wall_time_s_attempts"] == [pytest.approx(m["wall_time_s"])]


def test_checkpoint_save_is_atomic(tmp_path):
    """A save that dies half-way (here: an unpicklable object) leaves the previous file and no temp file."""
    io = AtomicCheckpointIO()
    path = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(2)}, "epoch": 1}, path)
    with pytest.raises((AttributeError, TypeError, pickle.PicklingError)):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(2)}, "epoch": 2, "bad": lambda: None}, path)
    assert torch.load(path, weights_only=True)["epoch"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_truncated_or_malicious_last_ckpt_is_refused_with_the_way_out(tmp_path):
    run = tmp_path / "run"
    last = run / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    torch.save({"state_dict": {"w": torch.ones(1000)}, "epoch": 0}, last)
    last.write_bytes(last.read_bytes()[:300])  # a kill -9 mid-copy, a full disk
    with pytest.raises(CheckpointLoadError, match="last.ckpt") as err:
        resolve_ckpt_path("auto", run)
    assert (
        "truncated or corrupt" in str(err.value)
        and "ckpt_path=null" in str(err.value)
        and f"delete {last}" in str(err.value)
    )
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {}, "epoch": 0, "x": _Payload(str(marker))}, last)
    with pytest.raises(CheckpointLoadError, match="weights_only=True"):
        resolve_ckpt_path("auto", run)
    with pytest.raises(CheckpointLoadError):  # Lightning's own resume path goes through the same plugin
        AtomicCheckpointIO().load_checkpoint(last, weights_only=False)
    assert not marker.exists()


def test_resume_from_corrupt_last_ckpt_refused_before_training(synth, tmp_path):
    run = tmp_path / "run"
    last = run / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"PK\x03\x04 not really a checkpoint")
    proc = train(overrides(synth, run, "trainer.max_epochs=1"), tmp_path)
    assert proc.returncode != 0
    assert f"cannot resume from {last}" in proc.stderr and "ckpt_path=null" in proc.stderr
    assert not (run / "csv").exists() and metrics(run)["status"] == "failed"


# ---- signals and kills ---------------------------------------------------------------------------------
def printed_resume_command(error: str) -> list[str]:
    """The command an interrupted run's message says will resume it, as argv (its first word is ``python``)."""
    assert "to resume from checkpoints/last.ckpt, run: python " in error, error
    return shlex.split(error.split("run: ", 1)[1])


def test_sigterm_then_the_printed_command_resumes_and_a_changed_config_is_refused(synth, tmp_path):
    """R4b: with the default run directory (a new timestamp each time) the printed command resumes the run
    (attempts 2). N24: the same command with another lr and loss is refused, naming both, before anything
    is written."""
    args = [*real(synth), *TINY, "data.batch_size=8", "logger=csv", "trainer.max_epochs=4", "data.image_size=[64,128]"]
    assert not any(a.startswith("hydra.run.dir") for a in args)
    proc = start_train(args, tmp_path)
    deadline = time.time() + 300
    while not list(tmp_path.glob("logs/runs/*/checkpoints/last.ckpt")) and time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        time.sleep(0.1)
    (run,) = [p.parents[1] for p in tmp_path.glob("logs/runs/*/checkpoints/last.ckpt")]
    wait_for_epoch(proc, run / "checkpoints" / "last.ckpt", 0)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    m = metrics(run)
    assert m["status"] == "interrupted" and "SIGTERM" in m["error"] and m["attempts"] == 1
    command = printed_resume_command(m["error"])
    assert f"hydra.run.dir={run}" in command

    changed = train([*command[2:], "model.optimizer.lr=0.0001", "model.loss=focal"], tmp_path)
    assert changed.returncode == 1
    assert "model.optimizer.lr: 0.005 -> 0.0001" in changed.stderr and "model.loss: bce -> focal" in changed.stderr
    assert "on_config_change=force" in changed.stderr and "hydra.run.dir=<new dir>" in changed.stderr
    assert metrics(run) == m  # nothing written by the refused command

    resumed = train(command[2:], tmp_path)
    assert resumed.returncode == 0, fail_output(resumed)
    m = metrics(run)
    assert m["status"] == "finished" and m["attempts"] == 2 and m["resumed"] is True
    assert len(m["wall_time_s_attempts"]) == 2 and m["wall_time_s"] == pytest.approx(sum(m["wall_time_s_attempts"]))
    assert val_epochs(run) == list(range(4))
    assert ckpt_epoch(run / "checkpoints" / "last.ckpt") == 3
    assert sorted(p.name for p in (tmp_path / "logs" / "runs").iterdir()) == [run.name]  # no new directory


def test_kill9_twice_keeps_history_wall_time_and_best_auroc(synth, tmp_path):
    run = tmp_path / "run"
    args = overrides(synth, run, "trainer.max_epochs=4", "data.image_size=[64,128]")
    last = run / "checkpoints" / "last.ckpt"
    for epoch in (0, 1):  # kill -9 after epoch 0, re-run, kill -9 after epoch 1, re-run to the end
        proc = start_train(args, tmp_path)
        wait_for_epoch(proc, last, epoch)
        proc.kill()
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL
    done = train(args, tmp_path)
    assert done.returncode == 0, fail_output(done)
    m = metrics(run)
    assert m["status"] == "finished" and m["attempts"] == 3 and m["resumed"] is True
    assert len(m["wall_time_s_attempts"]) == 3 and all(t > 0 for t in m["wall_time_s_attempts"])
    assert m["wall_time_s"] == pytest.approx(sum(m["wall_time_s_attempts"]))
    log = pd.read_csv(run / "csv" / "metrics.csv").dropna(subset=["val/auroc"])
    assert log["epoch"].astype(int).tolist() == list(range(4))  # every epoch once, none lost, none twice
    assert m["best_val_auroc"] == pytest.approx(log["val/auroc"].max())  # best carried over from killed attempts
    assert not list((run / "csv" / "attempts").glob("*.csv"))


@pytest.mark.slow
def test_sigint_mid_epoch_exits_nonzero_and_is_resumable(synth, tmp_path):
    run = tmp_path / "run"
    args = overrides(synth, run, "trainer.max_epochs=4", "data.image_size=[64,128]")
    proc = start_train(args, tmp_path)
    wait_for_epoch(proc, run / "checkpoints" / "last.ckpt", 0)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT
    assert metrics(run)["status"] == "interrupted"
    resumed = train(args, tmp_path)
    assert resumed.returncode == 0 and metrics(run)["attempts"] == 2 and val_epochs(run) == list(range(4))


def test_csv_history_merge_survives_any_number_of_attempts(tmp_path):
    """Attempt files on disk, merged by epoch: a resumed attempt replaces the epochs it trained again."""
    csv = tmp_path / "csv" / "metrics.csv"
    csv.parent.mkdir(parents=True)
    for epochs in ([0, 1, 2], [2, 3], [3, 4, 5]):  # attempt 1 died in epoch 2, attempt 2 in epoch 3
        pd.DataFrame(
            {"epoch": epochs, "step": [10 * e for e in epochs], "val/auroc": [0.5 + e / 10 for e in epochs]}
        ).to_csv(csv, index=False)
        set_aside_csv_log(tmp_path)
    pd.DataFrame({"epoch": [5, 6], "step": [50, 60], "val/auroc": [0.9, 0.95]}).to_csv(csv, index=False)
    merge_csv_logs(tmp_path)
    assert pd.read_csv(csv)["epoch"].tolist() == [0, 1, 2, 3, 4, 5, 6]


# ---- make_synthetic.py -------------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_make_synthetic_workers_die_with_parent(tmp_path, sig):
    out = tmp_path / "set"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "scripts" / "make_synthetic.py"),
            "--out",
            str(out),
            "--n",
            "3000",
            "--workers",
            "2",
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=offline_env(tmp_path),
    )
    parent = psutil.Process(proc.pid)
    deadline = time.time() + 120
    workers: list[psutil.Process] = []
    while time.time() < deadline and not (len(workers) >= 2 and list(out.glob("train/*/*.npy"))):
        workers = parent.children(recursive=True)
        time.sleep(0.1)
    assert len(workers) >= 2, "the pool never started"
    try:
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)  # also proves no worker holds our stdout/stderr open
        assert proc.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else 128 + signal.SIGTERM), stderr[-2000:]
        gone, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive, f"workers still running after the parent died: {[p.pid for p in alive]}"
    finally:  # never leave them behind, even when this test fails
        for process in workers:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
    # and the interrupted folder is finished by a re-run (tested at length in test_synthetic.py)
    assert not (out / "synthetic.json").exists()


# ---- test split ----------------------------------------------------------------------------------------
def test_empty_test_split_is_not_scored(synth_copy, tmp_path):
    (synth_copy / "test_labels.csv").write_text("id,target\n")  # what make_synthetic.py --test-n 0 writes
    run = tmp_path / "run"
    proc = train(overrides(synth_copy, run, "trainer.max_epochs=1"), tmp_path)
    assert proc.returncode == 0, fail_output(proc)
    m = metrics(run)
    assert m["status"] == "finished" and m.get("test_auroc") is None and m["warnings"] == []


def test_corrupt_test_file_refused_before_training(synth_copy, tmp_path):
    test_id = pd.read_csv(synth_copy / "test_labels.csv", dtype={"id": str})["id"].iloc[0]
    bad = cadence_path(synth_copy, "test", test_id)
    bad.write_bytes(bad.read_bytes()[:1000])
    run = tmp_path / "run"
    proc = train(overrides(synth_copy, run, "trainer.max_epochs=1"), tmp_path)
    assert proc.returncode != 0 and str(bad) in proc.stderr and "truncated" in proc.stderr
    assert not (run / "checkpoints").exists()  # nothing was trained


def test_failing_test_stage_leaves_the_run_finished_with_a_warning(synth_copy, tmp_path):
    test_id = pd.read_csv(synth_copy / "test_labels.csv", dtype={"id": str})["id"].iloc[0]
    put_nan(cadence_path(synth_copy, "test", test_id))  # passes the header check, fails in the test stage
    run = tmp_path / "run"
    proc = train(overrides(synth_copy, run, "trainer.max_epochs=1"), tmp_path)
    assert proc.returncode == 0, fail_output(proc)
    m = metrics(run)
    assert m["status"] == "finished" and m["best_val_auroc"] is not None and m.get("test_auroc") is None
    assert len(m["warnings"]) == 1 and "test stage" in m["warnings"][0] and test_id in m["warnings"][0]


# ---- config --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "override, message",
    [
        ("trainer.max_epochs=0", "trainer.max_epochs must be >= 1, got 0"),
        ("data.batch_size=abc", "data.batch_size must be an integer, got 'abc'"),
        ("data.num_workers=two", "data.num_workers must be an integer"),
        ("data.image_size=[64]", "data.image_size must be [height, width]"),
        ("trainer.limit_train_batches=-1", "trainer.limit_train_batches must be > 0"),
        ("model=hybrid data.layout=channels", "model.hybrid needs the six panels stacked"),
        ("model=hybrid data.image_size=[100,256]", "data.image_size height divisible by 6"),
        ("model=hybrid model.hybrid.cnn_size=[100,128]", "model.hybrid.cnn_size must be null or [height, width]"),
    ],
)
def test_bad_config_values_name_the_key(synth, tmp_path, override, message):
    from hydra import compose, initialize_config_dir
    from omegaconf import open_dict

    from seti.config import check_config
    from seti.training.resolvers import register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["data=kaggle", f"data.root={synth}", *override.split()])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
    with pytest.raises(ValueError) as err:
        check_config(cfg)
    assert message in str(err.value)


def test_bad_config_refused_by_train_py_before_any_work(synth, tmp_path):
    run = tmp_path / "run"
    proc = train(overrides(synth, run, "data.batch_size=abc"), tmp_path)
    assert proc.returncode != 0 and "data.batch_size must be an integer, got 'abc'" in proc.stderr
    assert not (run / "checkpoints").exists() and not (run / "csv").exists()


# ---- paths a user can paste ----------------------------------------------------------------------------
PLAIN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-")


def test_sweep_job_dir_pastes_into_predict(synth, tmp_path):
    """A sweep job's directory, pasted as is (through a shell), works as predict.py's ckpt=; so does an
    old-style directory (aug=none,data.image_size=[32,64]) and compare.py's collector reads both."""
    sweep = tmp_path / "sweep"
    proc = train(
        ["-m", *overrides(synth, tmp_path / "unused", "trainer.max_epochs=1"), "aug=light", f"hydra.sweep.dir={sweep}"],
        tmp_path,
    )
    assert proc.returncode == 0, fail_output(proc)
    jobs = sorted(p.parent for p in sweep.glob("*/metrics.json"))
    assert len(jobs) == 1 and set(jobs[0].name) <= PLAIN
    assert (
        jobs[0].name.startswith("aug-light_")
        and "_data-kaggle_" in jobs[0].name
        and "_data.image_size-32x64_" in jobs[0].name
    )
    old = sweep / "aug=light,data.image_size=[32,64]"
    shutil.copytree(jobs[0], old)  # a job of a sweep made before the names became plain
    env = offline_env(tmp_path)
    for ckpt in (jobs[0], old):
        out = tmp_path / f"sub-{len(list(tmp_path.glob('sub-*')))}.csv"
        command = f"{sys.executable} {REPO / 'predict.py'} ckpt={ckpt} data.root={synth} output={out} num_workers=0 hydra.run.dir={tmp_path / 'p'}"
        pred = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert pred.returncode == 0, fail_output(pred)
        assert len(pd.read_csv(out)) == 10
    from seti.report.sweep import collect_runs

    runs = collect_runs(sweep)
    assert len(runs) == 2 and set(runs["status"]) == {"finished"}


def test_old_style_paths_are_quoted_for_hydra():
    assert quote_path_overrides(["ckpt=logs/m/aug=none,model=b0", "tta=flip", "output=a.csv"]) == [
        "ckpt='logs/m/aug=none,model=b0'",
        "tta=flip",
        "output=a.csv",
    ]
    assert quote_path_overrides(["ckpt='already=quoted'"]) == ["ckpt='already=quoted'"]


def test_output_under_a_regular_file_refused_before_inference(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(PredictError, match="is a file, not a folder"):
        check_outputs([tmp_path / "file" / "x.csv"], overwrite=False)
    from helpers import compose_predict

    from seti.inference.predict import predict  # the check runs before any checkpoint or data is read

    with pytest.raises(PredictError, match="is a file, not a folder"):
        predict(
            compose_predict(
                {
                    "ckpt": str(tmp_path / "nothing"),
                    "data": {"root": str(tmp_path)},
                    "output": str(tmp_path / "file" / "x.csv"),
                }
            )
        )


# ---- bad data ------------------------------------------------------------------------------------------
def test_unreadable_files_are_named_not_raw_oserrors(tmp_path):
    loop = tmp_path / "loop.npy"
    loop.symlink_to(tmp_path / "loop.npy")
    folder = tmp_path / "folder.npy"
    folder.mkdir()
    reasons = find_bad_files([loop, folder])
    assert "cannot read" in reasons[0] and str(loop) in reasons[0]
    assert "cannot read" in reasons[1] and str(folder) in reasons[1]
    if os.geteuid() != 0:  # root reads anything: a chmod 000 file is only unreadable to other users
        locked = tmp_path / "locked.npy"
        np.save(locked, np.zeros((6, 273, 256), np.float16))
        locked.chmod(0)
        assert "cannot read" in check_header(locked)


def test_bad_files_found_at_load_time_are_skipped_and_listed(synth_copy, tmp_path):
    """data.check=header + on_error=skip: NaN (train and validation, found in a DataLoader worker), a symlink
    loop and a directory in place of a file: training finishes and every one is in skipped_ids.csv."""
    train_ids, val_ids = fold_ids(synth_copy)
    put_nan(cadence_path(synth_copy, "train", train_ids[0]))
    put_nan(cadence_path(synth_copy, "train", val_ids[0]))
    loop = cadence_path(synth_copy, "train", train_ids[1])
    loop.unlink()
    loop.symlink_to(loop)
    folder = cadence_path(synth_copy, "train", train_ids[2])
    folder.unlink()
    folder.mkdir()
    run = tmp_path / "run"
    proc = train(
        overrides(
            synth_copy,
            run,
            "trainer.max_epochs=1",
            "data.on_error=skip",
            "data.num_workers=1",
            "data.persistent_workers=false",
        ),
        tmp_path,
    )
    assert proc.returncode == 0, fail_output(proc)
    skipped = pd.read_csv(run / "skipped_ids.csv", dtype={"id": str})
    assert set(skipped["id"]) == {train_ids[0], val_ids[0], train_ids[1], train_ids[2]}
    m = metrics(run)
    assert m["status"] == "finished" and m["skipped"] == 4
    preds = pd.read_csv(run / "val_predictions.csv", dtype={"id": str})
    assert val_ids[0] not in set(preds["id"]) and len(preds) == len(val_ids) - 1


def test_nan_found_at_load_time_with_on_error_raise_names_file_and_fix(synth_copy, tmp_path):
    train_ids, _ = fold_ids(synth_copy)
    bad = cadence_path(synth_copy, "train", train_ids[0])
    put_nan(bad)
    run = tmp_path / "run"
    proc = train(overrides(synth_copy, run, "trainer.max_epochs=1"), tmp_path)
    assert proc.returncode != 0
    error = metrics(run)["error"]
    assert str(bad) in error and "data.check=full" in error and "data.on_error=skip" in error


# ---- offline -------------------------------------------------------------------------------------------
def _connects(strace_log: Path) -> list[str]:
    """Internet connects in an strace log (any process, Go binaries too); AF_UNIX and loopback excluded."""
    lines = strace_log.read_text(errors="replace").splitlines() if strace_log.is_file() else []
    return [
        line
        for line in lines
        if "connect(" in line and ("AF_INET" in line) and "127.0.0.1" not in line and '"::1"' not in line
    ]


def _guarded_pythonpath(home: Path) -> str:
    """The offline guard's sitecustomize first, then the harness's path."""
    return os.pathsep.join([str(OFFLINE_SITE), offline_env(home)["PYTHONPATH"]])


def test_training_and_predict_open_no_network_connection(synth, tmp_path):
    """Every Python process (workers, W&B's) refuses and records any host lookup or connection; W&B runs in
    its default mode (auto: offline without a key). With strace present, non-Python processes (wandb-core)
    are watched too."""
    attempts = tmp_path / "attempts"
    attempts.mkdir()
    env = offline_env(
        tmp_path, PYTHONPATH=_guarded_pythonpath(tmp_path), SETI_OFFLINE_LOG=str(attempts), HOME=str(tmp_path)
    )
    for key in ("WANDB_MODE", "WANDB_API_KEY", "NO_ALBUMENTATIONS_UPDATE", "HF_HUB_OFFLINE"):
        env.pop(key, None)
    strace = shutil.which("strace")
    run = tmp_path / "run"
    args = [*overrides(synth, run, "trainer.max_epochs=1", "data.num_workers=1", "aug=light"), "logger=wandb"]
    prefix = [strace, "-f", "-qq", "-e", "trace=connect", "-o", str(tmp_path / "strace.log")] if strace else []
    proc = subprocess.run(
        [*prefix, sys.executable, str(REPO / "train.py"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, fail_output(proc)
    assert list((run / "wandb").glob("offline-run-*"))
    assert metrics(run)["status"] == "finished"
    pred = subprocess.run(
        [
            sys.executable,
            str(REPO / "predict.py"),
            f"ckpt={run}",
            f"data.root={synth}",
            f"output={tmp_path / 'sub.csv'}",
            "num_workers=1",
            f"hydra.run.dir={tmp_path / 'p'}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pred.returncode == 0, fail_output(pred)
    records = "\n".join(p.read_text() for p in attempts.glob("*.txt"))
    assert records == "", f"network access attempted:\n{records[:4000]}"
    if strace:
        assert (tmp_path / "strace.log").is_file()
        assert _connects(tmp_path / "strace.log") == []


def test_offline_guard_catches_a_lookup(tmp_path):
    """The guard itself works: a plain lookup in a guarded process is refused and recorded."""
    env = offline_env(tmp_path, PYTHONPATH=_guarded_pythonpath(tmp_path), SETI_OFFLINE_LOG=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-c", "import socket; socket.getaddrinfo('pypi.org', 443)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "refused by the offline test" in proc.stderr
    assert "pypi.org" in "".join(p.read_text() for p in tmp_path.glob("attempts-*.txt"))


# ---- runs meeting runs: one owner per run directory, matched by config ---------------------------------
def session_processes(sid: int) -> list[psutil.Process]:
    alive = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == sid and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except (psutil.Error, ProcessLookupError):
            pass
    return alive


def test_killed_gpus_sweep_leaves_no_process_behind(synth, tmp_path):
    """N2/N3/N5: kill -9 of a launcher=gpus sweep (loky workers, on CPU): its workers and their resource
    trackers end within seconds instead of training on as orphans."""
    sweep = tmp_path / "sweep"
    args = [
        "-m",
        *overrides(synth, tmp_path / "unused", "trainer.max_epochs=50"),
        "launcher=gpus",
        "launcher.jobs_per_gpu=2",
        "seed=1,2",
        f"hydra.sweep.dir={sweep}",
    ]
    proc = start_train(args, tmp_path)
    deadline = time.time() + 300
    while len(list(sweep.glob("*/checkpoints/last.ckpt"))) < 1 and time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        time.sleep(0.2)
    workers = [p for p in session_processes(proc.pid) if p.pid != proc.pid]
    try:
        assert len(workers) >= 2, "no loky workers found"
        proc.kill()
        proc.wait(timeout=30)
        gone, alive = psutil.wait_procs(session_processes(proc.pid), timeout=40)
        assert not alive, f"still running after the sweep was killed: {[(p.pid, p.cmdline()[:4]) for p in alive]}"
    finally:
        for process in session_processes(proc.pid):
            process.kill()
    for job in sweep.glob("*/metrics.json"):  # the job a worker was training is recorded, resumable
        assert json.loads(job.read_text())["status"] in ("interrupted", "finished")


def test_second_trainer_of_a_run_dir_is_refused_naming_the_owner(synth, tmp_path):
    """N3/N5: while one process trains a run directory, another is refused at once with the owner's PID and
    host, writes nothing there, and the first finishes with its whole history."""
    from helpers import train_in_process

    from seti.training.runlock import RunDirBusy

    run = tmp_path / "run"
    args = overrides(synth, run, "trainer.max_epochs=3")
    proc = start_train(args, tmp_path)
    wait_for_epoch(proc, run / "checkpoints" / "last.ckpt", 0)
    with pytest.raises(RunDirBusy, match=f"pid {proc.pid} on host {socket.gethostname()}"):
        train_in_process(args, run, home=tmp_path)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    m = metrics(run)
    assert m["status"] == "finished" and m["attempts"] == 1 and val_epochs(run) == [0, 1, 2]


def test_finished_run_with_another_config_is_refused_and_its_record_kept(synth, tmp_path):
    """N21: the same hydra.run.dir with another hyper-parameter is refused, naming the key, and the run's
    .hydra/config.yaml (which Hydra rewrites at job start) is put back; the same config is skipped.
    Provenance (issue 16.3) is recorded in metrics.json."""
    run = tmp_path / "run"
    first = train(overrides(synth, run, "trainer.max_epochs=1"), tmp_path)
    assert first.returncode == 0, fail_output(first)
    before = {p.name: p.read_bytes() for p in (run / ".hydra").iterdir()}
    record, stored = (run / "metrics.json").read_bytes(), (run / "run_config.yaml").read_bytes()
    m = metrics(run)
    assert m["config_hash"] and m["config_hash"] in stored.decode()
    assert isinstance(m["git_commit"], str) and len(m["git_commit"]) == 40 and isinstance(m["git_dirty"], bool)
    assert set(m["versions"]) == {"torch", "lightning", "timm", "albumentations", "numpy"}
    assert m["versions"]["torch"] == torch.__version__.split("+")[0] and m["machine"]

    changed = train(overrides(synth, run, "trainer.max_epochs=2"), tmp_path)
    assert changed.returncode == 1 and "trainer.max_epochs: 1 -> 2" in changed.stderr, fail_output(changed)
    assert {p.name: p.read_bytes() for p in (run / ".hydra").iterdir()} == before
    assert (run / "metrics.json").read_bytes() == record and (run / "run_config.yaml").read_bytes() == stored

    again = train(overrides(synth, run, "trainer.max_epochs=1", "data.num_workers=0"), tmp_path)
    assert again.returncode == 0, fail_output(again)
    assert "already finished with this config" in again.stdout + again.stderr
    assert (run / "metrics.json").read_bytes() == record


def test_sweep_rerun_with_another_data_root_is_refused(synth, tmp_path):
    """N22: data.root is left out of job names, so a re-run of a sweep on other data meets the old jobs:
    refused, naming data.root (old -> new), instead of skipping them as finished."""
    sweep, other = tmp_path / "sweep", tmp_path / "other-data"
    shutil.copytree(synth, other)
    args = ["-m", *overrides(synth, tmp_path / "unused", "trainer.max_epochs=1"), f"hydra.sweep.dir={sweep}"]
    first = train(args, tmp_path)
    assert first.returncode == 0, fail_output(first)
    (job,) = [p.parent for p in sweep.glob("*/metrics.json")]
    config = (job / ".hydra" / "config.yaml").read_text()
    rerun = train([*args, f"data.root={other}"], tmp_path)
    assert rerun.returncode != 0
    assert f"data.root: {synth.resolve()} -> {other.resolve()}" in rerun.stderr, fail_output(rerun)
    assert (job / ".hydra" / "config.yaml").read_text() == config and metrics(job)["status"] == "finished"


def test_forced_config_change_continues_the_run_and_is_recorded(synth, tmp_path):
    """on_config_change=force: the run goes on under the new config; metrics.json lists what changed and
    the earlier run_config.yaml is kept beside the new one."""
    from helpers import train_in_process

    from seti.training.identity import ConfigChanged

    run = tmp_path / "run"
    base = overrides(synth, run, "trainer.max_epochs=1")
    train_in_process(base, run, home=tmp_path)
    first = (run / "run_config.yaml").read_text()
    with pytest.raises(ConfigChanged, match="trainer.max_epochs: 1 -> 2"):
        train_in_process([*base, "trainer.max_epochs=2"], run, home=tmp_path)
    m = train_in_process(
        [*base, "trainer.max_epochs=2", "on_config_change=force", "skip_finished=false"], run, home=tmp_path
    )
    assert m["status"] == "finished" and m["config_changes"] == ["trainer.max_epochs: 1 -> 2"]
    assert (run / "run_config.1.yaml").read_text() == first and "max_epochs: 2" in (run / "run_config.yaml").read_text()
    assert val_epochs(run) == [0, 1]


# ---- hangs: only regular files are opened -----------------------------------------------------------
def test_fifo_in_place_of_a_train_file_is_an_error_not_a_hang(synth_copy, tmp_path):
    """N26: a FIFO where a .npy should be is named as such before training (it used to hang the check)."""
    train_ids, _ = fold_ids(synth_copy)
    fifo = cadence_path(synth_copy, "train", train_ids[0])
    fifo.unlink()
    os.mkfifo(fifo)
    run = tmp_path / "run"
    proc = train(overrides(synth_copy, run, "trainer.max_epochs=1"), tmp_path, timeout=180)
    assert proc.returncode == 1 and f"{fifo} is a FIFO (named pipe), not a regular file" in proc.stderr
    assert metrics(run)["status"] == "failed" and not (run / "checkpoints").exists()


def test_shared_reading_code_names_fifos_for_predict_and_csvs(tmp_path):
    """N27/N28: predict.py reads through the same code (find_bad_files, load_cadence, read_id_table): a FIFO
    is refused at once with what it is, never opened."""
    from seti.data.layout import CadenceDataError, load_cadence, read_id_table

    fifo, csv = tmp_path / "0" / "0123456789abcde.npy", tmp_path / "sample_submission.csv"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    os.mkfifo(csv)
    assert "is a FIFO (named pipe), not a regular file" in find_bad_files([fifo], full=True)[0]
    with pytest.raises(CadenceDataError, match="is a FIFO"):
        load_cadence(fifo)
    with pytest.raises(CadenceDataError, match=f"{csv} is a FIFO .*data.root must hold the real"):
        read_id_table(csv, require_binary_target=False)


def test_sigterm_during_a_slow_startup_check_exits_143_and_is_recorded(synth_copy, tmp_path):
    """N26: SIGTERM while the up-front file check runs (here data.check=full over 100,000 test cadences, all
    links to one file: minutes of reading) ends the run within seconds with 143 and an ``interrupted``
    record. A pool that finishes its queue first (the old ThreadPoolExecutor) would take minutes."""
    real_file = next(synth_copy.glob("test/*/*.npy"))
    folder = synth_copy / "test" / "0"
    folder.mkdir(exist_ok=True)
    ids = [f"{i:015x}" for i in range(100_000)]
    for cadence_id in ids:
        (folder / f"{cadence_id}.npy").symlink_to(real_file)
    (synth_copy / "test_labels.csv").write_text("id,target\n" + "".join(f"{i},0\n" for i in ids))
    run = tmp_path / "run"
    proc = start_train(overrides(synth_copy, run, "trainer.max_epochs=1", "data.check=full"), tmp_path)
    watched = psutil.Process(proc.pid)
    deadline = time.time() + 300
    target = str(real_file.resolve())  # what /proc shows for a link being read
    while time.time() < deadline:  # until it reads the test files
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        try:
            if any(f.path == target for f in watched.open_files()):
                break
        except psutil.Error:
            pass
        time.sleep(0.02)
    signalled = time.time()
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert time.time() - signalled < 90
    m = metrics(run)
    assert m["status"] == "interrupted" and "SIGTERM" in m["error"]


# ---- GPU slot pool ----------------------------------------------------------------------------------
def test_gpu_slot_lock_that_cannot_be_opened_names_the_file_and_the_key(tmp_path):
    """N7: a lock file of the pool that cannot be opened (another user's, here a folder in its place) gives
    the file and launcher.lock_dir, not a raw PermissionError; the pool's folder is a config key."""
    from helpers import compose_train

    from seti.training.devices import acquire_slot

    (tmp_path / "gpu0-slot0.lock").mkdir()
    with pytest.raises(PermissionError, match=r"gpu0-slot0.lock: .*launcher.lock_dir=<a folder you own>"):
        acquire_slot(1, 1, tmp_path, timeout_s=1)
    cfg = compose_train(["launcher=gpus", f"launcher.lock_dir={tmp_path}"], hydra=False)
    assert cfg.launcher.lock_dir == str(tmp_path)


# ---- caches -----------------------------------------------------------------------------------------
def test_damaged_synthetic_dataset_is_regenerated_or_refused(tmp_path):
    """A finished synthetic dataset is checked against the record in its synthetic.json when reused: a
    truncated cadence or an edited CSV is regenerated (byte-identical); an unreadable marker is refused."""
    from seti.data.layout import CadenceDataError
    from seti.data.synthetic import ensure_dataset

    root = tmp_path / "set"
    ensure_dataset(root, n=6, test_n=2, positive_rate=0.5, seed=3, progress=False)
    cadence = next(root.glob("train/*/*.npy"))
    original, labels = cadence.read_bytes(), (root / "train_labels.csv").read_bytes()
    cadence.write_bytes(original[:1000])
    (root / "train_labels.csv").write_bytes(labels.replace(b",1\n", b",0\n"))
    ensure_dataset(root, n=6, test_n=2, positive_rate=0.5, seed=3, progress=False)
    assert cadence.read_bytes() == original and (root / "train_labels.csv").read_bytes() == labels
    (root / "synthetic.json").write_text("{not json")
    with pytest.raises(CadenceDataError, match="synthetic.json is not readable JSON"):
        ensure_dataset(root, n=6, test_n=2, positive_rate=0.5, seed=3, progress=False)
