"""Needle injection: one way to add a setigen-style needle to the ON panels of a cadence, and its bank.

:func:`inject_needles` is the one injection, batched in torch: each chosen cadence gets a needle drawn at
unit noise level (:func:`draw_needle`: ``sample_needle`` placed in band in all three ON panels, rendered by
``render_numpy``), scaled by the sigma-clipped noise std of its first ON panel as setigen's
``get_intensity`` does, then its ON panels are z-scored again. The workers path
(:meth:`CadenceAugment.__call__ <seti.data.augment.cadence.CadenceAugment.__call__>`) draws a fresh needle
per call and injects it as a batch of one; the device path cannot run numpy on a GPU, so it draws
:func:`draw_needles` once into a :class:`NeedleBank` and picks from it.

The bank is cached as float16 ``(size, 3, 273, 256)`` under ``data.needle_bank_dir``, keyed by a hash of
the needle parameters, the size and the seed, written atomically with a sha256 beside it. A bank that does
not match its checksum, has the wrong shape, or holds a non-finite value is drawn again with a warning:
a NaN needle would make blank ON panels labelled 1.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import torch

from seti.atomic import atomic_write_bytes, atomic_write_text
from seti.data.layout import ON_PANELS
from seti.data.synthetic import FCHANS, TCHANS, SyntheticParams, render_numpy, sample_needle
from seti.errors import SetiError

log = logging.getLogger(__name__)

#: bump when the bank's content for the same (params, size, seed) changes
BANK_VERSION = 1
#: the config key users set; named in every error about the bank's folder
BANK_DIR_KEY = "data.needle_bank_dir"


class NeedleBankError(SetiError, OSError):
    """The bank's folder cannot hold the bank (not a folder, not writable)."""


def draw_needle(rng: np.random.Generator, params: SyntheticParams) -> np.ndarray:
    """One needle in the three ON panels at unit noise std: float32 (3, 273, 256), drawn from ``rng``."""
    needle = np.zeros((len(ON_PANELS), TCHANS, FCHANS), dtype=np.float32)
    spec = sample_needle(rng, params, ON_PANELS)
    level = spec.snr / math.sqrt(TCHANS)  # setigen's get_intensity(snr) with noise std 1
    for j, panel in enumerate(ON_PANELS):
        render_numpy(spec, panel, level, needle[j])
    return needle


def draw_needles(params: SyntheticParams, size: int, seed: int = 0) -> np.ndarray:
    """``size`` needles of :func:`draw_needle`: float16 (size, 3, 273, 256).

    Needle i comes from its own generator seeded by (seed, i), so a bank is reproducible and a larger bank
    starts with the same needles.
    """
    return np.stack([draw_needle(np.random.default_rng([int(seed), i]), params) for i in range(size)]).astype(
        np.float16
    )


def bank_key(params: SyntheticParams, size: int, seed: int) -> str:
    """Hash of everything that decides the bank's bytes."""
    spec = {"version": BANK_VERSION, "params": params.to_dict(), "size": int(size), "seed": int(seed)}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def bank_path(directory: str | Path, params: SyntheticParams, size: int, seed: int = 0) -> Path:
    return Path(directory) / f"needles-{bank_key(params, size, seed)}.npy"


def checksum_path(path: Path) -> Path:
    """Where the bank's sha256 is written, beside it."""
    return path.with_name(path.name + ".sha256")


def load_or_draw(directory: str | Path, params: SyntheticParams, size: int, seed: int = 0) -> np.ndarray:
    """The verified bank from ``directory``, or a new one drawn and saved there (atomically, checksum last)."""
    if int(size) < 1:
        raise ValueError(f"data.needle_bank_size must be >= 1, got {size}")
    path = bank_path(directory, params, size, seed)
    expected = (int(size), len(ON_PANELS), TCHANS, FCHANS)
    if path.is_file():
        bank, problem = _verified(path, expected)
        if bank is not None:
            return bank
        log.warning("needle bank %s %s: drawing it again", path, problem)
    _check_writable(Path(directory))
    log.info("drawing a bank of %d needles into %s (once per needle config)", size, path)
    bank = draw_needles(params, int(size), seed)
    buffer = io.BytesIO()
    np.save(buffer, bank, allow_pickle=False)
    data = buffer.getvalue()
    try:
        atomic_write_bytes(path, data)
        atomic_write_text(checksum_path(path), hashlib.sha256(data).hexdigest() + "\n")
    except OSError as err:
        raise _folder_error(Path(directory), err) from err
    return bank


