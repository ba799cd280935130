"""N train.py jobs on one device at once: how much of the device one job leaves idle. A sweep with
``launcher.jobs_per_gpu`` > 1 runs this way; the sum of the jobs' samples/s against one job's says whether
it pays."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from seti.bench.common import REPO, Settings
from seti.bench.train import train_overrides


def concurrent_jobs(
    model_name: str, batch: int, jobs: int, settings: Settings, root: Path, out_dir: Path, device, timeout_s: float
) -> dict:
    """``jobs`` ``python train.py`` processes started together on :func:`train_overrides`' config; each
    job's rate is its metrics.json ``train_samples_per_s`` (the pipeline's ThroughputMeter, warm-up steps
    included, as for one job's ``meter_samples_per_s``). All are killed when ``timeout_s`` runs out."""
    from seti.rundir import read_metrics

    overrides = train_overrides(model_name, batch, settings, root, device)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    runs = [out_dir / f"job{i}" for i in range(jobs)]
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, str(REPO / "train.py"), *overrides, f"hydra.run.dir={run}"],
            cwd=out_dir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for run in runs
    ]
    try:
        errors = [proc.communicate(timeout=max(1.0, timeout_s - (time.perf_counter() - started)))[1] for proc in procs]
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
            proc.wait()
        return {"status": "error", "jobs": jobs, "batch": batch, "error": f"time budget ({timeout_s:.0f} s) ran out"}
    wall_s = time.perf_counter() - started
    failed = [(i, err) for i, (proc, err) in enumerate(zip(procs, errors)) if proc.returncode != 0]
    if failed:
        i, err = failed[0]
        last = (err.strip().splitlines() or [f"exit code {procs[i].returncode}"])[-1]
        return {"status": "error", "jobs": jobs, "batch": batch, "error": f"job {i}: {last}"}
    records = [read_metrics(run, strict=True) for run in runs]
    rates = [record.train_samples_per_s if record else None for record in records]
    return {
        "status": "ok",
        "jobs": jobs,
        "batch": batch,
        "samples_per_s_each": rates,
        "samples_per_s_total": sum(rates) if all(rates) else None,
        "wall_s": wall_s,
        "run_dirs": [str(run) for run in runs],
    }
