"""``DriftSearch``: the classical dedoppler ON-OFF search, in torch, on the image a CNN is given.

Why: on realistic cadences a straight-line drift search with an OFF veto is a strong detector that a small
CNN trained on ~1000 cadences does not learn by itself. The hybrid model (:mod:`seti.models.classifier`,
``model.hybrid``) puts this search's scores beside the CNN's logit, so the network learns what the search
misses instead of rediscovering it. It has no parameters: the same numbers on every device, in training,
validation and ``predict.py``, computed from whatever image the model is given (injected needles, mixup).

Input: a cleaned stack image (B, 1, 6 * T, F), the six panels ABACAD on top of each other (``data.layout:
stack``, ``data.panels: all``), as :class:`seti.data.preprocess.Preprocessor` makes it. Method, per panel:

1. Taylor tree dedoppler (O(T F log T)): the sum along every straight line of integer total drift across
   the panel, for every start channel; steeper drifts by shearing first, negative ones by a frequency flip.
   Each panel's map is put on an S/N scale by its own median and MAD.
2. Every candidate (drift, channel in an ON panel) is continued through the cadence (panel ``p`` starts
   ``p`` panel lengths later). ON evidence = mean of the two best ON S/N along the track; the veto = the
   largest OFF S/N near the continued track or near the anchor's own channel, in a wide window.

Features (B, 3): max over candidates of evidence - veto (the classical score), of evidence - veto / 2, and
of evidence alone, divided by ``scale``. The numpy baseline :mod:`seti.baselines.dedoppler` is the same
method on raw cadences with its own time binning; this one works at the image's resolution, so it sees
exactly what the CNN sees and costs nothing to plumb.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DriftSearch", "drift_maps", "taylor_tree"]

# The cadence's facts (seti.data.layout's), restated because the model layer never imports the data layer;
# tests/test_drift_search.py checks that they agree.
PANELS = 6
ON_PANELS, OFF_PANELS = (0, 2, 4), (1, 3, 5)
KAGGLE_CHANNELS = 256  # frequency channels across a Kaggle cadence: the unit of the search's lengths
MAD_TO_STD = 1.4826
#: the veto's weight in each feature: the classical score, half the veto, ON evidence alone
VETO_WEIGHTS = (1.0, 0.5, 0.0)
NUM_FEATURES = len(VETO_WEIGHTS)


def taylor_tree(x: torch.Tensor) -> torch.Tensor:
    """Tree dedoppler over the second-to-last axis: (..., n, F) -> (..., n, F), ``n`` a power of two.

    ``out[..., d, f]`` sums ``x[..., t, f + ~d*t/(n-1)]`` over rows ``t`` (Taylor 1974's piecewise-straight
    path of total drift ``d`` channels); channels past ``F`` count as zero. n F log2(n) adds.
    """
    *lead, n, width = x.shape
    if n & (n - 1):
        raise ValueError(f"taylor_tree needs a power-of-two number of rows, got {n}")
    state = x.reshape(-1, n, width).movedim(1, 0).unsqueeze(1)  # (blocks, drifts per block, batch, F)
    while state.shape[0] > 1:
        top, bot = state[0::2], state[1::2]
        nd = state.shape[1]
        new = top.new_empty((state.shape[0] // 2, 2 * nd, *state.shape[2:]))
        for a in range(nd):
            # a path of total drift d over the merged block: d//2 in each half, the second half starting
            # ceil(d/2) channels over; d = 2a (shift a) and d = 2a + 1 (shift a + 1)
            for d, shift in ((2 * a, a), (2 * a + 1, a + 1)):
                if shift >= width:
                    new[:, d] = top[:, a]
                    continue
                torch.add(top[:, a, :, : width - shift], bot[:, a, :, shift:], out=new[:, d, :, : width - shift])
                new[:, d, :, width - shift :] = top[:, a, :, width - shift :]
        state = new
    return state[0].movedim(0, 1).reshape(*lead, n, width)


def _positive_drifts(x: torch.Tensor, n_pass: int, n: int) -> torch.Tensor:
    """Drifts 0 .. n_pass*(n-1)-1 (tree units; ``n`` = rows rounded up to a power of two) by shearing row t
    by j*t channels, pass j: (..., D, F)."""
    *lead, rows, width = x.shape
    sheared = x.new_zeros((n_pass, *lead, n, width))
    for j in range(n_pass):
        for t in range(rows):
            s = j * t
            if s < width:
                sheared[j, ..., t, : width - s] = x[..., t, s:]
    tree = taylor_tree(sheared)[..., : n - 1, :]  # d = n-1 is the next pass's d = 0
    return tree.movedim(0, -3).reshape(*lead, n_pass * (n - 1), width)


def drift_maps(panels: torch.Tensor, max_drift: float) -> tuple[torch.Tensor, list[float]]:
    """S/N of straight lines: (B, 6, T, F) -> maps (B, 6, D, F) and drifts (D,), channels per panel length.

    ``maps[..., i, f]`` is the line starting at channel ``f`` with total drift ``drifts[i]`` over one panel
    (T rows), from ``-max_drift`` to ``+max_drift`` in steps of ``T / (n - 1)`` (n = T rounded up to a power
    of two). Each panel's map is centred and scaled by its own median and MAD (a strided subsample).
    """
    rows, width = panels.shape[-2:]
    n = 1 << max(rows - 1, 1).bit_length()
    step = rows / (n - 1)
    n_pass = max(1, math.ceil(max_drift / (step * (n - 1)) * (1 + 1e-9)))
    pos = _positive_drifts(panels, n_pass, n)
    neg = _positive_drifts(panels.flip(-1), n_pass, n)
    keep = int(math.floor(max_drift / step + 1e-9)) + 1  # tree drifts 0 .. keep-1 are within max_drift
    keep = min(keep, pos.shape[-2])
    neg = neg[..., 1:keep, :].flip(-1).flip(-2)  # start channel f <-> F-1-f and the drift sign flip
    maps = torch.cat([neg, pos[..., :keep, :]], dim=-2)
    drifts = [step * d for d in range(-(keep - 1), keep)]
    sample = maps[..., ::3, ::5].flatten(-2)
    centre = sample.median(dim=-1).values
    spread = (sample - centre[..., None]).abs().median(dim=-1).values * MAD_TO_STD
    maps = (maps - centre[..., None, None]) / spread.clamp_min(1e-3 * math.sqrt(rows))[..., None, None]
    return maps, drifts


def _running_max(a: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    """Maximum over +-radius along ``dim`` (past the edges counts as -inf) in ~log2(radius) whole-tensor ops.

    Sparse-table doubling: windows of 2^k are built by pairing, and a window of 2r + 1 is the max of two
    overlapping 2^k windows. ``max_pool`` would cost the window length per element (181 for the OFF veto).
    """
    if radius <= 0:
        return a
    n = a.shape[dim]
    pad = [0, 0] * (a.ndim - 1 - dim % a.ndim) + [radius, radius]
    m = F.pad(a, pad, value=-torch.inf)
    length, width = 2 * radius + 1, 1
    while 2 * width <= length:
        m = torch.maximum(m.narrow(dim, 0, m.shape[dim] - width), m.narrow(dim, width, m.shape[dim] - width))
        width *= 2
    return torch.maximum(m.narrow(dim, 0, n), m.narrow(dim, length - width, n))


def _dilate(a: torch.Tensor, drift_radius: int, freq_radius: int) -> torch.Tensor:
    """Running maximum of (B, P, D, F) over +-drift_radius drift steps and +-freq_radius channels."""
    return _running_max(_running_max(a, drift_radius, -2), freq_radius, -1)


@functools.lru_cache(maxsize=16)
def _track_index(drifts: tuple[float, ...], width: int, offset: int, device: torch.device):
    """(D, F) channel ``f + offset * drift`` of the track continued ``offset`` panels later, clamped, and
    whether it is inside the band."""
    step = torch.tensor(drifts, dtype=torch.float64)[:, None]
    pos = torch.round(torch.arange(width, dtype=torch.float64)[None, :] + offset * step).long()
    inside = (pos >= 0) & (pos < width)
    return pos.clamp(0, width - 1).to(device), inside.to(device)


def _along(maps: torch.Tensor, drifts: tuple[float, ...], offset: int) -> torch.Tensor:
    """(B, D, F) values along each track continued ``offset`` panels later (0 outside the band)."""
    if offset == 0:
        return maps
    index, inside = _track_index(drifts, maps.shape[-1], offset, maps.device)
    values = torch.gather(maps, -1, index.expand(maps.shape[0], -1, -1))
    return values * inside


class DriftSearch(nn.Module):
    """Drift-search features of a stacked six-panel image (see the module docstring).

    Lengths are in Kaggle channels (256 across the band) and scale with the image width:
    ``max_drift`` (largest |drift| searched, channels per panel), ``on_freq_tol``/``on_drift_tol`` (how far
    a track may wander between ON panels, channels / drift steps), ``off_freq_tol``/``off_drift_tol`` (how
    far from the track an OFF line still vetoes). ``scale`` divides the S/N features (keeps them ~O(1)).
    """

    num_features = NUM_FEATURES

    def __init__(
        self,
        max_drift: float = 85.0,
        on_freq_tol: int = 2,
        on_drift_tol: int = 2,
        off_freq_tol: int = 90,
        off_drift_tol: int = 2,
        scale: float = 10.0,
    ) -> None:
        super().__init__()
        if max_drift <= 0:
            raise ValueError(f"model.hybrid.max_drift must be > 0 channels per panel, got {max_drift}")
        for key, value in dict(
            on_freq_tol=on_freq_tol, on_drift_tol=on_drift_tol, off_freq_tol=off_freq_tol, off_drift_tol=off_drift_tol
        ).items():
            if int(value) != value or value < 0:
                raise ValueError(f"model.hybrid.{key} must be a whole number >= 0, got {value}")
        if scale <= 0:
            raise ValueError(f"model.hybrid.scale must be > 0, got {scale}")
        self.max_drift = float(max_drift)
        self.on_tol = (int(on_drift_tol), int(on_freq_tol))
        self.off_tol = (int(off_drift_tol), int(off_freq_tol))
        self.scale = float(scale)

    @staticmethod
    def check_image(shape: tuple[int, ...]) -> None:
        """Refuse anything but a (B, 1, 6*T, F) stack, naming the data settings that make one."""
        if len(shape) != 4 or shape[1] != 1 or shape[2] % PANELS or shape[2] < 2 * PANELS:
            raise ValueError(
                f"the drift search (model.hybrid) needs the six panels stacked in one channel, (B, 1, 6*T, F) "
                f"with T >= 2 rows per panel; got an input of shape {tuple(shape)}. Set data.panels=all "
                "data.layout=stack and a data.image_size height divisible by 6, e.g. [180,256]"
            )

    @torch.no_grad()
    def forward(self, image: torch.Tensor) -> torch.Tensor:
        self.check_image(tuple(image.shape))
        b, _, height, width = image.shape
        units = width / KAGGLE_CHANNELS  # image channels per Kaggle channel
        panels = image.float().reshape(b, PANELS, height // PANELS, width)
        maps, drifts = drift_maps(panels, self.max_drift * units)
        key = tuple(drifts)
        on_d, on_f = self.on_tol[0], round(self.on_tol[1] * units)
        off_d, off_f = self.off_tol[0], round(self.off_tol[1] * units)
        on = _dilate(maps[:, list(ON_PANELS)], on_d, on_f)
        off = _dilate(maps[:, list(OFF_PANELS)], off_d, off_f)
        off_same = off.amax(dim=1)  # OFF near the anchor's own channel, the same for every anchor
        best = torch.full((b, NUM_FEATURES), -torch.inf, device=image.device)
        for anchor in ON_PANELS:
            a, c, e = (_along(on[:, i], key, p - anchor) for i, p in enumerate(ON_PANELS))
            evidence = (a + c + e - torch.minimum(torch.minimum(a, c), e)) * 0.5
            veto = off_same
            for i, q in enumerate(OFF_PANELS):
                veto = torch.maximum(veto, _along(off[:, i], key, q - anchor))
            found = torch.stack([(evidence - w * veto).flatten(1).amax(dim=1) for w in VETO_WEIGHTS], dim=1)
            best = torch.maximum(best, found)
        return best / self.scale
