"""Windows to hits (above the threshold, or the top K of each block) and hits to events (adjacent windows
that fire together), as tables an astronomer reads like turboSETI's."""

from __future__ import annotations

import numpy as np
import pandas as pd

HIT_COLUMNS = ["hit", "block", "start_channel", "f_start_mhz", "f_stop_mhz", "f_centre_mhz", "score"]
EVENT_COLUMNS = [
    "event",
    "f_start_mhz",
    "f_stop_mhz",
    "f_centre_mhz",
    "windows",
    "score",
    "best_hit",
    "drift_hz_s",
    "snr",
]


def select(
    scores: np.ndarray, blocks: np.ndarray, threshold: float | None, top_k: int | None, max_hits: int
) -> tuple[np.ndarray, int]:
    """Indices of the hit windows, best first: score >= threshold, plus each block's ``top_k`` best; at most
    ``max_hits`` (the best). Returns (indices, how many were dropped by max_hits)."""
    keep = np.zeros(len(scores), dtype=bool)
    if threshold is not None:
        keep |= scores >= threshold
    if top_k:
        for block in np.unique(blocks):
            idx = np.flatnonzero(blocks == block)
            keep[idx[np.argsort(-scores[idx], kind="stable")[:top_k]]] = True
    chosen = np.flatnonzero(keep)
    chosen = chosen[np.argsort(-scores[chosen], kind="stable")]
    return chosen[:max_hits], max(0, len(chosen) - max_hits)


def window_frequencies(start_channel: np.ndarray, width: int, fch1: float, foff: float) -> dict[str, np.ndarray]:
    """Band edges (MHz, start < stop) and centre of windows starting at stored ``start_channel``."""
    a = fch1 + (np.asarray(start_channel, dtype=np.float64) - 0.5) * foff
    b = fch1 + (np.asarray(start_channel, dtype=np.float64) + width - 0.5) * foff
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return {"f_start_mhz": lo, "f_stop_mhz": hi, "f_centre_mhz": (lo + hi) / 2}


def merge_events(hits: pd.DataFrame, stride: int) -> pd.DataFrame:
    """Hits whose windows start within one stride of the previous one form an event (they fired together);
    an event spans its windows, and its best window's score, drift and S/N stand for it."""
    if hits.empty:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    ordered = hits.sort_values("start_channel", kind="stable")
    group = (ordered["start_channel"].diff().fillna(stride + 1) > stride).cumsum().to_numpy()
    rows = []
    for _, part in ordered.groupby(group, sort=True):
        best = part.loc[part["score"].idxmax()]
        lo, hi = float(part["f_start_mhz"].min()), float(part["f_stop_mhz"].max())
        rows.append(
            {
                "event": -1,
                "f_start_mhz": lo,
                "f_stop_mhz": hi,
                "f_centre_mhz": (lo + hi) / 2,
                "windows": len(part),
                "score": float(best["score"]),
                "best_hit": int(best["hit"]),
                "drift_hz_s": float(best["drift_hz_s"]),
                "snr": float(best["snr"]),
            }
        )
    events = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    events = events.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
    events["event"] = np.arange(len(events))  # numbered best first
    return events
