"""Tests for predict.py / seti.inference.predict on the real Kaggle sample, with tiny models trained here.

Two tiny runs (folds 0 and 1 of 2) are trained in process once for the module, side by side in one folder:
a sweep as predict.py sees it (an ensemble, a K-fold for OOF, and single runs). The three CLI calls start
together as soon as they exist and run while the library tests do.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import have_sample, needs_sample
from helpers import (
    CONF,
    SAMPLE_ROOT,
    TINY,
    compose_predict,
    compose_train,
    real,
    run_predict,
    start_script,
    train_in_process,
)
from omegaconf import OmegaConf, open_dict

from seti.checkpoints import CheckpointLoadError
from seti.data.layout import CadenceDataError, cadence_path, read_id_table
from seti.inference import (
    PredictError,
    PredictSettings,
    ScoringOptions,
    blend,
    find_checkpoints,
    load_member,
    load_members,
    out_of_fold,
    predict_ids,
    rank01,
)
from seti.inference.engine import PASS_PHASES
from seti.inference.predict import predict
from seti.rundir import CONFIG_YAML

pytestmark = needs_sample
SAMPLE = SAMPLE_ROOT


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """Two real tiny runs on the sample (3 validation ids per fold), as one sweep directory's jobs."""
    sweep_dir = tmp_path_factory.mktemp("train") / "sweep"
    for fold in (0, 1):
        run_dir = sweep_dir / f"data.fold-{fold}"
        overrides = [*real(SAMPLE, folds=2), f"data.fold={fold}", *TINY, "trainer.max_epochs=1", "logger=csv"]
        metrics = train_in_process(overrides, run_dir)
        assert metrics["status"] == "finished", metrics
        # the composed config, where Hydra's job runner writes it (train_in_process calls the task directly)
        (run_dir / CONFIG_YAML).parent.mkdir()
        OmegaConf.save(compose_train(overrides, output_dir=run_dir, hydra=False), run_dir / CONFIG_YAML)
    return sweep_dir


@pytest.fixture(scope="module")
def runs(sweep) -> list[Path]:
    """The sweep's run directories, ordered by fold."""
    dirs = [p.parent for p in sweep.rglob("metrics.json")]
    assert len(dirs) == 2
    return sorted(dirs, key=lambda d: json.loads((d / "metrics.json").read_text())["fold"])


class CliJobs:
    """The slow CLI calls, started together as soon as the models exist; the library tests run while
    they do, and ``jobs[name]`` waits for one (the CLI tests come last in this file)."""

    def __init__(self, jobs: dict[str, list[str]], out: Path) -> None:
        self.out, self.results = out, {}
        self.procs = {
            name: start_script(
                "predict.py",
                [f"data.root={SAMPLE}", "num_workers=0", f"hydra.run.dir={out / name / 'log'}", *args],
                out,
                stdout=subprocess.PIPE,
            )
            for name, args in jobs.items()
        }

    def __getitem__(self, name: str) -> dict:
        if name not in self.results:
            proc = self.procs[name]
            stdout, stderr = proc.communicate(timeout=600)
            assert proc.returncode == 0, f"{name}: {stderr[-3000:]}"
            self.results[name] = {"stdout": stdout, "dir": self.out / name}
        return self.results[name]

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


@pytest.fixture(scope="module", autouse=True)
def cli(request, tmp_path_factory):
    """Train (once), then start the CLI calls: a checkpoint file, the sweep with rank blend + OOF, and the
    same two runs as a list."""
    if not have_sample():
        yield None
        return
    runs, sweep = request.getfixturevalue("runs"), request.getfixturevalue("sweep")
    out = tmp_path_factory.mktemp("cli")
    jobs = CliJobs(
        {
            "file": [f"ckpt={runs[0] / 'checkpoints' / 'best.ckpt'}", f"output={out / 'file' / 'sub.csv'}"],
            "sweep": [f"ckpt={sweep}", f"output={out / 'sweep' / 'sub.csv'}", "blend=rank", "oof=true"],
            "list": [f"ckpt=[{runs[0]},{runs[1]}]", f"output={out / 'list' / 'sub.csv'}", "blend=rank"],
        },
        out,
    )
    yield jobs
    jobs.stop()


