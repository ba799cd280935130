"""Classical incoherent dedoppler ON-OFF search (turboSETI style): a no-learning baseline.

Why: a narrow-band transmitter on a moving planet drifts linearly in frequency, and a real one is seen only
when the telescope points at it (ON panels 0, 2, 4) and never when it points away (OFF panels 1, 3, 5).
Radio astronomers find such signals by summing power along straight drifting lines ("dedoppler") and
vetoing anything also seen OFF target. On small data it can beat a CNN trained from scratch (see the
README's study), so every learned model should be compared against it.

Pipeline per cadence (all vectorised over the batch):

1. ``preprocess``: sum ``time_bin`` rows (speed, and S/N per pixel grows), then per panel remove the
   per-channel median over time (bandpass stripes, stationary interference) and the per-row median over
   channels (gain changes, broadband bursts), divide each channel by its MAD (noisy channels count
   less) and clip (one bright pixel cannot make a line).
2. ``dedoppler_maps``: a Taylor tree dedoppler (O(T F log T), no gathers) gives, for every integer total
   drift across a panel and every start channel, the sum along that line, scaled to S/N. Steeper drifts
   than one channel per binned row come from shearing the input first; negative drifts from a frequency
   flip.
3. ``score_maps``: each candidate (drift, channel in one ON panel) is continued through the cadence
   (panel ``p`` starts ``p`` panel-lengths later, so at ``channel + p * drift``). ON evidence = mean of
   the two best ON S/N along that track (a needle in 2 of 3 ON panels still counts fully, one bright
   panel alone counts half); the veto = the largest OFF S/N near the continued track *and* near the
   anchor's own channel (interference that restarts at the same frequency in every panel), within a
   wide window (+-90 channels, +-4 drift steps by default; see DedopplerScorer). Score = max over candidates of
   ON evidence minus veto, so interference in all six panels scores ~0 or below.

The OFF-veto window is the only tuned part: scripts/fit_dedoppler.py fits it on a synthetic set of its own
(generator seed 1, 600 cadences), never on the evaluation data (seed 0); that fit gave 90/4 (AUROC 0.940
there, 0.903 with the earlier 40/20). Speed ~55-60 cadences/s of CPU time on one core.

Known blind spot: a needle with (nearly) zero drift sits in one channel for the whole panel, so step 1's
per-channel median removes it, exactly as it removes a stationary stripe.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from seti.data.layout import CADENCE_SHAPE, MAD_TO_STD, OFF_PANELS, ON_PANELS

__all__ = ["DedopplerScorer", "dedoppler_maps", "dedoppler_scores", "preprocess", "score_maps", "taylor_tree"]


ON_REDUCTIONS = ("top2", "mean", "min", "subset")


# Defined first: preprocess, dedoppler_maps and score_maps below take their defaults from its fields, and
# dedoppler_scores takes its keywords, so each default is written once.
@dataclass
class DedopplerScorer:
    """The dedoppler baseline as a "model": holds the parameters, call it on a batch to get scores.

    Defaults: ``time_bin=9`` (30 binned rows, a 32-row tree; a drift step of ~1 channel per panel),
    ``max_drift_channels=90`` (|drift| up to 90 channels across one 273-row panel, ~0.33 channel per
    row; three shear passes per sign; the synthetic generator's 0.6 Hz/s is ~65),
    ``on_freq_tol=2``/``on_drift_tol=2`` (channels / drift steps a track may wander between ON panels),
    ``off_freq_tol=90``/``off_drift_tol=4`` (how far from the track an OFF line still vetoes: fitted by
    scripts/fit_dedoppler.py on synthetic generator seed 1, 600 cadences, not on the evaluation data;
    conf/model/dedoppler.yaml records the fit), ``off_weight=1``,
    ``on_reduce="top2"`` (see :func:`_combine_on`; "mean" scored the same there), ``chunk_size=16``
    cadences per vectorised step (fastest here; ~50 MB).
    """

    time_bin: int = 9
    max_drift_channels: int = 90
    clip: tuple[float, float] = (-5.0, 20.0)
    on_freq_tol: int = 2
    on_drift_tol: int = 2
    off_freq_tol: int = 90
    off_drift_tol: int = 4
    off_weight: float = 1.0
    on_reduce: str = "top2"
    chunk_size: int = 16

    def __post_init__(self) -> None:
        if self.max_drift_channels < 0:
            raise ValueError(f"max_drift_channels must be >= 0, got {self.max_drift_channels}")
        if self.on_reduce not in ON_REDUCTIONS:
            raise ValueError(f"on_reduce must be one of {ON_REDUCTIONS}, got {self.on_reduce!r}")
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size}")
        if not 1 <= self.time_bin <= CADENCE_SHAPE[1] // 2:
            raise ValueError(
                f"time_bin must be in 1..{CADENCE_SHAPE[1] // 2} (at least two binned rows), got {self.time_bin}"
            )

    def __call__(self, cadences: np.ndarray) -> np.ndarray:
        x = _validate(cadences)
        out = np.empty(len(x), dtype=np.float32)
        for start in range(0, len(x), self.chunk_size):
            stop = start + self.chunk_size
            pre = preprocess(x[start:stop], time_bin=self.time_bin, clip=self.clip)
            maps, drifts = dedoppler_maps(pre, time_bin=self.time_bin, max_drift_channels=self.max_drift_channels)
            out[start:stop] = score_maps(
                maps,
                drifts,
                on_freq_tol=self.on_freq_tol,
                on_drift_tol=self.on_drift_tol,
                off_freq_tol=self.off_freq_tol,
                off_drift_tol=self.off_drift_tol,
                off_weight=self.off_weight,
                on_reduce=self.on_reduce,
            )
        return out

    def params(self) -> dict:
        """The parameters as a plain dict (for logging next to the scores)."""
        return asdict(self)


def _validate(cadences: np.ndarray) -> np.ndarray:
    """Return a (N, 6, 273, 256) float array; a single cadence (6, 273, 256) gets a batch axis."""
    array = np.asarray(cadences)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or tuple(array.shape[1:]) != CADENCE_SHAPE:
        raise ValueError(
            f"cadences must have shape (N, {', '.join(map(str, CADENCE_SHAPE))}) or {CADENCE_SHAPE} "
            f"(batch, panels ABACAD, time rows, frequency channels), got {array.shape}"
        )
    if array.dtype.kind != "f":
        raise ValueError(f"cadences must be floating point (float16/float32/float64), got dtype {array.dtype}")
    return array


def _median(x: np.ndarray, axis: int) -> np.ndarray:
    """np.median(x, axis, keepdims=True) for finite data, faster: numpy's SIMD sort beats the
    partition np.median uses by ~3x on short lanes (the 30 binned time rows)."""
    n = x.shape[axis]
    lo, hi = (n - 1) // 2, n // 2
    if n <= 64:
        ordered = np.sort(x, axis=axis)
    else:
        ordered = np.partition(x, (lo, hi) if lo != hi else lo, axis=axis)
    low = np.take(ordered, [lo], axis=axis)
    return low if lo == hi else 0.5 * (low + np.take(ordered, [hi], axis=axis))


def preprocess(
    cadences: np.ndarray,
    *,
    time_bin: int = DedopplerScorer.time_bin,
    clip: tuple[float, float] = DedopplerScorer.clip,
) -> np.ndarray:
    """Bin time, remove background and rescale robustly: (N, 6, 273, 256) -> float32 (N, 6, 273 // time_bin, 256).

    Medians and MADs (not mean/std) so that stripes, gain steps and the needle itself do not bias the
    background estimate; the last ``273 % time_bin`` rows are dropped.
    """
    x = _validate(cadences)
    if time_bin < 1 or time_bin > CADENCE_SHAPE[1]:
        raise ValueError(f"time_bin must be in 1..{CADENCE_SHAPE[1]}, got {time_bin}")
    n, panels, rows, chans = x.shape
    tb = rows // time_bin
    x = x.astype(np.float32)[:, :, : tb * time_bin]  # whole-array cast: float16 -> float32 is the slow part
    if time_bin > 1:
        x = x.reshape(n, panels, tb, time_bin, chans).sum(axis=3, dtype=np.float32)
    x -= _median(x, axis=2)  # per-channel bandpass / stationary stripes
    # per-row gain changes / broadband bursts, removed *before* the MAD: otherwise they inflate every
    # channel's MAD and cut the needle's S/N about threefold on real cadences (a mean is not enough:
    # unscaled interference channels dominate it)
    x -= _median(x, axis=3)
    mad = _median(np.abs(x), axis=2) * MAD_TO_STD
    floor = 0.1 * _median(mad, axis=3) + 1e-6  # dead/constant channels: no division by ~0
    x /= np.maximum(mad, floor)
    np.clip(x, clip[0], clip[1], out=x)
    return x


def taylor_tree(x: np.ndarray) -> np.ndarray:
    """Tree dedoppler over the second-to-last axis: (..., n, F) -> (..., n, F), ``n`` a power of two.

    ``out[..., d, f]`` is the sum over rows ``t`` of ``x[..., t, f + ~d*t/(n-1)]`` (Taylor 1974's
    piecewise-straight path of total drift ``d`` channels, d = 0..n-1), channels past ``F`` counting as
    zero. Cost n F log2(n) adds, against n^2 F for brute-force shift-and-add.
    """
    *lead, n, width = x.shape
    if n & (n - 1):
        raise ValueError(f"taylor_tree needs a power-of-two number of rows, got {n}")
    # (blocks, drifts per block, batch, F): the batch sits inside each slice, so every add below is one
    # long contiguous run instead of many 256-element ones.
    state = np.ascontiguousarray(np.moveaxis(x.reshape(-1, n, width), 1, 0))[:, None]
    while state.shape[0] > 1:
        top, bot = state[0::2], state[1::2]
        nd = state.shape[1]
        new = np.empty((state.shape[0] // 2, 2 * nd, *state.shape[2:]), dtype=state.dtype)
        for a in range(nd):
            # a path of total drift d over the merged block: drift d//2 in each half, the second half
            # starting ceil(d/2) channels over; d = 2a (shift a) and d = 2a + 1 (shift a + 1).
            for d, shift in ((2 * a, a), (2 * a + 1, a + 1)):
                if shift >= width:
                    new[:, d] = top[:, a]
                    continue
                np.add(top[:, a, ..., : width - shift], bot[:, a, ..., shift:], out=new[:, d, ..., : width - shift])
                new[:, d, ..., width - shift :] = top[:, a, ..., width - shift :]
        state = new
    return np.moveaxis(state[0], 0, 1).reshape(*lead, n, width)


def _drift_passes(x: np.ndarray, n_pass: int) -> tuple[np.ndarray, int]:
    """Non-negative drifts 0 .. n_pass*(n-1)-1 (tree units) via shear + one batched tree: (..., D, F), n."""
    *lead, rows, width = x.shape
    n = 1 << max(rows - 1, 1).bit_length()  # next power of two >= rows
    sheared = np.zeros((n_pass, *lead, n, width), dtype=np.float32)
    for j in range(n_pass):
        for t in range(rows):  # row t moved j*t channels left: tree drift d becomes d + j*(n-1)
            s = j * t
            if s < width:
                sheared[j, ..., t, : width - s] = x[..., t, s:]
    tree = taylor_tree(sheared)[..., : n - 1, :]  # d = n-1 equals the next pass's d = 0
    return np.moveaxis(tree, 0, -3).reshape(*lead, n_pass * (n - 1), width), n


def dedoppler_maps(
    x: np.ndarray,
    *,
    time_bin: int = DedopplerScorer.time_bin,
    max_drift_channels: int = DedopplerScorer.max_drift_channels,
) -> tuple[np.ndarray, np.ndarray]:
    """S/N of straight drifting lines: preprocessed (N, 6, T, F) -> maps (N, 6, D, F) and drifts (D,).

    ``drifts[i]`` is the line's total drift across one full panel (273 rows) in channels, from
    ``-max_drift_channels`` to ``+max_drift_channels`` in steps of ``273 / (time_bin * (n - 1))``
    channels (``n`` = binned rows rounded up to a power of two; 0.98 for the default ``time_bin=9``),
    about one channel of end-to-end drift: the finest grid the binned time resolution can tell apart.
    ``maps[..., i, f]`` is the S/N of the line starting (first row) at channel ``f``: the sum over the
    T rows, centred and scaled by the panel map's own median and MAD (robust noise level).
    """
    rows, width = x.shape[-2:]
    per_pass = CADENCE_SHAPE[1] / time_bin  # one channel per binned row, in channels per panel
    n_pass = max(1, math.ceil(max_drift_channels / per_pass * (1 + 1e-9)))
    pos, n = _drift_passes(x, n_pass)
    neg, _ = _drift_passes(x[..., ::-1], n_pass)
    neg = neg[..., 1:, ::-1]  # flip back: start channel f <-> F-1-f, drift sign flips; drop duplicate 0
    tree_drift = np.arange(pos.shape[-2])  # channels per (n-1) binned rows
    panel_drift = tree_drift * (CADENCE_SHAPE[1] / time_bin) / (n - 1)  # channels per 273 rows
    keep = panel_drift <= max_drift_channels + 1e-9
    drifts = np.concatenate([-panel_drift[1:][keep[1:]][::-1], panel_drift[keep]])
    maps = np.concatenate([neg[..., keep[1:], :][..., ::-1, :], pos[..., keep, :]], axis=-2)
    # Empirical S/N: residual structure leaves each panel's map with its own noise level (robust sd
    # 0.3-2.4 on real cadences), and ON-minus-OFF only means something on a common scale. Median and MAD
    # per panel from a strided subsample (~1/15 of the map): a needle or interference is a tiny fraction.
    sample = maps[..., ::3, ::5].reshape(*maps.shape[:-2], -1)
    centre = np.median(sample, axis=-1)[..., None, None]
    spread = np.median(np.abs(sample - centre[..., 0]), axis=-1)[..., None, None] * MAD_TO_STD
    maps -= centre
    maps /= np.maximum(spread, 1e-3 * math.sqrt(rows))
    return maps, drifts


def _dilate(a: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Running maximum over +-radius along ``axis`` (edges padded with -inf), in ~log2(radius) numpy ops.

    Sparse-table trick: the max over a window of 2^k is built by doubling, and any window of length
    L = 2r + 1 is the max of two overlapping 2^k windows (2^k <= L).
    """
    if radius <= 0:
        return a.copy()
    n = a.shape[axis]
    pad = [(0, 0)] * a.ndim
    pad[axis] = (radius, radius)
    m = np.pad(a, pad, constant_values=-np.inf)
    length, width = 2 * radius + 1, 1

    def cut(arr: np.ndarray, start: int, stop: int) -> np.ndarray:
        index = [slice(None)] * arr.ndim
        index[axis] = slice(start, stop)
        return arr[tuple(index)]

    while 2 * width <= length:  # m[i] = max(padded[i : i + 2*width])
        m = np.maximum(cut(m, 0, m.shape[axis] - width), cut(m, width, None))
        width *= 2
    return np.maximum(cut(m, 0, n), cut(m, length - width, length - width + n))


def _combine_on(a: np.ndarray, b: np.ndarray, c: np.ndarray, how: str) -> np.ndarray:
    """ON evidence from the three ON panels' S/N along a track.

    ``top2``: mean of the two best (2-of-3 needles count fully, a lone bright panel half; default).
    ``mean``/``min``: all three must agree (``min`` is strictest). ``subset``: best S/N over the unknown
    subset of ON panels holding the needle, max(top1, (top1+top2)/sqrt 2, sum/sqrt 3).
    """
    if how == "mean":
        return (a + b + c) / 3.0
    if how == "min":
        return np.minimum(np.minimum(a, b), c)
    lowest = np.minimum(np.minimum(a, b), c)
    if how == "top2":
        return (a + b + c - lowest) * 0.5
    if how == "subset":
        highest = np.maximum(np.maximum(a, b), c)
        total = a + b + c
        top2 = total - lowest
        return np.maximum(np.maximum(highest, top2 / math.sqrt(2.0)), total / math.sqrt(3.0))
    raise ValueError(f"on_reduce must be one of {ON_REDUCTIONS}, got {how!r}")


@functools.lru_cache(maxsize=8)
def _track_index(drifts: tuple[float, ...], width: int) -> dict[tuple[int, int], np.ndarray]:
    """Flat gather indices into a (3 panels, D, F) map + one zero row, for every (slot, panel offset).

    ``index[slot, k][i * F + f]`` points at panel ``slot``, drift ``i``, channel ``f + k * drifts[i]``
    (the continued track ``k`` panels later) or at the zero row when that channel is outside the band.
    Cached: the same drift grid is used for every batch.
    """
    nd = len(drifts)
    sentinel = 3 * nd * width
    chan = np.arange(width)
    step = np.asarray(drifts, dtype=np.float64)[:, None]  # channels per panel length
    rows = np.arange(nd)[:, None] * width
    index = {}
    for slot in range(3):
        for offset in range(-5, 6):
            pos = np.rint(chan[None, :] + offset * step).astype(np.int64)  # (D, F)
            flat = slot * nd * width + rows + pos
            index[slot, offset] = np.where((pos >= 0) & (pos < width), flat, sentinel).ravel()
    return index


def score_maps(
    maps: np.ndarray,
    drifts: np.ndarray,
    *,
    on_freq_tol: int = DedopplerScorer.on_freq_tol,
    on_drift_tol: int = DedopplerScorer.on_drift_tol,
    off_freq_tol: int = DedopplerScorer.off_freq_tol,
    off_drift_tol: int = DedopplerScorer.off_drift_tol,
    off_weight: float = DedopplerScorer.off_weight,
    on_reduce: str = DedopplerScorer.on_reduce,
) -> np.ndarray:
    """Score (N, 6, D, F) S/N maps: max over continued ON tracks of (mean of 2 best ON) - off_weight * OFF veto.

    Tolerances (in channels / drift-grid steps) let sine or jittery needles and imperfect continuation
    still line up; the OFF veto looks much wider than the ON match because absence OFF target must be
    convincing: interference is often wiggly or restarts, so its straight-line fits in the OFF panels
    land some way from the ON track. Lines leaving the band give no ON evidence and no veto. Cost of the
    wide veto: a real needle within ~off_freq_tol channels of similarly drifting OFF interference is suppressed.
    """
    n, panels, nd, width = maps.shape
    # batch last, (panel, drift, channel, batch): each gather below then moves n contiguous floats
    on = np.ascontiguousarray(maps[:, list(ON_PANELS)].transpose(1, 2, 3, 0))
    off = np.ascontiguousarray(maps[:, list(OFF_PANELS)].transpose(1, 2, 3, 0))
    on = _dilate(_dilate(on, on_drift_tol, axis=1), on_freq_tol, axis=2)
    off = _dilate(_dilate(off, off_drift_tol, axis=1), off_freq_tol, axis=2)
    on_flat = np.concatenate([on.reshape(-1, n), np.zeros((1, n), np.float32)])
    off_flat = np.concatenate([off.reshape(-1, n), np.zeros((1, n), np.float32)])
    index = _track_index(tuple(np.asarray(drifts, dtype=np.float64).tolist()), width)

    off_same = off.max(axis=0).reshape(-1, n)  # OFF near the anchor's own channel: same for every anchor
    best = np.full(n, -np.inf, dtype=np.float32)
    for anchor in ON_PANELS:  # candidates: every (drift, channel) in every ON panel
        a, b, c = (
            on[i].reshape(-1, n) if p == anchor else np.take(on_flat, index[i, p - anchor], axis=0)
            for i, p in enumerate(ON_PANELS)
        )
        evidence = _combine_on(a, b, c, on_reduce)
        veto = off_same.copy()
        for i, q in enumerate(OFF_PANELS):
            np.maximum(veto, np.take(off_flat, index[i, q - anchor], axis=0), out=veto)  # continued track
        evidence -= off_weight * veto
        np.maximum(best, evidence.max(axis=0), out=best)
    return best


def dedoppler_scores(cadences: np.ndarray, **scorer: Any) -> np.ndarray:
    """Score a batch (N, 6, 273, 256) (or one cadence) of float cadences: float32 (N,), higher = more ET-like.

    ``scorer`` are :class:`DedopplerScorer` fields (time_bin, off_freq_tol, on_reduce, ...), whose defaults
    and their reasons live there only. See the module docstring for the method. Raises ValueError naming the
    expected shape for anything else, TypeError for an unknown keyword.
    """
    return DedopplerScorer(**scorer)(cadences)
