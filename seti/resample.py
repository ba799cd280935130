"""Exact area resampling of images on any device: shared by the data layer (cadence -> image) and the
hybrid model (its CNN's smaller view of the input), so both shrink an image the same way.

Shrinking is exact area averaging (a needle's flux per unit length is kept), growing is linear
interpolation; both as banded matrices applied separably, rows then columns.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

__all__ = ["resize", "resize_weights"]


def resize_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float64 weights resizing one axis from ``n_in`` to ``n_out`` samples.

    Shrinking: exact area averaging. Output pixel i covers input span [i*s, (i+1)*s) with s = n_in/n_out,
    and each input pixel is weighted by its overlap with that span, divided by s. Each row sums to 1 and
    every column to 1/s: the mean (a needle's flux per unit length) is kept exactly. With both axes
    shrinking this is what cv2's INTER_AREA computes.

    Growing: linear interpolation on pixel centres (src = (i + 0.5) / scale - 0.5, clamped at the edges),
    which is cv2's INTER_LINEAR. Equal: identity.
    """
    weights = np.zeros((n_out, n_in), dtype=np.float64)
    if n_out == n_in:
        np.fill_diagonal(weights, 1.0)
    elif n_out < n_in:
        scale = n_in / n_out
        for i in range(n_out):
            start, stop = i * scale, (i + 1) * scale
            for j in range(int(np.floor(start)), min(n_in, int(np.ceil(stop)))):
                weights[i, j] = max(0.0, min(stop, j + 1) - max(start, j)) / scale
    else:
        src = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0, n_in - 1)
        low = np.floor(src).astype(np.int64)
        high = np.minimum(low + 1, n_in - 1)
        frac = src - low
        rows = np.arange(n_out)
        np.add.at(weights, (rows, low), 1.0 - frac)
        np.add.at(weights, (rows, high), frac)
    return weights


@functools.lru_cache(maxsize=64)
def _band_on(n_in: int, n_out: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The resize matrix of :func:`resize_weights` as a band, built once per (in, out, device).

    Row i of the matrix is non-zero only on a short run of K inputs (K <= ceil(n_in/n_out) + 1 when
    shrinking, 2 when growing), so it is stored as (n_out, K) input indices and weights: applying it is a
    gather and a K-term sum, ~K/n_in of a dense matmul's work (a 512-wide linear resize is 250x cheaper).
    Returns (n_out, K) int64 indices and float32 weights.
    """
    dense = resize_weights(n_in, n_out)
    nonzero = dense != 0
    first = nonzero.argmax(axis=1)
    last = n_in - 1 - nonzero[:, ::-1].argmax(axis=1)
    k = int((last - first).max()) + 1
    index = np.minimum(first[:, None] + np.arange(k), n_in - 1)
    weight = np.take_along_axis(dense, index, axis=1)
    weight[first[:, None] + np.arange(k) > n_in - 1] = 0.0  # padding past the edge adds nothing
    return torch.from_numpy(index).to(device), torch.from_numpy(weight.astype(np.float32)).to(device)


def _resize_rows(planes: torch.Tensor, n_out: int) -> torch.Tensor:
    """(..., H, W) -> (..., n_out, W): the band of ``resize_weights(H, n_out)`` applied along rows.

    Rows are gathered whole (contiguous copies), which is fast on every device; columns are resized by
    transposing first (see :func:`resize`).
    """
    index, weight = _band_on(planes.shape[-2], n_out, planes.device)
    out = planes.index_select(-2, index[:, 0]) * weight[:, :1]
    for k in range(1, index.shape[1]):  # K terms, each a gather of whole rows and a fused multiply-add
        out.addcmul_(planes.index_select(-2, index[:, k]), weight[:, k : k + 1])
    return out


def resize(planes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize the last two axes of float32 ``planes`` (..., H, W) to (height, width): Wh @ X @ Ww^T.

    Separable: rows first, then columns on the transposed planes. The result is a transposed view of a
    contiguous (..., width, height) tensor when the width changes, which is the layout the per-channel
    median wants next. Always a new tensor.
    """
    if planes.shape[-2] != height:
        planes = _resize_rows(planes, height)
        if planes.shape[-1] == width:
            return planes
    columns = planes.transpose(-1, -2)
    if columns.shape[-2] != width:
        columns = _resize_rows(columns.contiguous(), width)
    else:
        columns = columns.contiguous()
    return columns.transpose(-1, -2)