@pytest.fixture(scope="module")
def root_copy(tmp_path_factory) -> Path:
    """A private copy of the sample, for tests that break it."""
    root = tmp_path_factory.mktemp("root") / "kaggle"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("*_full.csv"))
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


def _cfg(ckpt, output, **values):
    """predict.py's composed config (conf/predict.yaml) with these keys set, as on its command line."""
    ckpt = [str(c) for c in ckpt] if isinstance(ckpt, (list, tuple)) else str(ckpt)
    root = str(values.pop("root", SAMPLE))
    return compose_predict({"ckpt": ckpt, "data": {"root": root}, "output": str(output), "num_workers": 0, **values})


def _check_submission(path: Path) -> pd.DataFrame:
    expected = pd.read_csv(SAMPLE / "sample_submission.csv", dtype={"id": str})
    assert path.read_text().splitlines()[0] == "id,target"
    frame = pd.read_csv(path, dtype={"id": str})
    assert len(frame) == 2 and frame["id"].tolist() == expected["id"].tolist()
    assert frame["target"].between(0, 1).all() and frame["target"].notna().all()
    return frame


@pytest.mark.parametrize("override", ["data.image_size=[32,32]", "data.panels=on", "+data=kaggle"])
def test_cli_refuses_preprocessing_override(override, tmp_path):
    args = ["ckpt=x", f"data.root={SAMPLE}", f"output={tmp_path / 's.csv'}", override]
    proc = run_predict(args, tmp_path, check=False, timeout=120)
    assert proc.returncode == 2
    assert "preprocessing comes from the checkpoint" in proc.stderr
    assert override.split("=")[0].lstrip("+") in proc.stderr
    assert not (tmp_path / "s.csv").exists()


# ================================================================================= library
def test_run_dir_matches_checkpoint_file_and_flip_differs(runs, tmp_path):
    predict(_cfg(runs[0] / "checkpoints" / "best.ckpt", tmp_path / "file.csv"))
    from_file = _check_submission(tmp_path / "file.csv")
    summary = predict(_cfg(runs[0], tmp_path / "run.csv"))
    assert summary["members"] == [runs[0].name]
    assert np.allclose(_check_submission(tmp_path / "run.csv")["target"], from_file["target"], atol=1e-6)
    predict(_cfg(runs[0], tmp_path / "flip.csv", tta="flip"))
    flipped = _check_submission(tmp_path / "flip.csv")
    assert not np.allclose(flipped["target"], from_file["target"])


def test_sweep_mean_blend(sweep, tmp_path):
    summary = predict(_cfg(sweep, tmp_path / "mean.csv"))
    assert len(summary["members"]) == 2 and summary["groups"] == 1
    members = pd.read_csv(tmp_path / "mean.members.csv", dtype={"id": str})
    assert np.allclose(_check_submission(tmp_path / "mean.csv")["target"], members.iloc[:, 1:].mean(axis=1))


def test_oof_repredicted_equals_training_val_predictions(sweep):
    """Re-predicting each fold from ROOT/train reproduces train.py's own validation predictions exactly."""
    members = load_members(find_checkpoints(sweep))
    labels = read_id_table(SAMPLE / "train_labels.csv", require_binary_target=True)
    options = PredictSettings.from_config(_cfg(sweep, "unused.csv")).scoring()
    reused = out_of_fold(members, SAMPLE, labels, options)
    again = out_of_fold(members, SAMPLE, labels, options, reuse_val_predictions=False)
    assert [r["source"] for r in reused["per_run"]] == ["val_predictions.csv"] * 2
    assert all(r["source"].startswith("re-predicted") for r in again["per_run"])
    assert np.allclose(reused["frame"]["pred"], again["frame"]["pred"], atol=1e-5)
    assert reused["uncovered"] == []
    # the OOF AUROC is the AUROC of the assembled frame: Mann-Whitney by hand, every positive-negative pair
    frame = reused["frame"].merge(labels, on="id", suffixes=("", "_label"))
    assert (frame["target"] == frame["target_label"]).all() and len(frame) == len(labels)
    pos = frame.loc[frame["target"] == 1, "pred"].to_numpy()
    neg = frame.loc[frame["target"] == 0, "pred"].to_numpy()
    by_hand = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert reused["auroc"] == pytest.approx(by_hand, abs=1e-12)


