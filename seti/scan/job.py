"""The scan job behind scan.py: check everything, stream the cadence block by block, write the results.

Order, so a bad input never leaves output behind: settings, output folder, the cadence's six headers,
the frequency range, the checkpoints, the geometry; only then is anything written. Scores of every window
are kept per block (``blocks/block-NNNNN.npz``, atomic), so an interrupted scan resumes at the first
missing block; ``summary.json`` is written last, and its presence marks a finished scan, which a second
scan into the same folder refuses to replace unless ``overwrite=true``. Hits are chosen once every
window is scored (a rank blend ranks all windows of the scan together), then re-read for the dedoppler's
drift and S/N and for the plots.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import resource
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from seti import runtime
from seti.atomic import atomic_write_bytes, atomic_write_csv, atomic_write_json, atomic_write_text
from seti.scan.drift import best_lines
from seti.scan.hits import HIT_COLUMNS, merge_events, select, window_frequencies
from seti.scan.observation import ScanError, channel_range, check_cadence, read_block
from seti.scan.settings import ScanSettings
from seti.scan.windows import Geometry, cut_windows, map_geometry, window_starts

log = logging.getLogger(__name__)

STATE = "scan_state.json"
SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
HITS_CSV = "hits.csv"
EVENTS_CSV = "events.csv"
BLOCKS = "blocks"
PLOTS = "plots"


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def check_output(output: Path, overwrite: bool) -> None:
    """Refuse, before anything is read or written, an output that is a file, unwritable, or that holds a
    finished scan (unless ``overwrite``)."""
    if output.exists() and not output.is_dir():
        raise ScanError(f"output={output} is a file; name a folder for the scan's results")
    folder = output
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise ScanError(f"output={output} cannot be written (no write permission in {folder}); choose another folder")
    summary = output / SUMMARY_JSON
    if summary.is_file() and not overwrite:
        raise ScanError(
            f"output={output} already holds a finished scan ({summary}); pass overwrite=true to replace it, or "
            "choose another output"
        )


def fingerprint(settings: ScanSettings, headers, model, geometry: Geometry, start: int, stop: int) -> dict:
    """What the saved blocks depend on: a resumed scan must have the same files, models and windows."""
    return {
        "files": [
            {"path": str(h.path.resolve()), "size": h.path.stat().st_size, "mtime": h.path.stat().st_mtime}
            for h in headers
        ],
        "members": [
            {"name": m.name, "ckpt": str(m.spec.ckpt_path.resolve()), "mtime": m.spec.ckpt_path.stat().st_mtime}
            for m in model.members
        ],
        "channels": [start, stop],
        "stride": geometry.stride,
        "width": geometry.width,
        "block_channels": settings.block_channels,
        "tta": settings.tta,
    }


def _prepare_output(output: Path, state: dict, overwrite: bool) -> set[int]:
    """Blocks already scored by an interrupted scan of the same inputs; a stale or finished scan is
    cleared with ``overwrite``, and refused without it."""
    state_path = output / STATE
    if state_path.is_file():
        old = json.loads(state_path.read_text())
        finished = (output / SUMMARY_JSON).is_file()
        if old == state and not finished:
            done = {int(p.stem.split("-")[1]) for p in (output / BLOCKS).glob("block-*.npz")}
            log.info("resuming the scan in %s: %d block(s) already scored", output, len(done))
            return done
        if not overwrite:
            raise ScanError(
                f"output={output} holds an unfinished scan of other inputs (files, checkpoints or windows differ); "
                "pass overwrite=true to replace it, or choose another output"
            )
    if overwrite:
        for name in (BLOCKS, PLOTS):
            shutil.rmtree(output / name, ignore_errors=True)
        for name in (SUMMARY_JSON, SUMMARY_MD, HITS_CSV, EVENTS_CSV, STATE):
            (output / name).unlink(missing_ok=True)
    atomic_write_json(state_path, state, fsync=True)
    return set()


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def scan(cfg: DictConfig | dict) -> dict:
    """scan.py's job (see the module docstring); returns the summary it writes."""
    from seti.runtime import resolve_device
    from seti.scan.models import blend_scores, load_model, score_windows

    settings = ScanSettings.from_config(cfg)
    output = settings.output
    check_output(output, settings.overwrite)
    headers = check_cadence(settings.cadence, settings.checks)
    first = headers[0]
    start, stop = channel_range(first, settings.f_start, settings.f_stop)
    model = load_model(settings.ckpt, settings.checkpoint)
    geometry = map_geometry(
        headers, model.configs, settings.stride, settings.channel_tolerance, settings.time_tolerance
    )
    starts = window_starts(start, stop, geometry.width, geometry.stride)
    per_block = max(1, (settings.block_channels - geometry.width) // geometry.stride + 1)
    n_blocks = -(-len(starts) // per_block)
    device = resolve_device(settings.device)
    precision = runtime.resolve_precision(settings.precision, cuda=device.type == "cuda")
    done = _prepare_output(output, fingerprint(settings, headers, model, geometry, start, stop), settings.overwrite)

    log.info(
        "scanning %d window(s) of %d channels (stride %d) in %d block(s) with %d member(s) on %s: %s",
        len(starts), geometry.width, geometry.stride, n_blocks, len(model.members), device, model.names,
    )  # fmt: skip
    timing = {"read_s": 0.0, "windows_s": 0.0, "model_s": 0.0}
    max_block_bytes = 0
    scored = 0
    started = time.perf_counter()
    for block in range(n_blocks):
        if block in done:
            continue
        block_starts = starts[block * per_block : (block + 1) * per_block]
        lo, hi = int(block_starts[0]), int(block_starts[-1]) + geometry.width
        t0 = time.perf_counter()
        panels = [read_block(h, lo, hi) for h in headers]
        max_block_bytes = max(max_block_bytes, sum(p.nbytes for p in panels))
        timing["read_s"] += time.perf_counter() - t0
        scores = np.empty((len(block_starts), len(model.members)), dtype=np.float64)
        for i in range(0, len(block_starts), settings.batch_size):
            offsets = block_starts[i : i + settings.batch_size] - lo
            t0 = time.perf_counter()
            cadences = cut_windows(panels, offsets, geometry.width)
            t1 = time.perf_counter()
            scores[i : i + len(offsets)] = score_windows(
                model, cadences, device, precision, settings.tta, settings.channels_last
            )
            timing["windows_s"] += t1 - t0
            timing["model_s"] += time.perf_counter() - t1
        del panels
        atomic_write_bytes(output / BLOCKS / f"block-{block:05d}.npz", _npz_bytes(start=block_starts, scores=scores))
        scored += len(block_starts)
        log.info("block %d/%d: channels [%d, %d), %d window(s)", block + 1, n_blocks, lo, hi, len(block_starts))
    seconds = time.perf_counter() - started

    # every window's scores, from this run and any interrupted one before it
    all_starts, all_scores, all_blocks = [], [], []
    for block in range(n_blocks):
        with np.load(output / BLOCKS / f"block-{block:05d}.npz", allow_pickle=False) as saved:
            all_starts.append(saved["start"])
            all_scores.append(saved["scores"])
            all_blocks.append(np.full(len(saved["start"]), block))
    window_start = np.concatenate(all_starts)
    member_scores = np.concatenate(all_scores)
    blocks = np.concatenate(all_blocks)
    blended = blend_scores(member_scores, settings.blend)
    chosen, dropped = select(blended, blocks, settings.threshold, settings.top_k, settings.max_hits)
    if dropped:
        log.warning("%d more window(s) passed; max_hits=%d keeps the best", dropped, settings.max_hits)

    hits = _hits_table(chosen, window_start, blocks, blended, member_scores, model.names, geometry, headers)
    events = merge_events(hits, geometry.stride)
    plots = _plot_events(events, hits, headers, geometry, output, settings.plot_top)
    atomic_write_csv(output / HITS_CSV, hits, fsync=True)
    atomic_write_csv(output / EVENTS_CSV, events, fsync=True)

    summary = {
        "status": "finished",
        "output": str(output),
        "files": [
            {"path": str(h.path), "source_name": h.source_name, "tstart_mjd": h.tstart, "n_ints": h.n_ints, "tsamp_s": h.tsamp}
            for h in headers
        ],
        "frequency_mhz": sorted(float(f) for f in first.freq_mhz(np.array([start, stop - 1]))),
        "channels": [start, stop],
        "fch1_mhz": first.fch1,
        "foff_mhz": first.foff,
        "geometry": geometry.describe(),
        "model": {"members": model.describe(), "blend": settings.blend if len(model.members) > 1 else "single", "tta": settings.tta},
        "device": str(device),
        "precision": precision,
        "threshold": settings.threshold,
        "top_k": settings.top_k,
        "windows": int(len(window_start)),
        "windows_scored_now": scored,
        "windows_resumed": int(len(window_start)) - scored,
        "blocks": n_blocks,
        "block_channels": settings.block_channels,
        "max_block_mb": max_block_bytes / 2**20,
        "seconds": seconds,
        "windows_per_s": scored / seconds if scored and seconds > 0 else None,
        "timing_s": timing,
        "bottleneck": max(timing, key=timing.get).removesuffix("_s") if scored else None,
        "peak_rss_mb": peak_rss_mb(),
        "hits": int(len(hits)),
        "hits_dropped_by_max_hits": int(dropped),
        "events": int(len(events)),
        "plots": plots,
        "checks": asdict(settings.checks),
        "config_hash": hashlib.sha256(json.dumps(fingerprint(settings, headers, model, geometry, start, stop), sort_keys=True, default=str).encode()).hexdigest()[:16],
    }  # fmt: skip
    atomic_write_text(output / SUMMARY_MD, summary_markdown(summary, hits, events))
    atomic_write_json(output / SUMMARY_JSON, summary, fsync=True)  # last: its presence means finished
    log.info("%d hit(s), %d event(s) in %s", len(hits), len(events), output)
    return summary


def _read_window(headers, start: int, width: int) -> list[np.ndarray]:
    return [read_block(h, start, start + width) for h in headers]


def _hits_table(
    chosen, window_start, blocks, blended, member_scores, names, geometry: Geometry, headers
) -> pd.DataFrame:
    """One row per hit window, best first, with the dedoppler's drift and S/N of its strongest ON line."""
    first = headers[0]
    freqs = window_frequencies(window_start[chosen], geometry.width, first.fch1, first.foff)
    hits = pd.DataFrame(
        {
            "hit": np.arange(len(chosen)),
            "block": blocks[chosen],
            "start_channel": window_start[chosen],
            **freqs,
            "score": blended[chosen],
        },
        columns=HIT_COLUMNS,
    )
    for j, name in enumerate(names):
        hits[f"score_{name}" if len(names) > 1 else "score_member"] = member_scores[chosen, j]
    drift, snr, line_mhz = [], [], []
    panel_s = float(np.mean([h.panel_s for h in headers]))
    for i in range(0, len(chosen), 32):
        part = window_start[chosen[i : i + 32]]
        cadences = np.stack([cut_windows(_read_window(headers, int(s), geometry.width), [0]).numpy()[0] for s in part])
        for s, line in zip(part, best_lines(cadences, first.foff * 1e6, panel_s)):
            drift.append(line.drift_hz_s)
            snr.append(line.snr)
            line_mhz.append(float(first.freq_mhz(int(s) + line.channel)))
    hits["drift_hz_s"] = drift
    hits["snr"] = snr
    hits["line_start_mhz"] = line_mhz
    return hits


def _plot_events(
    events: pd.DataFrame, hits: pd.DataFrame, headers, geometry: Geometry, output: Path, top: int
) -> list[str]:
    """The best window of each of the ``top`` best events (adjacent windows of one signal would repeat it)."""
    from seti.scan.plots import plot_hit

    paths = []
    by_hit = hits.set_index("hit")
    for event in events.head(top).itertuples():
        row = by_hit.loc[event.best_hit]
        panels = _read_window(headers, int(row.start_channel), geometry.width)
        path = output / PLOTS / f"event-{event.event:04d}_{row.f_centre_mhz:.6f}MHz.png"
        title = (
            f"event {event.event} (hit {event.best_hit}): score {row.score:.3f}, {row.f_centre_mhz:.6f} MHz, "
            f"drift {row.drift_hz_s:+.3f} Hz/s, S/N {row.snr:.1f}"
        )
        plot_hit(
            panels, row.f_start_mhz, row.f_stop_mhz, headers[0].foff < 0, title, [h.source_name for h in headers], path
        )
        paths.append(str(path.relative_to(output)))
    return paths


def summary_markdown(summary: dict, hits: pd.DataFrame, events: pd.DataFrame) -> str:
    """summary.md: what was scanned, with what, how fast, and the best events."""
    g = summary["geometry"]
    lines = [
        "# Scan summary",
        "",
        f"- files: {', '.join(Path(f['path']).name for f in summary['files'])}",
        f"- band: {summary['frequency_mhz'][0]:.6f}-{summary['frequency_mhz'][1]:.6f} MHz "
        f"(channels {summary['channels'][0]}-{summary['channels'][1]})",
        f"- model: {', '.join(m['name'] for m in summary['model']['members'])} "
        f"(blend {summary['model']['blend']}, tta {summary['model']['tta']}) on {summary['device']} ({summary['precision']})",
        f"- geometry: {g['mapping']}",
        f"- windows: {summary['windows']} ({summary['windows_resumed']} from an interrupted run), "
        f"{summary['blocks']} block(s) of up to {summary['block_channels']} channels",
        f"- speed: {summary['windows_per_s'] or float('nan'):.1f} windows/s; time in reading {summary['timing_s']['read_s']:.1f} s, "
        f"cutting windows {summary['timing_s']['windows_s']:.1f} s, models {summary['timing_s']['model_s']:.1f} s "
        f"(bottleneck: {summary['bottleneck']})",
        f"- memory: peak RSS {summary['peak_rss_mb']:.0f} MB, largest block {summary['max_block_mb']:.1f} MB",
        f"- hits: {summary['hits']} (threshold {summary['threshold']}, top_k {summary['top_k']}), events: {summary['events']}",
        "",
        "## Best events",
        "",
        _markdown_table(events.head(20)) if len(events) else "(none)",
        "",
    ]
    return "\n".join(lines)


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: Any) -> str:
        return f"{value:.6f}" if isinstance(value, float) else str(value)

    rows = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    rows += ["| " + " | ".join(cell(v) for v in record) + " |" for record in frame.itertuples(index=False)]
    return "\n".join(rows)
