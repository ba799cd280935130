"""torch.compile and predict's fixed batch shapes, on the real sample with tiny models trained here.

Inductor compiles on the CPU too (gcc), so compiled and eager runs are compared here, on numbers: the same
predictions within a stated tolerance, checkpoints without ``_orig_mod.`` keys, and a compile count that
shows every shape is compiled once (torch._dynamo's counters). Compiling takes tens of seconds on a busy
CPU; the training comparison is marked slow, the predict one runs by default.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import needs_sample
from helpers import (
    SAMPLE_ROOT,
    TINY,
    compose_predict,
    offline_env,
    read_metrics_json,
    real,
    run_script,
    run_train,
    train_in_process,
)

from seti.checkpoints import load_checkpoint_file
from seti.data.layout import read_id_table
from seti.inference import PredictSettings, find_checkpoints, load_members, predict_ids
from seti.inference.predict import PHASES, predict

pytestmark = needs_sample
SAMPLE = SAMPLE_ROOT
#: compiled (inductor) vs eager probabilities of the same weights: float32 kernels fused differently
PREDICT_ATOL = 1e-5
#: compiled vs eager training, same seed, two epochs of a few steps: the rounding differences feed back
#: through the optimiser, so the tolerance is wider than one forward pass's
TRAIN_ATOL = 1e-3


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    """Two tiny runs (folds 0 and 1 of 2) trained without compiling: the members of the predict tests."""
    home = tmp_path_factory.mktemp("train")
    dirs = []
    for fold in (0, 1):
        run_dir = home / f"fold{fold}"
        overrides = [*real(SAMPLE, folds=2), f"data.fold={fold}", *TINY, "trainer.max_epochs=1", "logger=csv"]
        assert train_in_process(overrides, run_dir)["status"] == "finished"
        dirs.append(run_dir)
    return dirs


def _options(**values):
    """One scoring pass's options from conf/predict.yaml on the CPU, with ``values`` set."""
    base = {"ckpt": "unused", "data": {"root": str(SAMPLE)}, "output": "unused.csv", "num_workers": 0, "device": "cpu"}
    return PredictSettings.from_config(compose_predict({**base, **values})).scoring()


def _train_ids() -> list[str]:
    return read_id_table(SAMPLE / "train_labels.csv", require_binary_target=True)["id"].tolist()


def _graphs() -> int:
    """Graphs torch._dynamo has compiled since its counters were last cleared."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def _fresh_dynamo() -> None:
    """Forget every compiled graph and zero the counters, so this test counts only its own compiles."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()


def test_padded_last_batch_scores_equal_unpadded(runs):
    """6 ids in batches of 4: the last batch of 2 is padded to 4 and the pad rows dropped; ids and scores
    equal scoring it as it is (eval mode scores every row on its own)."""
    members = load_members(find_checkpoints(runs[0]))
    ids = _train_ids()
    stats_padded: dict = {}
    padded = predict_ids(members, SAMPLE, "train", ids, _options(batch_size=4), stats=stats_padded)
    plain = predict_ids(members, SAMPLE, "train", ids, _options(batch_size=4, pad_last_batch=False))
    assert stats_padded["pad_rows"] == 2 and len(padded) == len(ids) == 6
    assert padded["id"].tolist() == plain["id"].tolist() == ids
    np.testing.assert_allclose(padded[members[0].name], plain[members[0].name], rtol=0, atol=1e-7)


def test_predict_reports_where_the_time_went(runs, tmp_path):
    """predict() returns and writes <stem>.timing.json: every phase non-negative, all of them no more than
    the wall time, and the same breakdown in the file as in the summary."""
    output = tmp_path / "sub.csv"
    cfg = compose_predict(
        {"ckpt": [str(r) for r in runs], "data": {"root": str(SAMPLE)}, "output": str(output), "num_workers": 0}
    )
    summary = predict(cfg)
    timing = summary["timing"]
    assert json.loads((tmp_path / "sub.timing.json").read_text()) == timing
    assert list(timing["phases"]) == list(PHASES)
    seconds = [phase["seconds"] for phase in timing["phases"].values()]
    assert all(s >= 0 for s in seconds) and timing["other_s"] >= 0
    assert sum(seconds) <= timing["wall_s"] + 1e-3  # rounded to 0.1 ms each
    # The sample's 2 test ids are one batch, and the first batch is the warm-up: its forward pass is timed there,
    # and "forward" holds only the copy back, which can round to 0.
    phases = timing["phases"]
    assert phases["warmup"]["seconds"] > 0 and phases["load_members"]["seconds"] > 0
    assert timing["cadences"] == summary["num_ids"] == len(pd.read_csv(output))
    assert summary["batch_size"] == 64  # batch_size=auto on a CPU