def test_oof_of_one_fold_reports_uncovered_ids(runs, tmp_path, capsys):
    summary = predict(_cfg(runs[0], tmp_path / "one.csv", oof=True))
    assert summary["oof_covered"] == 3 and len(summary["oof_uncovered"]) == 3
    assert "not covered by any fold" in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "one.oof.csv")) == 3


def _unfinished_sweep(sweep: Path, tmp_path: Path) -> Path:
    """A copy of the sweep beside a failed job, a job killed after its first checkpoint (no metrics.json) and
    one killed before it (only Hydra's config): the reliability probe's N17 sweep."""
    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy)
    failed = copy / "failed"
    shutil.copytree(sweep / "data.fold-0", failed)
    metrics = json.loads((failed / "metrics.json").read_text())
    (failed / "metrics.json").write_text(json.dumps(metrics | {"status": "failed", "error": "RuntimeError: boom"}))
    killed = copy / "killed"
    shutil.copytree(sweep / "data.fold-1", killed)
    (killed / "metrics.json").unlink()
    starting = copy / "starting"
    (starting / CONFIG_YAML).parent.mkdir(parents=True)
    shutil.copy(sweep / "data.fold-1" / CONFIG_YAML, starting / CONFIG_YAML)
    return copy


def test_sweep_with_unfinished_runs_is_refused_naming_each(sweep, tmp_path, caplog):
    """N17: a failed job, a running or killed one (no metrics.json) and one that has written only its config
    are all named; nothing is left out silently, and allow_unfinished=true ensembles the finished runs."""
    copy = _unfinished_sweep(sweep, tmp_path)
    with pytest.raises(PredictError, match=r"3 of 5 run\(s\) did not finish") as err:
        predict(_cfg(copy, tmp_path / "s.csv"))
    message = str(err.value)
    assert "failed (did not finish (status 'failed': RuntimeError: boom))" in message
    assert "killed (has no metrics.json: it is still running, or was killed" in message
    assert "starting (has no metrics.json" in message and "allow_unfinished=true" in message
    assert not (tmp_path / "s.csv").exists()
    with caplog.at_level(logging.WARNING):
        summary = predict(_cfg(copy, tmp_path / "s.csv", allow_unfinished=True))
    assert summary["members"] == ["data.fold-0", "data.fold-1"]
    assert all(f"leaving out run {name} (" in caplog.text for name in ("failed", "killed", "starting"))


def test_unfinished_run_dir_is_refused_like_a_failed_one(sweep, tmp_path, caplog):
    """N18/N19: a run directory with no metrics.json (running or killed) is refused as a failed one is;
    allow_unfinished=true uses its checkpoint as it is now, with a warning."""
    copy = _unfinished_sweep(sweep, tmp_path)
    with pytest.raises(PredictError, match=r"run .*killed has no metrics.json: it is still running"):
        find_checkpoints(copy / "killed")
    with pytest.raises(PredictError, match=r"run .*failed did not finish \(status 'failed': RuntimeError: boom\)"):
        find_checkpoints(copy / "failed")
    with pytest.raises(PredictError, match=r"run .*starting has no metrics.json"):
        find_checkpoints(copy / "starting")
    with caplog.at_level(logging.WARNING):
        specs = find_checkpoints(copy / "killed", allow_unfinished=True)
    assert [s.ckpt_path for s in specs] == [copy / "killed" / "checkpoints" / "best.ckpt"]
    assert "killed has no metrics.json" in caplog.text and "as it is now (allow_unfinished=true)" in caplog.text
    only_failed = tmp_path / "only_failed"
    shutil.copytree(copy / "failed", only_failed / "failed")
    with pytest.raises(PredictError, match="no finished run"):
        find_checkpoints(only_failed, allow_unfinished=True)


