"""A bank of setigen-style needles drawn once, cached on disk, and added to cadences on the training device.

Why a bank: :func:`seti.data.synthetic.inject_needle` draws a fresh needle per call (~5-10 ms of numpy in a
DataLoader worker), which the device data path cannot do on a GPU. The bank draws ``size`` needles once
with the same code (``sample_needle`` placed in band in all three ON panels, ``render_numpy`` pixels) at
unit noise level, stores them as float16 ``(size, 3, 273, 256)`` under the data directory (keyed by a hash
of the needle parameters, the size and the seed, written atomically so parallel jobs never read half a
file), and :meth:`NeedleBank.inject` adds a random one to the ON panels of chosen cadences, scaled by each
cadence's own noise level as ``inject_needle`` does, then re-z-scores those panels.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
from pathlib import Path

import numpy as np
import torch

from seti.atomic import atomic_write
from seti.data.layout import ON_PANELS
from seti.data.synthetic import FCHANS, TCHANS, SyntheticParams, render_numpy, sample_needle

log = logging.getLogger(__name__)

#: bump when the bank's content for the same (params, size, seed) changes
BANK_VERSION = 1


def bank_key(params: SyntheticParams, size: int, seed: int) -> str:
    """Hash of everything that decides the bank's bytes."""
    spec = {"version": BANK_VERSION, "params": params.to_dict(), "size": int(size), "seed": int(seed)}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def draw_needles(params: SyntheticParams, size: int, seed: int = 0) -> np.ndarray:
    """``size`` needles in the three ON panels at unit noise std: float16 (size, 3, 273, 256).

    Needle i comes from its own generator seeded by (seed, i), so a bank is reproducible and a larger bank
    starts with the same needles.
    """
    bank = np.zeros((size, len(ON_PANELS), TCHANS, FCHANS), dtype=np.float32)
    for i in range(size):
        rng = np.random.default_rng([int(seed), i])
        spec = sample_needle(rng, params, ON_PANELS)
        level = spec.snr / math.sqrt(TCHANS)  # setigen's get_intensity(snr) with noise std 1
        for j, panel in enumerate(ON_PANELS):
            render_numpy(spec, panel, level, bank[i, j])
    return bank.astype(np.float16)


def load_or_draw(directory: str | Path, params: SyntheticParams, size: int, seed: int = 0) -> np.ndarray:
    """The bank from ``directory/needles-<key>.npy``, drawn and saved atomically on first use."""
    if int(size) < 1:
        raise ValueError(f"data.needle_bank_size must be >= 1, got {size}")
    path = Path(directory) / f"needles-{bank_key(params, size, seed)}.npy"
    expected = (int(size), len(ON_PANELS), TCHANS, FCHANS)
    if path.is_file():
        try:
            bank = np.load(path, allow_pickle=False)
            if bank.shape == expected and bank.dtype == np.float16:
                return bank
            log.warning(
                "needle bank %s has shape %s %s, expected %s float16: drawing it again",
                path,
                bank.shape,
                bank.dtype,
                expected,
            )
        except (ValueError, OSError, EOFError) as err:
            log.warning("needle bank %s is unreadable (%s): drawing it again", path, err)
    log.info("drawing a bank of %d needles into %s (once per needle config)", size, path)
    bank = draw_needles(params, int(size), seed)
    buffer = io.BytesIO()
    np.save(buffer, bank, allow_pickle=False)
    atomic_write(path, lambda handle: handle.write(buffer.getbuffer()))
    return bank


def sigma_clipped_std(panels: torch.Tensor, sigma: float = 3.0, maxiters: int = 5, stride: int = 3) -> torch.Tensor:
    """Per panel of (N, rows, cols): std after iterative median-centred ``sigma`` clipping.

    The batched twin of :func:`seti.data.synthetic.sigma_clipped_std` (setigen's frame noise estimate, from
    every ``stride``-th pixel as ``inject_needle`` uses it): clipped pixels become NaN so every panel keeps
    its own count. A panel whose clip set stops changing stays fixed, as the loop there breaks.
    """
    keep = panels.reshape(panels.shape[0], -1)[:, ::stride].float()
    for _ in range(maxiters):
        median = keep.nanmedian(dim=1, keepdim=True).values
        std = _nanstd(keep)
        keep = torch.where((keep - median).abs() <= sigma * std, keep, torch.full_like(keep, float("nan")))
    return _nanstd(keep).squeeze(1)


def _nanstd(values: torch.Tensor) -> torch.Tensor:
    mean = values.nanmean(dim=1, keepdim=True)
    return (values - mean).square().nanmean(dim=1, keepdim=True).sqrt()


def zscore_panels(panels: torch.Tensor) -> torch.Tensor:
    """Each (rows, cols) panel to mean 0, std 1; a constant panel becomes zeros (as synthetic.backgrounds._zscore)."""
    flat = panels.flatten(-2)
    centred = flat - flat.mean(dim=-1, keepdim=True)
    std = centred.square().mean(dim=-1, keepdim=True).sqrt()
    scaled = torch.where(std > 0, centred / std.clamp_min(torch.finfo(std.dtype).tiny), torch.zeros_like(centred))
    return scaled.view_as(panels)


class NeedleBank:
    """The drawn needles as a tensor, moved to the batch's device on first use."""

    def __init__(self, needles: np.ndarray | torch.Tensor) -> None:
        self.needles = torch.as_tensor(needles)
        if self.needles.ndim != 4 or tuple(self.needles.shape[1:]) != (len(ON_PANELS), TCHANS, FCHANS):
            raise ValueError(f"a needle bank is (N, 3, {TCHANS}, {FCHANS}), got {tuple(self.needles.shape)}")

    def __len__(self) -> int:
        return len(self.needles)

    def on(self, device: torch.device) -> torch.Tensor:
        if self.needles.device != device:
            self.needles = self.needles.to(device)
        return self.needles

    def inject(self, cadences: torch.Tensor, which: torch.Tensor, picks: torch.Tensor | None = None) -> torch.Tensor:
        """Add a random bank needle to the ON panels of ``cadences[which]`` (float32 (B, 6, 273, 256)).

        As ``inject_needle``: the needle is scaled by the sigma-clipped noise std of the cadence's first ON
        panel, then the ON panels are z-scored again. Returns a new tensor; the caller sets the labels.
        ``picks`` chooses the bank needles (one per chosen cadence) instead of drawing them.
        """
        rows = which.nonzero().squeeze(1)
        if rows.numel() == 0:
            return cadences
        needles = self.on(cadences.device)
        if picks is None:
            picks = torch.randint(len(needles), (rows.numel(),), device=cadences.device)
        on = torch.tensor(ON_PANELS, device=cadences.device)
        chosen = cadences[rows][:, on]  # (k, 3, 273, 256)
        noise = sigma_clipped_std(chosen[:, 0])
        injected = zscore_panels(chosen + needles[picks].float() * noise[:, None, None, None])
        out = cadences.clone()
        out[rows[:, None], on[None, :]] = injected
        return out
