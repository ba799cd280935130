"""Tests for seti.data.synthetic and scripts/make_synthetic.py (small n; ~30 s on 2 cores)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import offline_env, run_script

from seti.data import synthetic as S
from seti.data.layout import (
    CADENCE_SHAPE,
    LABELS_CSV,
    OFF_PANELS,
    ON_PANELS,
    SUBMISSION_CSV,
    CadenceDataError,
    cadence_path,
    load_cadence,
    read_id_table,
)

ARGS = dict(n=12, test_n=4, positive_rate=0.25, seed=3)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != S.MANIFEST_NAME and not p.name.startswith(".")
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("syn") / "data"
    return S.write_dataset(root, workers=1, progress=False, **ARGS)


def test_layout_is_read_by_the_kaggle_loaders(dataset: Path):
    train = read_id_table(dataset / LABELS_CSV, require_binary_target=True)
    test_labels = read_id_table(dataset / S.TEST_LABELS_CSV, require_binary_target=True)
    submission = read_id_table(dataset / SUBMISSION_CSV, require_binary_target=False)
    assert len(train) == 12 and len(submission) == 4
    assert list(submission["id"]) == list(test_labels["id"])
    assert (submission["target"] == 0.5).all()
    assert int(train["target"].sum()) == round(12 * 0.25)  # exact count of positives
    assert int(test_labels["target"].sum()) == round(4 * 0.25)
    for split, table in (("train", train), ("test", submission)):
        for cadence_id in table["id"]:
            path = cadence_path(dataset, split, cadence_id)
            assert path.parent.name == cadence_id[0]
            cadence = load_cadence(path)
            assert cadence.shape == CADENCE_SHAPE and cadence.dtype == np.float16
            x = cadence.astype(np.float32)
            np.testing.assert_allclose(x.mean(axis=(1, 2)), 0.0, atol=2e-3)
            np.testing.assert_allclose(x.std(axis=(1, 2)), 1.0, atol=2e-3)
    manifest = json.loads((dataset / S.MANIFEST_NAME).read_text())
    assert manifest["n"] == 12 and manifest["seed"] == 3 and manifest["version"] == S.SYNTHETIC_VERSION
    assert S.SyntheticParams.from_dict(manifest["params"]) == S.SyntheticParams()
    assert not (dataset / S.PARTIAL_MANIFEST_NAME).exists()


def test_same_seed_same_bytes_with_two_workers(dataset: Path, tmp_path: Path):
    other = S.write_dataset(tmp_path / "w2", workers=2, progress=False, **ARGS)
    assert _files(other) == _files(dataset)
    changed = S.write_dataset(tmp_path / "s4", n=3, seed=4, progress=False)
    assert not set(_files(changed)) & {k for k in _files(dataset) if k.endswith(".npy")}


def test_positive_differs_from_negative_only_in_on_panels():
    """Needles go into the target panels 0, 2, 4 (A B A C A D, written out by hand) and never into 1, 3, 5."""
    assert (ON_PANELS, OFF_PANELS) == ((0, 2, 4), (1, 3, 5))
    params = S.SyntheticParams()
    touched_on = set()
    for seed in range(8):
        pos = S.generate_cadence(np.random.default_rng(seed), True, params)
        neg = S.generate_cadence(np.random.default_rng(seed), False, params)
        for p in OFF_PANELS:
            assert np.array_equal(pos[p], neg[p]), f"seed {seed}: OFF panel {p} changed"
        on = [p for p in ON_PANELS if not np.array_equal(pos[p], neg[p])]
        assert on, f"seed {seed}: the positive has no needle"
        touched_on.update(on)
    assert touched_on == set(ON_PANELS)


def test_needle_energy_only_in_requested_panels_on_zero_background():
    rng = np.random.default_rng(0)
    params = S.SyntheticParams()
    for panels in (ON_PANELS, (2,), (0, 4)):
        spec = S.sample_needle(rng, params, panels)
        out = np.zeros(CADENCE_SHAPE)
        for p in panels:
            S.render_numpy(spec, p, 1.0, out[p])
        energy = (out**2).sum(axis=(1, 2))
        assert all(energy[p] > 0 for p in panels)
        assert all(energy[p] == 0 for p in range(6) if p not in panels)
        # the path continues through unseen panels: panel p's centre = start + drift * (p * 300 s + t)
        c0, c4 = spec.centers_hz(0)[0], spec.centers_hz(4)[0]
        if not spec.sine_amplitude_hz:
            assert c4 - c0 == pytest.approx(spec.drift_hz_s * 4 * S.PANEL_S)


def test_numpy_renderer_matches_setigen():
    rng = np.random.default_rng(1)
    params = S.SyntheticParams(sine_fraction=0.5)
    frame = S.make_frame(np.random.default_rng(2).normal(10.0, 1.0, (273, 256)))
    for _ in range(12):
        spec = S.sample_needle(rng, params, ON_PANELS)
        for p in range(6):
            ours = np.zeros((273, 256))
            S.render_numpy(spec, p, 2.5, ours)
            np.testing.assert_allclose(ours, S.render_setigen(spec, p, frame, 2.5), atol=1e-8)


def test_engines_agree_and_noise_estimate_is_setigens():
    setigen_cad = S.generate_cadence(np.random.default_rng(11), True, S.SyntheticParams(engine="setigen"))
    numpy_cad = S.generate_cadence(np.random.default_rng(11), True, S.SyntheticParams(engine="numpy"))
    assert np.array_equal(setigen_cad, numpy_cad)
    panel = setigen_cad[0].astype(np.float32)
    assert S.sigma_clipped_std(panel) == pytest.approx(S.make_frame(panel).noise_std, rel=1e-6)


def test_rerun_rewrites_only_missing_or_broken_files(tmp_path: Path):
    root = S.write_dataset(tmp_path / "d", n=5, test_n=1, seed=1, progress=False)
    before = _files(root)
    paths = sorted(root.glob("train/*/*.npy"))
    mtimes = {p: p.stat().st_mtime_ns for p in paths}
    deleted, broken = paths[0], paths[1]
    deleted.unlink()
    broken.write_bytes(broken.read_bytes()[:1000])  # a truncated final file
    stray = broken.with_name(f".{broken.name}.tmp-999-deadbeef")  # what a killed writer leaves
    stray.write_bytes(b"\x93NUMPY half")
    S.write_dataset(root, n=5, test_n=1, seed=1, progress=False)
    assert _files(root) == before
    assert not stray.exists()
    for p in paths[2:]:
        assert p.stat().st_mtime_ns == mtimes[p], f"{p} was rewritten"
    assert json.loads((root / S.MANIFEST_NAME).read_text())["last_run"]["generated"] == 2


def test_half_written_temp_file_is_not_a_cadence(tmp_path: Path):
    root = tmp_path / "d"
    cadence_id = S.synthetic_id(0, "train", 0)
    folder = root / "train" / cadence_id[0]
    folder.mkdir(parents=True)
    (folder / f".{cadence_id}.npy.tmp-1-abcdef12").write_bytes(b"\x93NUMPY")
    S.write_dataset(root, n=1, seed=0, progress=False)
    assert [p.name for p in folder.iterdir()] == [f"{cadence_id}.npy"]
    load_cadence(folder / f"{cadence_id}.npy")


def test_ensure_dataset_reuses_and_refuses(dataset: Path, monkeypatch, tmp_path: Path):
    def boom(*args, **kwargs):
        raise AssertionError("must not regenerate")

    monkeypatch.setattr(S.writer, "write_dataset", boom)  # ensure_dataset calls it from its own module
    assert S.ensure_dataset(dataset, **ARGS) == dataset
    with pytest.raises(CadenceDataError, match="data.root"):
        S.ensure_dataset(dataset, **{**ARGS, "seed": 9})
    with pytest.raises(CadenceDataError, match="snr_range"):
        S.ensure_dataset(dataset, **ARGS, params=S.SyntheticParams(snr_range=(5.0, 20.0)))
    monkeypatch.undo()
    fresh = S.ensure_dataset(tmp_path / "new", n=2, test_n=0, positive_rate=0.5, seed=0, progress=False)
    assert (fresh / S.MANIFEST_NAME).is_file() and len(list(fresh.glob("train/*/*.npy"))) == 2


def test_write_refuses_folder_begun_with_other_settings(tmp_path: Path):
    root = tmp_path / "d"
    root.mkdir()
    key = {
        "version": S.SYNTHETIC_VERSION,
        "n": 7,
        "test_n": 0,
        "positive_rate": 0.2,
        "seed": 0,
        "params": S.SyntheticParams().to_dict(),
    }
    (root / S.PARTIAL_MANIFEST_NAME).write_text(json.dumps(key))
    with pytest.raises(CadenceDataError, match="partly written"):
        S.write_dataset(root, n=5, progress=False)


def test_ids_params_and_argument_checks():
    ids = {S.synthetic_id(0, split, i) for split in ("train", "test") for i in range(5000)}
    assert len(ids) == 10000
    assert all(len(i) == 15 and set(i) <= set("0123456789abcdef") for i in ids)
    assert S.synthetic_id(0, "train", 1) == S.synthetic_id(0, "train", 1) != S.synthetic_id(1, "train", 1)
    params = S.SyntheticParams(snr_range=(5.0, 9.0), profiles=("box",))
    assert S.SyntheticParams.from_dict(json.loads(json.dumps(params.to_dict()))) == params
    with pytest.raises(ValueError):
        S.SyntheticParams(partial_on_fraction=1.5)
    with pytest.raises(ValueError):
        S.SyntheticParams.from_dict({"no_such_knob": 1})
    for bad in ({"n": 0}, {"n": 3, "positive_rate": -0.1}, {"n": 3, "workers": 0}):
        with pytest.raises(ValueError):
            S.write_dataset("/nonexistent/never", progress=False, **bad)


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = offline_env(home, PYTHONWARNINGS="ignore")
    return run_script("scripts/make_synthetic.py", args, home, check=False, timeout=120, env=env)


def test_cli_writes_and_reports(tmp_path: Path):
    out = tmp_path / "cli"
    done = _cli(
        tmp_path,
        "--out",
        str(out),
        "--n",
        "3",
        "--test-n",
        "1",
        "--positive-rate",
        "0.34",
        "--no-progress",
        "--param",
        "engine=numpy",
    )
    assert done.returncode == 0, done.stderr
    assert "cadences/s" in done.stdout and "1 positive" in done.stdout
    assert len(read_id_table(out / LABELS_CSV, require_binary_target=True)) == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["--n", "0"], "--n must be > 0"),
        (["--n", "5", "--positive-rate", "1.5"], "--positive-rate must lie in [0, 1]"),
        (["--n", "5", "--workers", "0"], "--workers must be >= 1"),
        (["--n", "5", "--param", "snr_range=[0, 5]"], "snr_range"),
    ],
)
def test_cli_rejects_bad_arguments(tmp_path: Path, args, message):
    done = _cli(tmp_path, "--out", str(tmp_path / "x"), *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert not (tmp_path / "x").exists()


def _generate_in_threaded_loky_job(root: str) -> str:
    """A sweep job as launcher=gpus runs it: a loky worker with other threads alive (so fork is unsafe)."""
    import threading

    stop = threading.Event()
    threading.Thread(target=stop.wait, daemon=True).start()
    try:
        S.ensure_dataset(root, workers=2, progress=False, **ARGS)
    finally:
        stop.set()
    import multiprocessing

    return multiprocessing.get_start_method(allow_none=True)


def test_generation_inside_a_threaded_loky_sweep_job_finishes(dataset: Path, tmp_path: Path):
    """Spawned workers re-apply the parent's 'loky' start method and die, and a Pool respawns them forever:
    the first job of a fresh `launcher=gpus` sweep hung. It must generate (in-process) the same bytes."""
    from joblib import Parallel, delayed

    root = tmp_path / "loky"
    with Parallel(n_jobs=2, backend="loky", timeout=240) as parallel:
        (method,) = parallel([delayed(_generate_in_threaded_loky_job)(str(root))])
    assert method == "loky"  # the job really ran under the start method that broke spawn
    assert _files(root) == _files(dataset)