def test_a_list_of_runs_equals_the_folder_holding_them(runs, tmp_path):
    """ckpt=[run_a,run_b] is the same 2-member ensemble as ckpt=<a folder holding both> (the old workaround)."""
    folder = tmp_path / "folder"
    for run in runs:
        shutil.copytree(run, folder / run.name)
    for method in ("mean", "rank"):
        listed = predict(_cfg(list(runs), tmp_path / f"list-{method}.csv", blend=method))
        pooled = predict(_cfg(folder, tmp_path / f"folder-{method}.csv", blend=method))
        assert listed["members"] == pooled["members"] == [r.name for r in runs]
        for suffix in (".csv", ".members.csv"):
            a, b = tmp_path / f"list-{method}{suffix}", tmp_path / f"folder-{method}{suffix}"
            assert a.read_bytes() == b.read_bytes()


def test_a_list_may_mix_files_runs_and_sweeps(runs, sweep, tmp_path):
    """Members come in the order given; a name that repeats gets its position as a prefix."""
    summary = predict(_cfg([runs[1] / "checkpoints" / "best.ckpt", sweep], tmp_path / "mix.csv"))
    assert summary["members"] == ["0:data.fold-1", "1:data.fold-0", "2:data.fold-1"]
    with pytest.raises(PredictError, match=r"ckpt=\[\] names no checkpoint"):
        predict(_cfg([], tmp_path / "none.csv"))


# ================================================================================= any model: the dedoppler
@pytest.fixture(scope="module")
def dedoppler_run(tmp_path_factory) -> Path:
    """A model=dedoppler run on the sample: validation only, nothing trained; it saves checkpoints/best.ckpt."""
    run = tmp_path_factory.mktemp("dedoppler") / "run"
    overrides = [*real(SAMPLE, folds=2), "model=dedoppler", "data.num_workers=0", "data.batch_size=4", "logger=csv"]
    metrics = train_in_process([*overrides, "test_after_fit=false"], run)
    assert metrics["status"] == "finished", metrics
    assert (run / "checkpoints" / "best.ckpt").is_file()
    return run


def _dedoppler_probabilities(root: Path, ids: list[str]) -> np.ndarray:
    """sigmoid(score / scale) from DedopplerScorer on the raw cadences, with conf/model/dedoppler.yaml's values."""
    from seti.baselines.dedoppler import DedopplerScorer

    model = OmegaConf.to_container(OmegaConf.load(CONF / "model" / "dedoppler.yaml"))
    raw = np.stack([np.load(cadence_path(root, "test", i), allow_pickle=False) for i in ids])
    scores = DedopplerScorer(**model["scorer"])(raw)
    return 1.0 / (1.0 + np.exp(-scores.astype(np.float64) / float(model["scale"])))


def test_dedoppler_run_through_predict(dedoppler_run, tmp_path):
    """The checkpoint's model config (its _target_) rebuilds the DedopplerModule: the submission holds the
    scorer's own probabilities for the raw test cadences."""
    summary = predict(_cfg(dedoppler_run, tmp_path / "dd.csv"))
    assert summary["members"] == [dedoppler_run.name] and summary["groups"] == 1
    sub = _check_submission(tmp_path / "dd.csv")
    expected = _dedoppler_probabilities(SAMPLE, sub["id"].tolist())
    np.testing.assert_allclose(sub["target"], expected, rtol=1e-6, atol=1e-7)
    assert not np.allclose(expected, 0.5)  # real scores, not a constant


def test_ensemble_of_a_cnn_and_the_dedoppler(runs, dedoppler_run, tmp_path):
    """Two models of different classes and preprocessing in one sweep directory: two groups, one pass."""
    sweep = tmp_path / "mixed"
    shutil.copytree(runs[0], sweep / "cnn")
    shutil.copytree(dedoppler_run, sweep / "dedoppler")
    summary = predict(_cfg(sweep, tmp_path / "ens.csv"))
    assert summary["members"] == ["cnn", "dedoppler"] and summary["groups"] == 2
    assert summary["cadences_read"] == 2  # each test file read once for both groups
    sub = _check_submission(tmp_path / "ens.csv")
    members = pd.read_csv(tmp_path / "ens.members.csv", dtype={"id": str})
    predict(_cfg(runs[0], tmp_path / "cnn.csv"))
    cnn = _check_submission(tmp_path / "cnn.csv")
    np.testing.assert_allclose(members["cnn"], cnn["target"], atol=1e-6)
    np.testing.assert_allclose(members["dedoppler"], _dedoppler_probabilities(SAMPLE, sub["id"].tolist()), rtol=1e-6)
    np.testing.assert_allclose(sub["target"], (members["cnn"] + members["dedoppler"]) / 2)