def _verified(path: Path, expected: tuple[int, ...]) -> tuple[np.ndarray | None, str]:
    """(the bank, "") when its bytes match the checksum beside it and it is finite and well shaped, else
    (None, what is wrong)."""
    try:
        data = path.read_bytes()
    except OSError as err:
        return None, f"is unreadable ({err})"
    try:
        recorded = checksum_path(path).read_text().strip()
    except OSError:
        return None, f"has no readable checksum {checksum_path(path).name}"
    if hashlib.sha256(data).hexdigest() != recorded:
        return None, f"does not match its checksum {checksum_path(path).name}"
    try:
        bank = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        return None, f"is unreadable ({err})"
    if bank.shape != expected or bank.dtype != np.float16:
        return None, f"has shape {bank.shape} {bank.dtype}, expected {expected} float16"
    if not np.isfinite(bank).all():
        return None, "holds non-finite values (NaN or inf)"
    return bank, ""


def _check_writable(directory: Path) -> None:
    """Refuse, naming the folder and the key, before spending time drawing a bank that cannot be saved."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _folder_error(directory, err) from err
    if not os.access(directory, os.W_OK | os.X_OK):
        raise _folder_error(directory, PermissionError("not writable"))


def _folder_error(directory: Path, err: OSError) -> NeedleBankError:
    return NeedleBankError(
        f"cannot keep the needle bank in {directory} ({BANK_DIR_KEY}): {err.strerror or err}. "
        f"Set {BANK_DIR_KEY}=/a/writable/folder, or fix the folder's permissions"
    )


def sigma_clipped_std(panels: torch.Tensor, sigma: float = 3.0, maxiters: int = 5, stride: int = 3) -> torch.Tensor:
    """Per panel of (N, rows, cols): std after iterative median-centred ``sigma`` clipping.

    The batched form of setigen's frame noise estimate (:func:`seti.data.synthetic.sigma_clipped_std`, the
    generator's float64 numpy version, which must stay byte-stable for "same seed, same bytes"), from every
    ``stride``-th pixel: clipped pixels become NaN so every panel keeps its own count. A panel whose clip
    set stops changing stays fixed, as the loop there breaks.
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
    """Each (rows, cols) panel to mean 0, std 1; a constant panel becomes zeros, as the generator's z-scoring."""
    flat = panels.flatten(-2)
    centred = flat - flat.mean(dim=-1, keepdim=True)
    std = centred.square().mean(dim=-1, keepdim=True).sqrt()
    scaled = torch.where(std > 0, centred / std.clamp_min(torch.finfo(std.dtype).tiny), torch.zeros_like(centred))
    return scaled.view_as(panels)


def inject_needles(cadences: torch.Tensor, which: torch.Tensor, needles: torch.Tensor) -> torch.Tensor:
    """Add ``needles`` (k, 3, 273, 256), one per True of ``which``, to the ON panels of float32 ``cadences``.

    Each needle is scaled by the sigma-clipped noise std of its cadence's first ON panel, then the ON panels
    are z-scored again. Returns a new tensor; the caller sets the labels.
    """
    rows = which.nonzero().squeeze(1)
    if rows.numel() == 0:
        return cadences
    on = torch.tensor(ON_PANELS, device=cadences.device)
    chosen = cadences[rows][:, on]  # (k, 3, 273, 256)
    noise = sigma_clipped_std(chosen[:, 0])
    injected = zscore_panels(chosen + needles.to(cadences.device).float() * noise[:, None, None, None])
    out = cadences.clone()
    out[rows[:, None], on[None, :]] = injected
    return out


class NeedleBank:
    """The drawn needles as a tensor, moved to the batch's device on first use."""

    def __init__(self, needles: np.ndarray | torch.Tensor) -> None:
        self.needles = torch.as_tensor(needles)
        if self.needles.ndim != 4 or tuple(self.needles.shape[1:]) != (len(ON_PANELS), TCHANS, FCHANS):
            raise ValueError(f"a needle bank is (N, 3, {TCHANS}, {FCHANS}), got {tuple(self.needles.shape)}")

    def __len__(self) -> int:
        return len(self.needles)

    def pick(self, count: int, device: torch.device, picks: torch.Tensor | None = None) -> torch.Tensor:
        """``count`` needles drawn uniformly with replacement (or the bank's ``picks``), on ``device``."""
        if self.needles.device != device:
            self.needles = self.needles.to(device)
        if picks is None:
            picks = torch.randint(len(self.needles), (count,), device=device)
        return self.needles[picks]