def test_compiled_predict_matches_eager_and_compiles_each_shape_once(runs):
    """compile=true on two members: their probabilities equal the eager ones within PREDICT_ATOL; the two
    members (one architecture, one input shape thanks to the padded last batch) add one compiled graph,
    and a second pass over the same ids compiles nothing more."""
    ids = _train_ids()
    eager = predict_ids(load_members(find_checkpoints(runs)), SAMPLE, "train", ids, _options(batch_size=4))
    _fresh_dynamo()
    members = load_members(find_checkpoints(runs))
    options = _options(batch_size=4, compile=True)
    assert options.compile is True
    compiled = predict_ids(members, SAMPLE, "train", ids, options)
    graphs = _graphs()
    assert 1 <= graphs <= len(members), graphs  # once per member at most (here shared), none for the last batch
    again = predict_ids(members, SAMPLE, "train", ids, options)
    assert _graphs() == graphs  # warmed once: the second pass (e.g. oof=true's) reuses the compiled code
    for member in members:
        assert member.model._compiled_call_impl is not None
        np.testing.assert_allclose(compiled[member.name], eager[member.name], rtol=0, atol=PREDICT_ATOL)
        np.testing.assert_array_equal(again[member.name], compiled[member.name])


def _train(tmp_path: Path, name: str, compile_model: bool) -> Path:
    # 2 folds of the 6 ids: 3 to train (one batch of 2, the partial one dropped), 3 to validate in batches
    # of 2 and 1, so every validation pass ends on a smaller batch. No dropout: compiled code draws its
    # random masks from another generator than eager code, so the two runs would train differently.
    run = tmp_path / name
    overrides = [*real(SAMPLE, folds=2), *TINY, "logger=csv", "model.backbone.drop_rate=0"]
    overrides.append(f"model.compile={str(compile_model).lower()}")
    assert train_in_process(overrides, run)["status"] == "finished"
    return run


@pytest.mark.slow
def test_compiled_training_matches_eager_and_writes_plain_checkpoints(tmp_path):
    """model.compile=true vs false, same seed: validation predictions equal within TRAIN_ATOL; the compiled
    run's checkpoint has no ``_orig_mod.`` keys and loads strictly into an uncompiled model (predict's
    loader), and a validation set ending on a smaller batch adds no graph of its own (padded)."""
    eager = _train(tmp_path, "eager", False)
    _fresh_dynamo()
    compiled = _train(tmp_path, "compiled", True)
    # train mode (forward + backward) and eval mode: one graph each over two epochs, sanity check, the
    # validation predictions and the test pass; an unpadded last validation batch would add a third
    assert _graphs() == 2, _graphs()
    state = load_checkpoint_file(compiled / "checkpoints" / "best.ckpt")["state_dict"]
    assert state and not [k for k in state if "_orig_mod" in k]
    member = load_members(find_checkpoints(compiled))[0]  # load_state_dict(strict=True), compile off
    assert member.model._compiled_call_impl is None and not member.model.compiled
    a = pd.read_csv(eager / "val_predictions.csv", dtype={"id": str}).sort_values("id")
    b = pd.read_csv(compiled / "val_predictions.csv", dtype={"id": str}).sort_values("id")
    assert a["id"].tolist() == b["id"].tolist() and len(a) == 3
    np.testing.assert_allclose(b["pred"], a["pred"], rtol=0, atol=TRAIN_ATOL)


@pytest.mark.slow
def test_compiled_ddp_on_cpu(tmp_path):
    """model.compile=true under DDP (two gloo ranks, each compiling its own copy inside the DDP wrapper):
    the run finishes, every validation id is scored once, and its checkpoint has plain keys."""
    run = tmp_path / "run"
    overrides = [*real(SAMPLE, folds=2), *TINY, "trainer.max_epochs=1", "logger=csv", "model.compile=true"]
    ddp = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", f"hydra.run.dir={run}"]
    run_train([*overrides, *ddp], tmp_path, timeout=1500)  # two ranks compiling at once: minutes on a busy CPU
    assert read_metrics_json(run)["status"] == "finished"
    assert len(pd.read_csv(run / "val_predictions.csv")) == 3  # no padded duplicates, no pad rows
    state = load_checkpoint_file(run / "checkpoints" / "best.ckpt")["state_dict"]
    assert state and not [k for k in state if "_orig_mod" in k]


@pytest.mark.slow
def test_benchmark_compile_prints_ratios_to_the_eager_baseline(runs, tmp_path):
    """``benchmark.py compile`` at tiny size: every figure is there, each ratio is to the same run's eager
    (padded) baseline, and the predict figures scored the cadences asked."""
    out = tmp_path / "compile.json"
    args = ["compile", "--ckpt", runs[0], "--root", SAMPLE, "--batch-size", "2", "--batches", "2"]
    args += ["--image-size", "32", "64", "--json", out]
    proc = run_script("scripts/benchmark.py", list(map(str, args)), tmp_path, env=offline_env(tmp_path))
    result = json.loads(out.read_text())["compile"]
    train, predict_ = result["train"], result["predict"]
    assert train["eager"]["ratio"] == 1.0 and train["compiled"]["compile"] is True
    assert train["compiled"]["ratio"] == pytest.approx(
        train["compiled"]["samples_per_s"] / train["eager"]["samples_per_s"]
    )
    assert predict_["cadences"] % predict_["batch_size"] != 0  # a smaller last batch
    for name in ("eager_padded", "eager_unpadded", "compiled_padded", "compiled_unpadded"):
        point = predict_[name]
        assert point["cadences"] == predict_["cadences"] and point["ratio"] > 0
    assert predict_["compiled_padded"]["pad_last_batch"] and not predict_["eager_unpadded"]["pad_last_batch"]
    assert "compiled_unpadded" in proc.stderr and "x1.00" in proc.stderr
