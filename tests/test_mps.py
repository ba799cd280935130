"""launcher.mps: the sweep's CUDA MPS daemon is started once with private folders and quit at the end, when a
job fails and on SIGTERM; jobs_per_gpu=auto picks one job per GPU where MPS cannot run.

``nvidia-cuda-mps-control`` is NVIDIA's binary, not ours: the tests put a small executable of that name on
PATH that records how it was called (start with ``-d``, ``quit`` on stdin) and with which folders.
"""

from __future__ import annotations

import logging
import os
import signal
import stat
import time
from pathlib import Path

import pytest
from helpers import TINY, compose_train, offline_env, real, run_train, start_train
from omegaconf import OmegaConf

from seti.errors import SetiError
from seti.training import devices, mps

FAKE_CONTROL = """#!/bin/sh
if [ "$1" = "-d" ]; then
  echo "start pipe=$CUDA_MPS_PIPE_DIRECTORY log=$CUDA_MPS_LOG_DIRECTORY" >> "$MPS_RECORD"
  exit 0
fi
read command
echo "$command pipe=$CUDA_MPS_PIPE_DIRECTORY" >> "$MPS_RECORD"
"""


@pytest.fixture
def fake_control(tmp_path):
    """(PATH with the recording nvidia-cuda-mps-control first, the record file)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / mps.CONTROL
    script.write_text(FAKE_CONTROL)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}", tmp_path / "mps-record.txt"


def _record(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.is_file() else []


def _sweep_env(home, fake_control):
    path, record = fake_control
    return offline_env(home, PATH=path, MPS_RECORD=str(record), CUDA_MPS_PIPE_DIRECTORY="")


def _assert_started_once_and_quit(record: Path, sweep: Path) -> None:
    lines = _record(record)
    private = (sweep / mps.MPS_DIR).resolve()
    assert lines == [f"start pipe={private / 'pipe'} log={private / 'log'}", f"quit pipe={private / 'pipe'}"], lines
    assert (private / "pipe").is_dir() and (private / "log").is_dir()


SWEEP = ["-m", "launcher=gpus", "launcher.jobs_per_gpu=2", "launcher.mps=true", "logger=csv", "seed=1,2"]


def test_the_sweep_starts_one_daemon_and_quits_it_at_the_end(tmp_path, sample_root, fake_control):
    sweep = tmp_path / "sweep"
    args = [*SWEEP, *real(sample_root), *TINY, "trainer.max_epochs=1", f"hydra.sweep.dir={sweep}"]
    run_train(args, tmp_path, env=_sweep_env(tmp_path, fake_control))
    assert len(list(sweep.glob("*/metrics.json"))) == 2
    _assert_started_once_and_quit(fake_control[1], sweep)


def test_a_failing_job_still_quits_the_daemon(tmp_path, sample_root, fake_control):
    sweep = tmp_path / "sweep"
    args = [*SWEEP, *real(sample_root), *TINY, "data.fold=9", f"hydra.sweep.dir={sweep}"]  # every job refuses
    proc = run_train(args, tmp_path, env=_sweep_env(tmp_path, fake_control), check=False)
    assert proc.returncode != 0
    _assert_started_once_and_quit(fake_control[1], sweep)


def test_sigterm_to_the_launcher_quits_the_daemon(tmp_path, sample_root, fake_control):
    sweep = tmp_path / "sweep"
    args = [*SWEEP, *real(sample_root), *TINY, "trainer.max_epochs=100000", f"hydra.sweep.dir={sweep}"]
    proc = start_train(args, tmp_path, env=_sweep_env(tmp_path, fake_control))
    try:
        deadline = time.monotonic() + 240
        while not list(sweep.glob("*/checkpoints")) and time.monotonic() < deadline:  # jobs are training
            assert proc.poll() is None, proc.communicate()
            time.sleep(1)
        assert _record(fake_control[1])[:1] and len(_record(fake_control[1])) == 1
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    _assert_started_once_and_quit(fake_control[1], sweep)


def test_daemon_exports_its_private_folders_to_the_jobs(tmp_path, fake_control, monkeypatch):
    monkeypatch.setenv("PATH", fake_control[0])
    monkeypatch.setenv("MPS_RECORD", str(fake_control[1]))
    monkeypatch.delenv("CUDA_MPS_PIPE_DIRECTORY", raising=False)
    monkeypatch.delenv("CUDA_MPS_LOG_DIRECTORY", raising=False)
    daemon = mps.MpsDaemon(tmp_path / "sweep" / mps.MPS_DIR)
    daemon.start()
    assert os.environ["CUDA_MPS_PIPE_DIRECTORY"] == str(daemon.pipe_dir)  # inherited by the joblib workers
    assert os.environ["CUDA_MPS_LOG_DIRECTORY"] == str(daemon.log_dir)
    daemon.stop()
    daemon.stop()  # idempotent: the end of the sweep, atexit and SIGTERM may all call it
    assert [line.split()[0] for line in _record(fake_control[1])] == ["start", "quit"]


def test_mps_setting_is_checked_and_true_refuses_without_the_binary(monkeypatch, tmp_path):
    with pytest.raises(SetiError, match="launcher.mps must be auto, true or false"):
        mps.check_setting("sometimes")
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-cuda-mps-control
    monkeypatch.delenv("CUDA_MPS_PIPE_DIRECTORY", raising=False)
    if mps.running_daemon():
        pytest.skip("an MPS daemon runs on this machine")
    assert mps.mps_unavailable_reason(True, gpus=1) == f"{mps.CONTROL} is not on PATH"
    assert mps.mps_unavailable_reason(False, gpus=1) == "launcher.mps=false"
    with pytest.raises(SetiError, match="launcher.mps=true but nvidia-cuda-mps-control is not on PATH"):
        mps.SweepMps().on_multirun_start(
            compose_train(["launcher=gpus", "launcher.jobs_per_gpu=2", "launcher.mps=true"])
        )


def test_auto_jobs_per_gpu_is_one_without_mps_and_says_why(monkeypatch, tmp_path, fake_control, caplog):
    cfg = compose_train(["launcher=gpus", "model=b5", "data.image_size=[512,512]", "data.batch_size=16"])
    auto = OmegaConf.to_container(cfg.launcher.auto)
    monkeypatch.delenv("CUDA_MPS_PIPE_DIRECTORY", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    if mps.running_daemon():
        pytest.skip("an MPS daemon runs on this machine")
    with caplog.at_level(logging.INFO, logger="seti.training.devices"):
        assert devices.resolve_jobs_per_gpu("auto", auto, "b5", 16, [512, 512], free_gib=[139.0]) == 1
    assert "CUDA MPS cannot run" in caplog.text and "data.batch_size=auto" in caplog.text
    monkeypatch.setenv("PATH", fake_control[0])  # with MPS: memory decides (b5 4.7 GiB + 1 GiB per job)
    jobs = devices.resolve_jobs_per_gpu("auto", auto, "b5", 16, [512, 512], free_gib=[139.0])
    assert jobs == max(1, min(int(139 * 0.9 // 5.7), 8, max(1, (os.cpu_count() or 1) // 2)))
    assert devices.resolve_jobs_per_gpu("auto", auto, "b5", "auto", [512, 512], free_gib=[139.0]) == jobs
