"""scripts/benchmark.py gpu in tiny mode (the CPU variant CI runs), and the predict subcommand on its runs.

No timing is asserted: only that every field is there, the numbers are finite, the projection follows
from the measured rates, and the docs section is replaced without touching the rest of the file.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "benchmark.py"
OTHER_DOCS = "# Benchmarks measured here\n\nKeep this paragraph.\n\n"
LATER_DOCS = "## Prediction path\n\nAnd this one.\n"


def run(*args, cwd: Path) -> subprocess.CompletedProcess:
    # The checkout under test first: the script is run by path, so its own directory would come first otherwise.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "WANDB_MODE": "disabled",
        "HF_HUB_OFFLINE": "1",
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("bench")
    docs = tmp / "benchmarks.md"
    docs.write_text(
        OTHER_DOCS + "<!-- benchmark:gpu:start -->\nan older run\n<!-- benchmark:gpu:end -->\n\n" + LATER_DOCS
    )
    proc = run("gpu", "--tiny", "--json", tmp / "bench.json", "--docs", docs, "--work-dir", tmp / "work", cwd=tmp)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return {"json": json.loads((tmp / "bench.json").read_text()), "docs": docs, "tmp": tmp, "stdout": proc.stdout}


def finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_gpu_tiny_json_has_every_field(bench):
    results = bench["json"]
    assert results["mode"] == "tiny" and results["complete"] is True and finite(results["wall_s"])
    assert {"device", "cpus", "torch", "date", "gpu_memory_gib"} <= set(results["machine"])
    assert {"models", "image_size", "ladder", "warmup", "steps"} <= set(results["settings"])
    ladder = results["settings"]["ladder"]
    entry = results["models"]["tiny"]
    assert [p["batch"] for p in entry["ladder"]] == ladder[: len(entry["ladder"])] and entry["ladder"]
    assert all(p["status"] == "ok" and finite(p["samples_per_s"]) for p in entry["ladder"])
    best = max(entry["ladder"], key=lambda p: p["samples_per_s"])
    assert entry["best_batch"] in [p["batch"] for p in entry["ladder"]]
    assert str(ladder[0]) in entry["runs"] and str(entry["best_batch"]) in entry["runs"]
    assert best["samples_per_s"] >= entry["ladder"][0]["samples_per_s"]
    for batch, run_entry in entry["runs"].items():
        path = run_entry["train_path"]
        assert path["status"] == "finished" and path["batch"] == int(batch)
        assert finite(path["samples_per_s"]) and finite(path["meter_samples_per_s"]) and finite(run_entry["ratio"])
        assert run_entry["ratio"] == pytest.approx(path["samples_per_s"] / run_entry["bare"]["samples_per_s"])
        assert path["transforms"] in ("workers", "device", "auto") and "peak_memory_gib" in path
        assert (Path(path["run_dir"]) / "metrics.json").is_file()  # a real train.py run directory
    one, ensemble = results["predict"]["one_member_tiny"], results["predict"]["ensemble"]
    assert one["members"] == 1 and one["tta"] == "none" and finite(one["cadences_per_s"])
    assert ensemble["members"] == 6 and ensemble["tta"] == "flip" and finite(ensemble["cadences_per_s"])
    assert ensemble["member_cadences_per_s"] == pytest.approx(6 * ensemble["cadences_per_s"])
    assert ensemble["distinct_checkpoints"] == len(entry["runs"])
    assert results["compile"]["tiny"]["status"] == "skipped"
    assert "| tiny |" in results["markdown"] and results["markdown"] in bench["stdout"]


def test_projection_follows_from_the_measured_rates(bench):
    """Recomputed here from the study's definition and the JSON's own measurements."""
    results = bench["json"]
    proj = results["projections"]
    assert proj["stand_in"] == "tiny" and "augs x folds" in proj["formula"]
    founding = proj["founding_study"]["study"]
    assert (founding["models"], founding["augs"], founding["folds"], founding["epochs"]) == (
        ["b1", "b3", "b5"],
        ["none", "strong"],
        4,
        5,
    )
    assert (founding["train_cadences"], founding["val_cadences"]) == (45_000, 15_000)
    study = proj["augmentation_study"]["study"]  # read from conf/experiment/augmentation_study.yaml
    assert (study["models"], study["augs"], study["folds"], study["epochs"]) == (
        ["b1", "b3", "b5"],
        ["none", "light", "strong"],
        4,
        8,
    )
    assert (study["train_cadences"], study["val_cadences"]) == (45_000, 15_000)
    entry = results["models"]["tiny"]
    eval_rate = results["predict"]["one_member_tiny"]["cadences_per_s"]
    for name in ("founding_study", "augmentation_study"):
        s = proj[name]["study"]
        for label, batch in (
            ("reference_batch", results["settings"]["ladder"][0]),
            ("best_batch", entry["best_batch"]),
        ):
            train_rate = entry["runs"][str(batch)]["train_path"]["samples_per_s"]
            one_job = (
                s["epochs"] * (s["train_cadences"] / train_rate + s["val_cadences"] / eval_rate)
                + s["val_cadences"] / eval_rate
            )
            expected = len(s["augs"]) * s["folds"] * len(s["models"]) * one_job / 3600
            assert proj[name][label]["hours"] == pytest.approx(expected, rel=1e-9)


def test_docs_section_replaced_and_the_rest_kept(bench):
    text = bench["docs"].read_text()
    assert text.startswith(OTHER_DOCS) and text.endswith(LATER_DOCS)
    assert "an older run" not in text and text.count("<!-- benchmark:gpu:start -->") == 1
    assert "## GPU: `python scripts/benchmark.py gpu` (tiny mode)" in text
    proc = run("gpu", "--from-json", bench["tmp"] / "bench.json", "--docs", bench["docs"], cwd=bench["tmp"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert bench["docs"].read_text() == text  # re-rendering the same run changes nothing


def test_predict_benchmark_on_a_run_of_the_gpu_benchmark(bench):
    """The predict subcommand's function, called in this process (a second interpreter would cost more than
    the measurement): predict.py's path vs the bare forward pass vs reading alone."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("seti_benchmark_script", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = script  # dataclasses look their module up there
    spec.loader.exec_module(script)
    results = bench["json"]
    run_dir = results["models"]["tiny"]["runs"][str(results["settings"]["ladder"][0])]["train_path"]["run_dir"]
    predict = script.bench_predict(run_dir, Path(results["data"]["root"]), batch_size=2, n_batches=3, num_workers=0)
    assert predict["cadences"] == 6 and predict["members"] == 1 and predict["device"] in ("cpu", "cuda")
    assert all(
        finite(predict[k]) for k in ("predict_cadences_per_s", "forward_cadences_per_s", "load_cadences_per_s", "ratio")
    )