def test_a_dedoppler_checkpoint_from_before_meta_still_loads(dedoppler_run, tmp_path):
    """Runs made before model.meta wrote fitted_on beside the constructor's arguments: it is left out."""

    def legacy(checkpoint):
        model = checkpoint["seti_config"]["model"]
        model["fitted_on"] = model.pop("meta")["fitted_on"]

    path = _edited_checkpoint(dedoppler_run / "checkpoints" / "best.ckpt", tmp_path / "legacy.ckpt", legacy)
    member = load_member(find_checkpoints(path)[0])
    assert member.model.scale == 10.0 and member.preprocess.in_chans == 6


def test_model_config_is_checked_before_anything_is_built(runs, tmp_path):
    source = runs[0] / "checkpoints" / "best.ckpt"
    no_target = _edited_checkpoint(source, tmp_path / "nt.ckpt", lambda c: c["seti_config"]["model"].pop("_target_"))
    with pytest.raises(CheckpointLoadError, match=r"nt.ckpt has no seti_config.model._target_"):
        load_member(find_checkpoints(no_target)[0])
    planted = _edited_checkpoint(
        source, tmp_path / "planted.ckpt", lambda c: c["seti_config"]["model"].update(_target_="os.system")
    )
    with pytest.raises(CheckpointLoadError, match=r"planted.ckpt: .*'os.system' is not a torch.nn.Module class"):
        load_member(find_checkpoints(planted)[0])
    nested = _edited_checkpoint(
        source,
        tmp_path / "nested.ckpt",
        lambda c: c["seti_config"]["model"].update(loss={"_target_": "subprocess.Popen", "args": ["true"]}),
    )
    with pytest.raises(CheckpointLoadError, match=r"seti_config.model.loss._target_ = 'subprocess.Popen' is not"):
        load_member(find_checkpoints(nested)[0])
    missing = _edited_checkpoint(
        source, tmp_path / "gone.ckpt", lambda c: c["seti_config"]["model"].update(_target_="seti.nowhere.Model")
    )
    with pytest.raises(CheckpointLoadError, match=r"gone.ckpt: .*'seti.nowhere.Model' cannot be imported"):
        load_member(find_checkpoints(missing)[0])


