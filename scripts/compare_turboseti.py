"""The scan and turboSETI side by side on synthetic cadences with known injected signals.

    python -m venv --system-site-packages /work/venv-compare
    /work/venv-compare/bin/pip install -e ".[compare]"        # turbo_seti 2.3.2 with numpy < 2.4, in its own venv
    /work/venv-compare/bin/python scripts/compare_turboseti.py --ckpt <run> --out compare-out [--cadences 3]

For each cadence (scripts/make_observation.py's generator, seeds 0..N-1, injected S/N spread wide so
recall has a curve) it runs, each as its own process, timed, with its peak memory:

- ``scan.py`` with the checkpoint; every window's score is read back from the scan's blocks, and events
  (adjacent windows above a threshold) are formed at each threshold;
- turboSETI: ``FindDoppler`` on each of the six files (S/N >= 5, |drift| <= 4 Hz/s), then
  ``find_event_pipeline`` with ``filter_threshold=3`` (in all three ON panels, no OFF) at each ``SNR_cut``.

An event counts as a detection when it overlaps an injected ON-only signal's frequency track; any other
event is a false hit. Writes compare.csv (recall and false hits per MHz per threshold, per tool),
compare.png (the curves), timing.csv and compare.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from seti.atomic import atomic_write_csv, atomic_write_text
from seti.scan.synthetic import ObservationSpec, write_observation

REPO = Path(__file__).resolve().parents[1]
SCAN_THRESHOLDS = (0.52, 0.55, 0.6, 0.7, 0.8, 0.9, 0.95)
SNR_CUTS = (5, 7, 10, 15, 20, 30, 50)
#: frequency slack when matching a turboSETI hit (reported at the start of the first ON file) to a track
MATCH_HZ = 30.0


def timed(command: list[str], log: Path) -> dict:
    """Run ``command`` to completion; its wall time and peak resident memory (from wait4)."""
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}
        )
        _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{command[:3]} failed ({status}); see {log}")
    return {"seconds": time.perf_counter() - started, "peak_rss_mb": usage.ru_maxrss / 1024}


def scan_events(scan_dir: Path, threshold: float) -> pd.DataFrame:
    """Events at ``threshold`` from every window's score in the scan's blocks (adjacent windows merged)."""
    summary = json.loads((scan_dir / "summary.json").read_text())
    starts, scores = [], []
    for block in sorted((scan_dir / "blocks").glob("block-*.npz")):
        with np.load(block, allow_pickle=False) as saved:
            starts.append(saved["start"])
            scores.append(saved["scores"].mean(axis=1))
    start, score = np.concatenate(starts), np.concatenate(scores)
    width, stride = summary["geometry"]["window_channels"], summary["geometry"]["stride_channels"]
    fch1, foff = summary["fch1_mhz"], summary["foff_mhz"]
    hit = np.sort(start[score >= threshold])
    if not len(hit):
        return pd.DataFrame(columns=["f_lo", "f_hi"])
    groups = np.split(hit, np.flatnonzero(np.diff(hit) > stride) + 1)
    edges = [sorted((fch1 + (g[0] - 0.5) * foff, fch1 + (g[-1] + width - 0.5) * foff)) for g in groups]
    return pd.DataFrame(edges, columns=["f_lo", "f_hi"])


def turbo_events(dat_list: Path, h5_list: Path, snr_cut: float, out: Path) -> pd.DataFrame:
    from turbo_seti.find_event.find_event_pipeline import find_event_pipeline

    csv = out / f"events_snr{snr_cut}.csv"
    frame = find_event_pipeline(
        str(dat_list),
        str(h5_list),
        filter_threshold=3,
        number_in_cadence=6,
        SNR_cut=snr_cut,
        csv_name=str(csv),
        saving=True,
    )
    if frame is None or len(frame) == 0:
        return pd.DataFrame(columns=["f_lo", "f_hi"])
    first = frame.drop_duplicates("Hit_ID")  # one row per event (its first ON hit)
    freq = first["Freq"].to_numpy(dtype=float)
    return pd.DataFrame({"f_lo": freq - MATCH_HZ * 1e-6, "f_hi": freq + MATCH_HZ * 1e-6})


def score_events(events: pd.DataFrame, truth: pd.DataFrame) -> tuple[int, int]:
    """(ON-only signals found, events matching no ON-only signal)."""
    on = truth[truth["kind"] == "on"]
    found = 0
    matched = np.zeros(len(events), dtype=bool)
    for signal in on.itertuples():
        overlap = (events["f_hi"].to_numpy() >= signal.f_min_mhz) & (events["f_lo"].to_numpy() <= signal.f_max_mhz)
        found += bool(overlap.any())
        matched |= overlap
    return found, int((~matched).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True, help="checkpoint, run or sweep directory for scan.py")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--cadences", type=int, default=3)
    parser.add_argument("--fchans", type=int, default=2**16)
    parser.add_argument("--snr", type=float, nargs=2, default=(5.0, 50.0))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows, timing = [], []
    total_on, total_mhz = 0, 0.0
    for seed in range(args.cadences):
        folder = args.out / f"cadence-{seed}"
        spec = ObservationSpec(fchans=args.fchans, n_on=16, n_rfi=8, n_off=4, snr_range=tuple(args.snr), seed=seed)
        files = write_observation(folder / "obs", spec)["h5"]
        truth = pd.read_csv(folder / "obs" / "truth.csv")
        total_on += int((truth["kind"] == "on").sum())
        total_mhz += args.fchans * spec.df_hz * 1e-6
        scan_dir = folder / "scan"
        t = timed(
            [sys.executable, str(REPO / "scan.py"), f"ckpt={args.ckpt}", f"cadence=[{','.join(map(str, files))}]",
             f"output={scan_dir}", "overwrite=true", "plot_top=0", f"hydra.run.dir={folder / 'scan-log'}"],
            folder / "scan.log",
        )  # fmt: skip
        timing.append(
            {
                "tool": "scan",
                "cadence": seed,
                **t,
                "windows_per_s": json.loads((scan_dir / "summary.json").read_text())["windows_per_s"],
            }
        )
        turbo = folder / "turbo"
        turbo.mkdir(exist_ok=True)
        code = (
            "import sys, warnings; warnings.simplefilter('ignore')\n"
            "from turbo_seti.find_doppler.find_doppler import FindDoppler\n"
            "for f in sys.argv[2:]:\n"
            "    FindDoppler(f, max_drift=4.0, snr=5.0, out_dir=sys.argv[1], n_coarse_chan=1, log_level_int=30).search()\n"
        )
        t = timed([sys.executable, "-c", code, str(turbo), *map(str, files)], folder / "turbo.log")
        timing.append({"tool": "turboSETI FindDoppler", "cadence": seed, **t, "windows_per_s": None})
        dat_list, h5_list = turbo / "dat_files.lst", turbo / "h5_files.lst"
        dat_list.write_text("".join(f"{turbo / (Path(f).stem + '.dat')}\n" for f in files))
        h5_list.write_text("".join(f"{f}\n" for f in files))
        for threshold in SCAN_THRESHOLDS:
            found, false = score_events(scan_events(scan_dir, threshold), truth)
            rows.append({"tool": "scan", "threshold": threshold, "cadence": seed, "found": found, "false": false})
        for cut in SNR_CUTS:
            found, false = score_events(turbo_events(dat_list, h5_list, cut, turbo), truth)
            rows.append({"tool": "turboSETI", "threshold": cut, "cadence": seed, "found": found, "false": false})
    per = pd.DataFrame(rows).groupby(["tool", "threshold"], as_index=False)[["found", "false"]].sum()
    per["recall"] = per["found"] / total_on
    per["false_per_mhz"] = per["false"] / total_mhz
    atomic_write_csv(args.out / "compare.csv", per)
    times = pd.DataFrame(timing)
    atomic_write_csv(args.out / "timing.csv", times)
    plot(per, args.out / "compare.png")
    lines = [
        f"{args.cadences} cadence(s) x {args.fchans} channels ({total_mhz:.3f} MHz), {total_on} ON-only signals "
        f"(S/N {args.snr[0]:g}-{args.snr[1]:g}), checkpoint {args.ckpt}",
        "",
        per.to_string(index=False),
        "",
        times.groupby("tool")[["seconds", "peak_rss_mb"]].mean().to_string(),
    ]
    atomic_write_text(args.out / "compare.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def plot(per: pd.DataFrame, out: Path) -> None:
    from seti.figures.canvas import new_figure, save

    fig = new_figure(figsize=(5.5, 4.0))
    ax = fig.subplots()
    for tool, part in per.groupby("tool"):
        part = part.sort_values(["false_per_mhz", "recall"])
        ax.plot(part["false_per_mhz"], part["recall"], marker="o", label=tool)
        for row in part.itertuples():
            ax.annotate(
                f"{row.threshold:g}",
                (row.false_per_mhz, row.recall),
                fontsize=6,
                xytext=(3, -8),
                textcoords="offset points",
            )
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("false events per MHz")
    ax.set_ylabel("recall of injected ON-only signals")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    ax.set_title("scan vs turboSETI (labels: score threshold / SNR_cut)", fontsize=9)
    fig.tight_layout()
    save(fig, out)


if __name__ == "__main__":
    main()
