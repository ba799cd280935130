"""scan.py on synthetic Breakthrough Listen cadences (seti.scan.synthetic): it finds injected ON-only
signals, leaves RFI in all six panels and OFF-only signals alone, streams files in bounded blocks,
refuses every bad input before writing anything, resumes an interrupted scan and refuses to overwrite a
finished one.

The model is a real model=dedoppler run (train.py's pipeline, in process, on a tiny synthetic set): a
CNN small and fast enough for a test does not find faint needles reliably, the dedoppler does, and it
goes through exactly the same checkpoint -> members -> inference path as any CNN (the ensemble test adds
a trained tiny CNN beside it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import REPO, TINY, offline_env, run_script, train_in_process

from seti.scan.job import scan
from seti.scan.observation import ScanError, read_block, read_header
from seti.scan.synthetic import ObservationSpec, write_observation

#: a small cadence: 8192 channels (63 windows), two ON-only signals of moderate S/N, two RFI, one OFF-only
SMALL = ObservationSpec(
    fchans=8192, n_on=2, n_rfi=2, n_off=1, snr_range=(20.0, 30.0), drift_range_hz_s=(0.1, 0.4), seed=3
)
DEDOPPLER_RUN = [
    "model=dedoppler",
    "data.synthetic.n=12",
    "data.synthetic.test_n=2",
    "data.num_folds=2",
    "data.num_workers=0",
    "data.synthetic.workers=1",
    "+data.synthetic.params.engine=numpy",
    "test_after_fit=false",
    "logger=csv",
]


@pytest.fixture(scope="module")
def observation(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("observation")
    written = write_observation(folder, SMALL, ("h5", "fil"))
    return {**written, "truth": pd.read_csv(folder / "truth.csv"), "folder": folder}


@pytest.fixture(scope="module")
def dedoppler_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("dedoppler") / "run"
    train_in_process(DEDOPPLER_RUN, run)
    assert (run / "checkpoints" / "best.ckpt").is_file()
    return run


def _cfg(ckpt, cadence, output, **extra) -> dict:
    return {"ckpt": str(ckpt), "cadence": [str(p) for p in cadence], "output": str(output), **extra}


@pytest.fixture(scope="module")
def scanned(observation, dedoppler_run, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("scan") / "out"
    scan(_cfg(dedoppler_run, observation["h5"], output))
    return output


def _same_hits(a: Path, b: Path) -> None:
    """Two scans' hits.csv agree on every window, score, drift and S/N (block numbers depend on block_channels)."""
    pd.testing.assert_frame_equal(
        pd.read_csv(a / "hits.csv").drop(columns="block"), pd.read_csv(b / "hits.csv").drop(columns="block")
    )


def _overlapping(events: pd.DataFrame, lo: float, hi: float, margin: float = 0.0) -> pd.DataFrame:
    return events[(events["f_stop_mhz"] >= lo - margin) & (events["f_start_mhz"] <= hi + margin)]


# ================================================================================= what it finds
def test_finds_every_injected_on_only_signal(scanned, observation):
    """Each ON-only signal (S/N 20-30) lies in an event, with the dedoppler's drift close to the truth."""
    events = pd.read_csv(scanned / "events.csv")
    for injected in observation["truth"].query("kind == 'on'").itertuples():
        found = _overlapping(events, injected.f_min_mhz, injected.f_max_mhz)
        assert len(found) >= 1, f"ON-only signal at {injected.f_min_mhz:.6f} MHz (S/N {injected.snr:.0f}) not found"
        assert abs(found.iloc[0]["drift_hz_s"] - injected.drift_hz_s) < 0.05
        assert found.iloc[0]["snr"] > 5


def test_does_not_flag_rfi_in_all_six_panels_or_off_only_signals(scanned, observation):
    events = pd.read_csv(scanned / "events.csv")
    for injected in observation["truth"].query("kind != 'on'").itertuples():
        flagged = _overlapping(events, injected.f_min_mhz, injected.f_max_mhz, margin=256 * 2.8e-6)
        assert flagged.empty, f"{injected.kind} signal at {injected.f_min_mhz:.6f} MHz flagged:\n{flagged}"
    assert len(events) == (observation["truth"]["kind"] == "on").sum()  # nothing else fires in the noise


