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
    timing = summary["timing_s"]
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
        "bottleneck": {"read": "reading", "windows": "preprocessing", "model": "the model"}[summary["bottleneck"]],
        "full_cadence": project_full_cadence(rate, summary["geometry"]["stride_channels"]),
    }


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
