"""seti.bench: the ``gpu`` run in tiny mode (the CPU variant CI runs), each measurement on its runs, and the
CLI running every subcommand at tiny size.

No timing is asserted. What is: every field is there; counts equal what was asked (cadences scored,
samples timed); each ratio is computed from the baseline of the same run; the projection follows from the
measured rates; the docs section is replaced without touching the rest of the file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from helpers import offline_env, run_script

OTHER_DOCS = "# Benchmarks measured here\n\nKeep this paragraph.\n\n"
LATER_DOCS = "## Prediction path\n\nAnd this one.\n"


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> dict:
    """One tiny ``gpu`` run, in this process: its JSON, docs file, data root and a finished run directory."""
    from seti.bench.gpu import run_gpu

    tmp = tmp_path_factory.mktemp("bench")
    docs = tmp / "benchmarks.md"
    docs.write_text(
        OTHER_DOCS + "<!-- benchmark:gpu:start -->\nan older run\n<!-- benchmark:gpu:end -->\n\n" + LATER_DOCS
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SETI_HOME", str(tmp))
        # a budget no loaded CI machine runs out of: every phase must run for the assertions below
        returned = run_gpu(tiny=True, json_path=tmp / "bench.json", docs=docs, work_dir=tmp / "work", budget_s=3600)
    results = json.loads((tmp / "bench.json").read_text())
    reference = results["models"]["tiny"]["runs"][str(results["settings"]["ladder"][0])]["train_path"]
    return {
        "json": results,
        "returned": returned,
        "docs": docs,
        "tmp": tmp,
        "root": Path(results["data"]["root"]),
        "run_dir": Path(reference["run_dir"]),
    }


def finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_gpu_tiny_json_has_every_field(bench):
    results = bench["json"]
    assert results["mode"] == "tiny" and results["complete"] is True and finite(results["wall_s"])
    assert results["markdown"] == bench["returned"]["markdown"]
    assert {"device", "cpus", "torch", "date", "gpu_memory_gib"} <= set(results["machine"])
    assert {"models", "image_size", "ladder", "warmup", "steps"} <= set(results["settings"])
    ladder = results["settings"]["ladder"]
    entry = results["models"]["tiny"]
    assert [p["batch"] for p in entry["ladder"]] == ladder[: len(entry["ladder"])] and entry["ladder"]
    assert all(p["status"] == "ok" and finite(p["samples_per_s"]) for p in entry["ladder"])
    for point in entry["ladder"]:  # the rate is the timed steps' samples over their seconds
        steps = results["settings"]["steps"]
        assert point["samples_per_s"] == pytest.approx(point["batch"] * steps / point["seconds"])
    best = max(entry["ladder"], key=lambda p: p["samples_per_s"])
    assert entry["best_batch"] in [p["batch"] for p in entry["ladder"]]
    assert str(ladder[0]) in entry["runs"] and str(entry["best_batch"]) in entry["runs"]
    assert best["samples_per_s"] >= entry["ladder"][0]["samples_per_s"]
    for batch, run_entry in entry["runs"].items():
        path = run_entry["train_path"]
        assert path["status"] == "finished" and path["batch"] == int(batch)
        assert finite(path["samples_per_s"]) and finite(path["meter_samples_per_s"]) and finite(run_entry["ratio"])
        assert run_entry["bare"]["batch"] == int(batch)  # the baseline of the same batch, from this run's ladder
        assert run_entry["ratio"] == pytest.approx(path["samples_per_s"] / run_entry["bare"]["samples_per_s"])
        assert path["transforms"] in ("workers", "device", "auto") and "peak_memory_gib" in path
        assert (Path(path["run_dir"]) / "metrics.json").is_file()  # a real train.py run directory
    one, ensemble = results["predict"]["one_member_tiny"], results["predict"]["ensemble"]
    assert one["members"] == 1 and one["tta"] == "none" and finite(one["cadences_per_s"])
    assert one["cadences"] == results["settings"]["predict_cadences"]
    assert ensemble["members"] == 6 and ensemble["tta"] == "flip" and finite(ensemble["cadences_per_s"])
    assert ensemble["cadences"] == results["settings"]["ensemble_cadences"]
    assert ensemble["member_cadences_per_s"] == pytest.approx(6 * ensemble["cadences_per_s"])
    assert ensemble["distinct_checkpoints"] == len(entry["runs"])
    assert results["compile"]["tiny"] == {
        "status": "skipped",
        "reason": "only measured on a GPU (compiling takes minutes on a CPU)",
    }
    assert "concurrent jobs with MPS: this script does not start MPS" in "; ".join(results["skipped"])
    assert "| tiny |" in results["markdown"] and "Skipped: " in results["markdown"]


def test_concurrent_jobs_are_real_train_py_runs_against_one_job(bench):
    results = bench["json"]
    entry = results["models"]["tiny"]
    point = results["concurrent"]["tiny_x2"]
    assert point["status"] == "ok" and point["jobs"] == 2 and point["batch"] == entry["best_batch"]
    assert len(point["samples_per_s_each"]) == 2 and all(finite(r) for r in point["samples_per_s_each"])
    assert point["samples_per_s_total"] == pytest.approx(sum(point["samples_per_s_each"]))
    one = entry["runs"][str(entry["best_batch"])]["train_path"]["meter_samples_per_s"]
    assert point["one_job_samples_per_s"] == one and point["speedup"] == pytest.approx(
        point["samples_per_s_total"] / one
    )
    for run_dir in point["run_dirs"]:  # each job is a train.py run directory of its own
        assert json.loads((Path(run_dir) / "metrics.json").read_text())["status"] == "finished"
    best = results["projections"]["founding_study"]["best_batch"]
    if point["speedup"] > 1:  # jobs at once only enter the projection when they beat one job
        assert best["parallel"]["hours"] == pytest.approx(best["hours"] / point["speedup"])
    else:
        assert "parallel" not in best


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
    from seti.bench.gpu import run_gpu

    text = bench["docs"].read_text()
    assert text.startswith(OTHER_DOCS) and text.endswith(LATER_DOCS)
    assert "an older run" not in text and text.count("<!-- benchmark:gpu:start -->") == 1
    assert "## GPU: `python scripts/benchmark.py gpu` (tiny mode)" in text
    run_gpu(from_json=bench["tmp"] / "bench.json", docs=bench["docs"])
    assert bench["docs"].read_text() == text  # re-rendering the same run changes nothing


def test_predict_scores_the_cadences_asked_and_its_ratio_is_of_the_same_run(bench):
    """predict.py's path (predict_ids) vs the scoring ceiling vs reading alone, on one run's checkpoint."""
    from seti.bench.predict import bench_predict, predict_rate
    from seti.inference.members import find_checkpoints, load_members
    from seti.runtime import resolve_device

    result = bench_predict(str(bench["run_dir"]), bench["root"], batch_size=2, n_batches=3, num_workers=0)
    assert result["cadences"] == 6 and result["members"] == 1 and result["device"] == "cpu"
    assert result["ratio"] == result["forward_s"] / result["predict_s"]
    assert result["predict_cadences_per_s"] == pytest.approx(6 / result["predict_s"])
    assert all(finite(result[k]) for k in ("forward_cadences_per_s", "load_cadences_per_s", "ratio"))
    members = load_members(find_checkpoints(bench["run_dir"]))
    cpu = resolve_device("cpu")
    # 7 cadences: more than the 4 test files (cycled) and not a multiple of the batch
    point = predict_rate(members * 2, bench["root"], 7, batch_size=3, tta="flip", device=cpu, num_workers=0)
    assert point["cadences"] == 7 and point["members"] == 2 and point["tta"] == "flip"
    assert point["member_cadences_per_s"] == pytest.approx(2 * 7 / point["seconds"])


def test_train_ratio_is_against_the_bare_loop_of_the_same_run(bench):
    """The train subcommand's function: train.py's path and the bare loop at the same batch; the step clock
    counts exactly the timed steps' samples."""
    from seti.bench import train

    result = train.bench_train(bench["root"], "tiny", 2, 2, (32, 64), 0)
    assert result["ratio_lightning_to_bare"] == result["lightning_samples_per_s"] / result["bare_loop_samples_per_s"]
    assert result["model"] == "tiny" and result["batch_size"] == 2 and result["device"] == "cpu"
    assert train.CLOCKS[-1].samples == 2 * 2  # batch x timed steps, warm-up excluded
    assert finite(result["lightning_wall_s"]) and finite(result["bare_wall_s"])
    # more steps than the fold's batches: the clock times the batches there are instead of giving no rate
    short = train.bench_train(bench["root"], "tiny", 2, 50, (32, 64), 0)
    assert finite(short["lightning_samples_per_s"]) and 0 < train.CLOCKS[-1].samples < 2 * 50