def test_outputs_read_like_turboseti_hits(scanned):
    hits = pd.read_csv(scanned / "hits.csv")
    for column in ("f_start_mhz", "f_stop_mhz", "f_centre_mhz", "score", "score_member", "drift_hz_s", "snr"):
        assert column in hits.columns
    assert (hits["f_stop_mhz"] - hits["f_start_mhz"]).round(9).eq(round(256 * 2.7939677238464355e-6, 9)).all()
    assert (hits["score"] >= 0.6).all() and hits["score"].is_monotonic_decreasing
    summary = json.loads((scanned / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["windows"] == 63 and summary["windows_per_s"] > 0
    assert "resampled to 273 rows" in summary["geometry"]["mapping"]
    assert summary["model"]["members"][0]["model"] == "seti.baselines.module.DedopplerModule"
    assert len(summary["plots"]) == summary["events"] and all(
        (scanned / p).stat().st_size > 5000 for p in summary["plots"]
    )
    assert "# Scan summary" in (scanned / "summary.md").read_text()


# ================================================================================= reading
def test_fil_and_h5_read_the_same_channels(observation):
    """Block reads through blimpy return exactly the stored channels, in either format."""
    h5, fil = read_header(observation["h5"][0]), read_header(observation["fil"][0])
    for start, stop in [(0, 1), (100, 612), (8000, 8192)]:
        np.testing.assert_array_equal(read_block(h5, start, stop), read_block(fil, start, stop))
    assert read_block(h5, 5, 9).shape == (16, 4)


def test_memory_is_bounded_by_one_block(observation, dedoppler_run, scanned, tmp_path):
    """A file 8 blocks long: every allocation while streaming it stays within ~one block, and a scan in
    small blocks scores exactly the same windows as one in a single block."""
    header = read_header(observation["h5"][0])
    block = 1024
    tracemalloc.start()
    for start in range(0, header.nchans, block):
        read_block(header, start, start + block)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    block_bytes = header.n_ints * block * 4
    file_bytes = header.n_ints * header.nchans * 4
    assert file_bytes == 8 * block_bytes
    assert peak < 3 * block_bytes, f"peak {peak} B while reading blocks of {block_bytes} B"

    small = tmp_path / "small"
    summary = scan(_cfg(dedoppler_run, observation["h5"], small, block_channels=1024, plot_top=0))
    assert summary["blocks"] == 9 and summary["max_block_mb"] <= 6 * 16 * 1024 * 4 / 2**20
    _same_hits(small, scanned)


# ================================================================================= bad input
def _refused(cfg: dict, *words: str) -> str:
    with pytest.raises(ScanError) as err:
        scan(cfg)
    message = str(err.value)
    for word in words:
        assert word in message, message
    assert not Path(cfg["output"]).exists(), "a refused scan wrote output"
    return message


def test_bad_cadences_are_refused_naming_the_file(observation, dedoppler_run, tmp_path):
    files = observation["h5"]
    out = tmp_path / "out"
    _refused(_cfg(dedoppler_run, files[:5], out), "exactly 6")
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(os.urandom(4096))
    _refused(_cfg(dedoppler_run, [*files[:5], corrupt], out), str(corrupt), "corrupt")
    truncated = tmp_path / "truncated.fil"
    truncated.write_bytes(observation["fil"][5].read_bytes()[:200_000])
    _refused(_cfg(dedoppler_run, [*observation["fil"][:5], truncated], out), str(truncated), "truncated")
    half_h5 = tmp_path / "half.h5"
    half_h5.write_bytes(files[5].read_bytes()[: files[5].stat().st_size // 2])
    _refused(_cfg(dedoppler_run, [*files[:5], half_h5], out), str(half_h5), "truncated")
    text = tmp_path / "notes.txt"
    text.write_text("not a filterbank")
    _refused(_cfg(dedoppler_run, [*files[:5], text], out), str(text), "not a filterbank")
    swapped = [files[0], files[2], files[1], *files[3:]]
    _refused(_cfg(dedoppler_run, swapped, out), str(files[1]), "observation order")
    on_as_off = [*files[:5], files[4]]  # D is the target again; start order switched off to reach the check
    _refused(_cfg(dedoppler_run, on_as_off, out, checks={"start_order": False}), str(files[4]), "OFF panel")
    _refused(_cfg(dedoppler_run, files, out, f_start=9000.0, f_stop=9001.0), str(files[0]), "outside")


def test_mismatched_frequency_axes_are_refused(observation, dedoppler_run, tmp_path):
    other = write_observation(tmp_path / "other", ObservationSpec(fchans=4096, n_on=1, n_rfi=0, n_off=0, seed=5))["h5"]
    _refused(
        _cfg(dedoppler_run, [*observation["h5"][:3], other[3], *observation["h5"][4:]], tmp_path / "out"),
        str(other[3]),
        "frequency axis",
    )


def test_geometry_that_cannot_be_mapped_is_refused(dedoppler_run, tmp_path):
    """Channels 8x wider than the training data's, and a checkpoint trained on data of unknown geometry."""
    wide = write_observation(
        tmp_path / "wide", ObservationSpec(fchans=2048, df_hz=8 * 2.7939677238464355, n_on=1, n_rfi=0, n_off=0)
    )["h5"]
    _refused(_cfg(dedoppler_run, wide, tmp_path / "out"), str(wide[0]), "cannot be mapped", "Hz")

    import torch

    checkpoint = torch.load(dedoppler_run / "checkpoints" / "best.ckpt", weights_only=True, map_location="cpu")
    checkpoint["seti_config"]["data"]["source"] = "radio-survey-x"
    odd = tmp_path / "odd.ckpt"
    torch.save(checkpoint, odd)
    small = write_observation(tmp_path / "small", ObservationSpec(fchans=2048, n_on=1, n_rfi=0, n_off=0))["h5"]
    _refused(_cfg(odd, small, tmp_path / "out"), "odd", "cannot be mapped")


def test_finished_output_is_refused_unless_overwrite(scanned, observation, dedoppler_run):
    before = (scanned / "summary.json").read_text()
    with pytest.raises(ScanError, match="already holds a finished scan.*overwrite=true"):
        scan(_cfg(dedoppler_run, observation["h5"], scanned))
    assert (scanned / "summary.json").read_text() == before


def test_overwrite_replaces_a_finished_scan(observation, dedoppler_run, tmp_path):
    output = tmp_path / "out"
    first = scan(_cfg(dedoppler_run, observation["h5"], output, f_start=8421.37, f_stop=8421.3867, plot_top=0))
    second = scan(
        _cfg(dedoppler_run, observation["h5"], output, f_start=8421.37, f_stop=8421.3867, plot_top=0, overwrite=True)
    )
    assert second["windows_resumed"] == 0 and second["windows"] == first["windows"]


# ================================================================================= resume
def test_interrupted_scan_resumes_where_it_stopped(observation, dedoppler_run, scanned, tmp_path):
    """What a kill leaves (atomic block files, no summary) resumes from the first missing block with the
    same results; the real kill -9 is test_kill_and_resume below."""
    output = tmp_path / "out"
    cfg = _cfg(dedoppler_run, observation["h5"], output, block_channels=2048)
    scan(cfg)
    for name in ("summary.json", "summary.md", "hits.csv", "events.csv"):
        (output / name).unlink()
    for late in sorted((output / "blocks").glob("block-*.npz"))[2:]:
        late.unlink()
    summary = scan(cfg)
    assert summary["windows_resumed"] == 2 * 15 and summary["windows_scored_now"] == 63 - 30
    _same_hits(output, scanned)


def test_other_inputs_in_an_unfinished_output_are_refused(observation, dedoppler_run, tmp_path):
    output = tmp_path / "out"
    scan(_cfg(dedoppler_run, observation["h5"], output, block_channels=2048, plot_top=0))
    (output / "summary.json").unlink()
    with pytest.raises(ScanError, match="unfinished scan of other inputs"):
        scan(_cfg(dedoppler_run, observation["h5"], output, block_channels=1024))


@pytest.mark.slow
def test_kill_and_resume(observation, dedoppler_run, scanned, tmp_path):
    """scan.py killed with SIGKILL between blocks, then run again: it resumes and finishes with the same hits."""
    output = tmp_path / "out"
    args = [
        f"ckpt={dedoppler_run}",
        f"cadence=[{','.join(map(str, observation['h5']))}]",
        f"output={output}",
        "block_channels=1024",
        "plot_top=0",
    ]
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "scan.py"), *args], cwd=tmp_path, env=offline_env(tmp_path), start_new_session=True
    )
    deadline = time.monotonic() + 300
    while not list((output / "blocks").glob("block-*.npz")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (output / "summary.json").exists(), "finished before it could be killed"
    run_script("scan.py", args, tmp_path, timeout=1200)
    summary = json.loads((output / "summary.json").read_text())
    assert summary["windows_resumed"] > 0
    _same_hits(output, scanned)


# ================================================================================= many cadences, many models
@pytest.mark.slow
def test_table_sweep_through_submitit(observation, dedoppler_run, tmp_path):
    """-m over a table of cadences with hydra/launcher=submitit_local: the SLURM launcher's code path; one
    folder per row, named by the table."""
    folder = observation["folder"]
    table = tmp_path / "cadences.csv"
    pd.DataFrame(
        [
            dict(zip(("a1", "b", "a2", "c", "a3", "d"), [str(p) for p in observation["h5"]]), name=f"obs{i}")
            for i in range(2)
        ]
    ).to_csv(table, index=False)
    run_script(
        "scan.py",
        ["-m", f"ckpt={dedoppler_run}", f"table={table}", "row=0,1", f"output={tmp_path / 'scans'}", "plot_top=0",
         "hydra/launcher=submitit_local", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
        tmp_path,
    )  # fmt: skip
    for name in ("obs0", "obs1"):
        assert json.loads((tmp_path / "scans" / name / "summary.json").read_text())["status"] == "finished"
    assert folder.is_dir()


@pytest.mark.slow
def test_ensemble_of_a_cnn_and_the_dedoppler(observation, dedoppler_run, tmp_path):
    """A trained tiny CNN and the dedoppler in one sweep directory, blended by rank: one column per member."""
    sweep = tmp_path / "sweep"
    train_in_process([*TINY, "data.synthetic.n=24", "data.synthetic.test_n=2", "data.num_folds=2", "+data.synthetic.params.engine=numpy", "data.synthetic.workers=1", "test_after_fit=false", "logger=csv", "trainer.max_epochs=1"], sweep / "cnn")  # fmt: skip
    shutil.copytree(dedoppler_run, sweep / "dedoppler")
    summary = scan(_cfg(sweep, observation["h5"], tmp_path / "out", blend="rank", threshold=None, top_k=3, plot_top=1))
    hits = pd.read_csv(tmp_path / "out" / "hits.csv")
    assert {"score_cnn", "score_dedoppler"} <= set(hits.columns) and summary["model"]["blend"] == "rank"
    assert len(hits) == 3  # one block: its three best windows


# ================================================================================= speed
def test_benchmark_measures_and_projects_a_full_cadence(dedoppler_run):
    from seti.scan.benchmark import benchmark_scan, format_report

    result = benchmark_scan(dedoppler_run, fchans=4096, device="cpu")
    assert result["windows"] == 31 and result["windows_per_s"] > 0 and result["peak_rss_mb"] > 0
    assert result["bottleneck"] in ("reading", "preprocessing", "the model")
    assert abs(sum(result["share"].values()) - 1) < 1e-9
    full = result["full_cadence"]
    assert full["windows"] == 300 * 2**20 / 128 and full["hours"] == full["windows"] / result["windows_per_s"] / 3600
    assert "full GBT high-resolution cadence" in format_report(result)