# ================================================================================= bad input
def test_missing_test_file_and_submission(runs, root_copy, tmp_path):
    test_ids = pd.read_csv(root_copy / "sample_submission.csv", dtype={"id": str})["id"].tolist()
    victim = root_copy / "test" / test_ids[1][0] / f"{test_ids[1]}.npy"
    victim.rename(victim.with_suffix(".bak"))
    try:
        with pytest.raises(CadenceDataError, match=rf"1 of 2 test .*{test_ids[1]}"):
            predict(_cfg(runs[0], tmp_path / "s.csv", root=root_copy))
    finally:
        victim.with_suffix(".bak").rename(victim)
    (root_copy / "sample_submission.csv").rename(root_copy / "moved.csv")
    try:
        with pytest.raises(CadenceDataError, match="missing .*sample_submission.csv"):
            predict(_cfg(runs[0], tmp_path / "s.csv", root=root_copy))
    finally:
        (root_copy / "moved.csv").rename(root_copy / "sample_submission.csv")
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_corrupt_and_missing_checkpoints(runs, tmp_path):
    good = (runs[0] / "checkpoints" / "best.ckpt").read_bytes()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good[: len(good) // 2])
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint at all" * 10)
    for path in (truncated, garbage):
        with pytest.raises(CheckpointLoadError, match=rf"{path.name}.*(corrupt|unreadable)"):
            predict(_cfg(path, tmp_path / "s.csv"))
    with pytest.raises(PredictError, match="does not exist"):
        predict(_cfg(tmp_path / "nowhere", tmp_path / "s.csv"))
    assert not (tmp_path / "s.csv").exists()


def _edited_checkpoint(source: Path, target: Path, edit) -> Path:
    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    edit(checkpoint)
    torch.save(checkpoint, target)
    return target


def test_checkpoint_without_seti_config(runs, tmp_path):
    path = _edited_checkpoint(
        runs[0] / "checkpoints" / "best.ckpt", tmp_path / "plain.ckpt", lambda c: c.pop("seti_config")
    )
    with pytest.raises(CheckpointLoadError, match=r"plain.ckpt has no seti_config"):
        predict(_cfg(path, tmp_path / "s.csv"))


def test_state_dict_of_another_input_shape(runs, tmp_path):
    """A 1-channel (stacked) model's weights described as a 3-channel (ON panels as channels) model."""

    def to_three_channels(checkpoint):
        checkpoint["hyper_parameters"]["in_chans"] = 3
        checkpoint["seti_config"]["data"]["panels"] = "on"
        checkpoint["seti_config"]["data"]["layout"] = "channels"

    path = _edited_checkpoint(runs[0] / "checkpoints" / "best.ckpt", tmp_path / "other.ckpt", to_three_channels)
    with pytest.raises(
        CheckpointLoadError,
        match=r"other.ckpt does not fit .*conv_stem.weight: checkpoint \(\d+, 1, 3, 3\) vs model \(\d+, 3, 3, 3\)",
    ):
        load_member(find_checkpoints(path)[0])
    inconsistent = _edited_checkpoint(
        runs[0] / "checkpoints" / "best.ckpt",
        tmp_path / "mixed.ckpt",
        lambda c: c["seti_config"]["data"].update(layout="channels"),
    )
    with pytest.raises(CheckpointLoadError, match=r"mixed.ckpt.*gives 6 channel\(s\) but its model takes in_chans=1"):
        load_member(find_checkpoints(inconsistent)[0])


def test_existing_output_needs_overwrite(runs, tmp_path):
    output = tmp_path / "sub.csv"
    output.write_text("keep me\n")
    with pytest.raises(PredictError, match="already exist.*overwrite=true"):
        predict(_cfg(runs[0], output))
    assert output.read_text() == "keep me\n"
    predict(_cfg(runs[0], output, overwrite=True))
    _check_submission(output)


def test_settings_refuse_preprocessing_keys_and_bad_values():
    cfg = _cfg("x", "y.csv")
    with open_dict(cfg):  # as `+data.image_size=...` would add it, had check_overrides not refused it already
        cfg.data.image_size = [8, 8]
    with pytest.raises(PredictError, match="data.image_size.*preprocessing comes from the checkpoint"):
        PredictSettings.from_config(cfg)
    for key, value, message in [
        ("tta", "rotate", r"tta must be one of \['none', 'flip'\]"),
        ("transforms", "gpu", "transforms must be one of"),
        ("channels_last", "nhwc", "channels_last must be true, false or auto"),
        ("check", "none", r"check must be one of \['header', 'full'\]"),
        ("allow_unfinished", "yes", "allow_unfinished must be true or false"),
        ("device", "tpu", "device=tpu is not a device torch knows"),
        ("compile", "max", "compile must be true, false or auto"),
        ("pad_last_batch", "yes", "pad_last_batch must be true or false"),
        ("batch_size", 0, "batch_size must be auto or an integer >= 1"),
        ("batch_size", "big", "batch_size must be auto or an integer >= 1"),
    ]:
        with pytest.raises(PredictError, match=message):
            PredictSettings.from_config(_cfg("x", "y.csv", **{key: value})).scoring()


def test_settings_take_their_defaults_from_conf_predict_yaml_only():
    """PredictSettings has no defaults of its own: a config without conf/predict.yaml's keys is refused."""
    settings = PredictSettings.from_config(_cfg(["a", "b"], "y.csv"))
    conf = OmegaConf.load(CONF / "predict.yaml")
    assert settings.ckpt == (Path("a"), Path("b"))
    for key in ("checkpoint", "allow_unfinished", "overwrite", "check", "tta", "blend", "batch_size", "device"):
        assert getattr(settings, key) == conf[key], key
    with pytest.raises(PredictError, match=r"lacks \['checkpoint', 'allow_unfinished'.*compose\('predict'"):
        PredictSettings.from_config({"ckpt": "x", "data": {"root": "r"}, "output": "y.csv"})
    with pytest.raises(PredictError, match=r"required key\(s\) not set: ckpt .*output"):
        PredictSettings.from_config(compose_predict({"data": {"root": "r"}}))


# ================================================================================= W7: a bad value in a test file
@pytest.fixture
def nan_root(root_copy):
    """The sample with one NaN in its second test cadence, behind a valid .npy header; restored after."""
    cadence_id = read_id_table(root_copy / "sample_submission.csv", require_binary_target=False)["id"][1]
    path = cadence_path(root_copy, "test", cadence_id)
    original = path.read_bytes()
    array = np.load(path, allow_pickle=False)
    array[3, 100, 7] = np.nan
    np.save(path, array)
    yield root_copy, path
    path.write_bytes(original)


def test_check_full_refuses_a_nan_test_file_before_any_model_loads(nan_root, tmp_path):
    root, path = nan_root
    # ckpt does not exist: the refusal comes first, so the test files were read before any checkpoint
    with pytest.raises(CadenceDataError, match=rf"1 of 2 test cadence.*{path.stem}.*1 NaN/inf"):
        predict(_cfg(tmp_path / "no-such-run", tmp_path / "s.csv", root=root, check="full"))
    assert list(tmp_path.iterdir()) == []


def test_check_header_names_the_file_and_check_full_during_inference(nan_root, runs, tmp_path):
    root, path = nan_root
    with pytest.raises(CadenceDataError, match=rf"{path.name} holds 1 NaN/inf.*found during inference.*check=full"):
        predict(_cfg(runs[0], tmp_path / "s.csv", root=root))
    assert list(tmp_path.iterdir()) == []


# ================================================================================= helpers, speed
def test_rank_blend_and_single_member():
    assert np.allclose(rank01(np.array([0.9, 0.1, 0.5, 0.5])), [1.0, 0.0, 0.5, 0.5])
    preds = np.array([[0.2, 0.9], [0.4, 0.1], [0.9, 0.5]])
    assert np.allclose(blend(preds, "mean"), [0.55, 0.25, 0.7])
    assert np.allclose(blend(preds, "rank"), [0.5, 0.25, 0.75])
    assert np.allclose(blend(preds[:, :1], "rank"), preds[:, 0])  # one member keeps its probabilities


# ================================================================================= the batched device path
def _options(**values) -> ScoringOptions:
    """One pass's options from conf/predict.yaml's defaults, on the CPU, with ``values`` set."""
    return PredictSettings.from_config(_cfg("unused", "unused.csv", device="cpu", **values)).scoring()


def _per_sample_reference(member, root: Path, split: str, ids: list[str], tta: str) -> np.ndarray:
    """The earlier predict path, still the one train.py's validation predictions take: each worker
    preprocesses one cadence at a time (CadenceDataset), then the model scores the batch."""
    from torch.utils.data import DataLoader

    from seti.data.dataset import CadenceDataset
    from seti.models.scoring import predict_probabilities

    loader = DataLoader(CadenceDataset(root, split, ids, None, member.preprocess), batch_size=3, shuffle=False)
    indices, probs = predict_probabilities(member.model, loader, "cpu", "32-true", tta)
    assert indices.tolist() == list(range(len(ids)))
    return probs


@pytest.mark.parametrize("tta", ["none", "flip"])
def test_batched_path_equals_per_sample_path_on_the_real_sample(sweep, tta):
    members = load_members(find_checkpoints(sweep))
    ids = read_id_table(SAMPLE / "train_labels.csv", require_binary_target=True)["id"].tolist()
    stats: dict = {}
    options = _options(batch_size=4, tta=tta)
    frame = predict_ids(members, SAMPLE, "train", ids, options, stats=stats)
    assert frame["id"].tolist() == ids and stats["cadences_read"] == len(ids) and stats["batches"] == 2
    assert stats["transforms"] == "workers"  # auto on a CPU (seti.runtime.resolve_transforms), collated in this process
    for member in members:
        np.testing.assert_allclose(
            frame[member.name], _per_sample_reference(member, SAMPLE, "train", ids, tta), atol=1e-5
        )


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    from seti.data.synthetic import ensure_dataset

    return ensure_dataset(
        tmp_path_factory.mktemp("synthetic") / "set",
        n=4,
        test_n=23,
        positive_rate=0.5,
        seed=3,
        workers=1,
        progress=False,
    )


@pytest.mark.parametrize("transforms", ["workers", "device"])
def test_one_pass_scores_every_preprocessing_group_on_synthetic_data(runs, synthetic_root, tmp_path, transforms):
    """Two members with other preprocessing (another image size, no background removal) beside the sweep's
    model: real DataLoader workers read each of 23 synthetic cadences once, in 5 batches (the last one
    partial), preprocess them (workers) or hand them raw to the main process (device), and every member's
    probabilities equal the per-sample path's."""

    def other_preprocessing(checkpoint):
        checkpoint["seti_config"]["data"].update(image_size=[48, 80], background="none")

    edited = _edited_checkpoint(runs[1] / "checkpoints" / "best.ckpt", tmp_path / "other.ckpt", other_preprocessing)
    members = load_members([*find_checkpoints(runs[0]), *find_checkpoints(runs[1]), *find_checkpoints(edited)])
    assert len({m.preprocess for m in members}) == 2
    ids = pd.read_csv(synthetic_root / "sample_submission.csv", dtype={"id": str})["id"].tolist()
    stats: dict = {}
    options = _options(batch_size=5, num_workers=2, tta="flip", transforms=transforms)
    frame = predict_ids(members, synthetic_root, "test", ids, options, stats=stats)
    timing = {phase: stats[phase] for phase in PASS_PHASES}
    assert stats == {
        "batches": 5,
        "cadences_read": 23,
        "pad_rows": 2,  # the last batch of 3 padded to 5
        "channels_last": False,
        "groups": 2,
        "seconds": stats["seconds"],
        "transforms": transforms,
        **timing,
    }
    assert all(t >= 0 for t in timing.values()) and sum(timing.values()) <= stats["seconds"]
    assert list(frame.columns) == ["id", *[m.name for m in members]]
    for member in members:
        reference = _per_sample_reference(member, synthetic_root, "test", ids, "flip")
        np.testing.assert_allclose(frame[member.name], reference, atol=1e-5)
    assert not np.allclose(frame[members[1].name], frame[members[2].name])  # same weights, other preprocessing


# ================================================================================= CLI (last: they wait for the jobs)
def test_cli_checkpoint_file(cli):
    sub = _check_submission(cli["file"]["dir"] / "sub.csv")
    members = pd.read_csv(cli["file"]["dir"] / "sub.members.csv", dtype={"id": str})
    assert members.shape[1] == 2 and np.allclose(members.iloc[:, 1], sub["target"])
    assert "wrote" in cli["file"]["stdout"]
    assert (cli["file"]["dir"] / "log" / "predict.log").is_file()


def test_cli_sweep_rank_blend_and_oof(cli, runs):
    directory = cli["sweep"]["dir"]
    sub = _check_submission(directory / "sub.csv")
    members = pd.read_csv(directory / "sub.members.csv", dtype={"id": str})
    assert members.columns[0] == "id" and members.shape[1] == 3  # two members, named by run dir
    assert set(members.columns[1:]) == {r.name for r in runs}
    assert np.allclose(sub["target"], blend(members.iloc[:, 1:].to_numpy(), "rank"))
    oof = pd.read_csv(directory / "sub.oof.csv", dtype={"id": str})
    labels = read_id_table(SAMPLE / "train_labels.csv", require_binary_target=True)
    assert list(oof.columns) == ["id", "target", "pred"]
    assert sorted(oof["id"]) == sorted(labels["id"])  # 2 folds cover every train id
    assert "OOF AUROC" in cli["sweep"]["stdout"]


def test_cli_list_of_runs_equals_the_sweep(cli, runs):
    """ckpt=[run_a,run_b] on the command line (a Hydra list, left unquoted) gives the sweep's ensemble."""
    listed, pooled = cli["list"]["dir"], cli["sweep"]["dir"]
    assert (listed / "sub.csv").read_bytes() == (pooled / "sub.csv").read_bytes()
    assert (listed / "sub.members.csv").read_bytes() == (pooled / "sub.members.csv").read_bytes()
    assert "(2 rows, 2 member(s))" in cli["list"]["stdout"]
