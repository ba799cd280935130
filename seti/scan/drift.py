"""Each hit's drift rate and S/N from the dedoppler baseline, so a hit reads like a turboSETI hit.

The baseline's Taylor-tree maps give the S/N of every straight line in each panel; the hit's line is the
strongest in an ON panel. Its drift, in channels per 273-row panel, becomes Hz/s through the file's
signed channel width and the panel's real length (the rows span one file's integrations).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seti.baselines.dedoppler import DedopplerScorer, dedoppler_maps, preprocess
from seti.data.layout import ON_PANELS


@dataclass(frozen=True)
class Line:
    drift_hz_s: float
    snr: float
    channel: int  # window column where the line starts in its panel
    panel: int


def best_lines(
    cadences: np.ndarray, foff_hz: float, panel_s: float, scorer: DedopplerScorer | None = None
) -> list[Line]:
    """(N, 6, 273, 256) z-scored windows -> the strongest straight line of an ON panel in each."""
    scorer = scorer or DedopplerScorer()
    x = preprocess(np.asarray(cadences, dtype=np.float32), time_bin=scorer.time_bin, clip=scorer.clip)
    maps, drifts = dedoppler_maps(x, time_bin=scorer.time_bin, max_drift_channels=scorer.max_drift_channels)
    on = maps[:, list(ON_PANELS)]  # (N, 3, D, F)
    lines = []
    for window in on:
        panel, drift, channel = np.unravel_index(int(np.argmax(window)), window.shape)
        lines.append(
            Line(
                drift_hz_s=float(drifts[drift] * foff_hz / panel_s),
                snr=float(window[panel, drift, channel]),
                channel=int(channel),
                panel=int(ON_PANELS[panel]),
            )
        )
    return lines
