"""How fast a scan runs here, what limits it, and what a full GBT high-resolution cadence would take.

``benchmark_scan`` runs the real scan job (scan.py's) on a cadence, by default a synthetic one written to
a temporary folder, and reads its summary: windows/s, peak memory, and the time split between reading
the files, cutting and resampling windows, and the models (their preprocessing included). The
projection scales the measured rate to a full cadence: ~300 coarse channels x 2^20 fine channels per
file, six files read per window.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

#: a GBT high-resolution (0000.h5) file: coarse channels x fine channels per coarse channel
FULL_COARSE_CHANNELS = 300
FINE_PER_COARSE = 2**20


def project_full_cadence(windows_per_s: float, stride: int = 128) -> dict[str, float]:
    """Windows in one full cadence (six files scanned together) and the hours at ``windows_per_s``."""
    channels = FULL_COARSE_CHANNELS * FINE_PER_COARSE
    windows = channels / stride
    return {"channels": float(channels), "windows": windows, "hours": windows / windows_per_s / 3600.0}


def benchmark_scan(
    ckpt: str | Path,
    cadence: list[str | Path] | None = None,
    fchans: int = 2**15,
    device: str = "auto",
    batch_size: int = 64,
    block_channels: int = 65536,
    **overrides: Any,
) -> dict:
    """Scan ``cadence`` (or a synthetic one of ``fchans`` channels) with ``ckpt``; returns the measurements,
    the projection for a full cadence and the bottleneck (reading, windows or model)."""
    from seti.scan.job import scan
    from seti.scan.synthetic import ObservationSpec, write_observation

    with tempfile.TemporaryDirectory(prefix="seti-scan-bench-") as tmp:
        if cadence is None:
            spec = ObservationSpec(fchans=fchans, n_on=2, n_rfi=1, n_off=1)
            cadence = write_observation(Path(tmp) / "obs", spec)["h5"]
        summary = scan(
            {
                "ckpt": str(ckpt),
                "cadence": [str(p) for p in cadence],
                "output": str(Path(tmp) / "scan"),
                "device": device,
                "batch_size": batch_size,
                "block_channels": block_channels,
                "plot_top": 0,
                **overrides,
            }
        )
        split = _preprocess_share(ckpt, cadence, batch_size)
    timing = dict(summary["timing_s"])
    model_s = timing.pop("model_s")
    # the members' own Preprocessor runs inside the inference pass: split that time by a separate measure
    timing["preprocess_s"] = timing.pop("windows_s") + model_s * split
    timing["model_s"] = model_s * (1 - split)
    total = sum(timing.values()) or 1.0
    rate = summary["windows_per_s"]
    return {
        "windows": summary["windows"],
        "windows_per_s": rate,
        "peak_rss_mb": summary["peak_rss_mb"],
        "max_block_mb": summary["max_block_mb"],
        "device": summary["device"],
        "members": [m["name"] for m in summary["model"]["members"]],
        "share": {k.removesuffix("_s"): v / total for k, v in timing.items()},
        "bottleneck": {"read_s": "reading", "preprocess_s": "preprocessing", "model_s": "the model"}[
            max(timing, key=timing.get)
        ],
        "full_cadence": project_full_cadence(rate, summary["geometry"]["stride_channels"]),
    }


def _preprocess_share(ckpt: str | Path, cadence, batch_size: int) -> float:
    """Fraction of the inference pass spent in the members' Preprocessor (vs their forward passes), measured
    on one batch of the cadence's first windows."""
    import time

    import torch

    from seti.scan.models import load_model
    from seti.scan.observation import read_block, read_header
    from seti.scan.windows import WIDTH, cut_windows

    model = load_model(ckpt)
    headers = [read_header(p) for p in cadence]
    n = min(batch_size, (headers[0].nchans - WIDTH) // (WIDTH // 2) + 1)
    panels = [read_block(h, 0, (n - 1) * (WIDTH // 2) + WIDTH) for h in headers]
    windows = cut_windows(panels, [i * (WIDTH // 2) for i in range(n)])
    prep = forward = 0.0
    with torch.no_grad():
        for preprocess, stack in model.groups:
            t0 = time.perf_counter()
            x = preprocess.batch(windows)
            t1 = time.perf_counter()
            stack.eval()(x)
            prep, forward = prep + t1 - t0, forward + time.perf_counter() - t1
    return prep / max(prep + forward, 1e-12)


def format_report(result: dict) -> str:
    """A few lines for a terminal or docs/scan.md."""
    full = result["full_cadence"]
    share = ", ".join(f"{k} {v:.0%}" for k, v in result["share"].items())
    return "\n".join(
        [
            f"scan: {result['windows']} windows at {result['windows_per_s']:.1f} windows/s on {result['device']} "
            f"({', '.join(result['members'])}); peak RSS {result['peak_rss_mb']:.0f} MB, largest block "
            f"{result['max_block_mb']:.1f} MB",
            f"time: {share}; bottleneck: {result['bottleneck']}",
            f"full GBT high-resolution cadence ({FULL_COARSE_CHANNELS} x 2^20 channels x 6 files, "
            f"{full['windows']:.3g} windows): {full['hours']:.1f} h at this rate",
        ]
    )