def test_memory_probe_runs_each_model_in_its_own_process():
    """``python -m seti.bench.memory``: a peak per model, and a model that fails is recorded, not raised."""
    from seti.bench.memory import bench_memory

    ok, bad = bench_memory(["tiny", "no_such_model"], 2, (32, 64))
    assert ok["model"] == "tiny" and ok["device"] == "cpu" and finite(ok["peak_mb"])
    assert ok["batch_size"] == 2 and ok["image_size"] == [32, 64]
    assert bad["model"] == "no_such_model" and "no_such_model" in bad["error"]


def test_cli_runs_every_subcommand_at_tiny_size(bench):
    out = bench["tmp"] / "all.json"
    tiny = ["--batch-size", "2", "--batches", "2", "--image-size", "32", "64", "--workers", "0"]
    memory = ["--memory-models", "tiny", "--memory-batch-size", "2", "--memory-image-size", "32", "64"]
    args = ["all", "--root", bench["root"], "--n", "3", *tiny, *memory, "--ckpt", bench["run_dir"], "--json", out]
    proc = run_script("scripts/benchmark.py", list(map(str, args)), bench["tmp"], env=offline_env(bench["tmp"]))
    results = json.loads(out.read_text())
    assert out.read_text() in proc.stdout  # printed and written alike
    assert results["data"]["samples"] == 3
    assert results["data"]["dataset_none_96x128_ratio"] == pytest.approx(
        results["data"]["dataset_none_96x128_per_s"] / results["data"]["np_load_per_s"]
    )
    assert results["train"]["batch_size"] == 2 and [m["model"] for m in results["memory"]] == ["tiny"]
    assert results["predict"]["cadences"] == 2 * 8 and results["predict"]["members"] == 1


def test_cli_refuses_predict_without_a_checkpoint_before_any_work(tmp_path):
    proc = run_script("scripts/benchmark.py", ["all", "--root", str(tmp_path / "none")], tmp_path, check=False)
    assert proc.returncode == 2 and "all needs --ckpt" in proc.stderr


def test_cli_scan_needs_a_checkpoint_and_takes_six_files(tmp_path):
    """`benchmark.py scan` is wired to seti.scan.benchmark: refused without --ckpt before any work, and its
    --cadence takes exactly the six files of an ABACAD cadence (its measurement is tested in test_scan.py)."""
    proc = run_script("scripts/benchmark.py", ["scan"], tmp_path, check=False)
    assert proc.returncode == 2 and "scan needs --ckpt" in proc.stderr
    five = [f"{name}.h5" for name in "ABACA"]
    proc = run_script("scripts/benchmark.py", ["scan", "--ckpt", "x", "--cadence", *five], tmp_path, check=False)
    assert proc.returncode == 2 and "--cadence: expected 6 arguments" in proc.stderr
