"""Turn a raw (6, 273, 256) cadence into the float32 (C, H, W) image a CNN sees.

Steps, all from config: choose panels (ON only or all six), optionally remove each panel's per-channel
background (the bandpass stripes that dominate real data) with robust scaling, lay the panels out as one
tall image (``stack``) or as channels (``channels``), and resize to ``image_size``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

# DataLoader workers already run in parallel; cv2's own thread pool in each one only oversubscribes.
cv2.setNumThreads(1)

from seti.data.layout import CADENCE_SHAPE, ON_PANELS

PANEL_SETS = {"on": ON_PANELS, "all": (0, 1, 2, 3, 4, 5)}
LAYOUTS = ("stack", "channels")
BACKGROUNDS = ("none", "median")


@dataclass(frozen=True)
class Preprocessor:
    """Config-driven cadence -> image transform (see module docstring)."""

    panels: str = "all"
    layout: str = "channels"
    background: str = "median"
    image_size: tuple[int, int] = (256, 256)
    clip: tuple[float, float] | None = (-5.0, 20.0)

    def __post_init__(self) -> None:
        if self.panels not in PANEL_SETS:
            raise ValueError(f"data.panels must be one of {sorted(PANEL_SETS)}, got {self.panels!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"data.layout must be one of {list(LAYOUTS)}, got {self.layout!r}")
        if self.background not in BACKGROUNDS:
            raise ValueError(f"data.background must be one of {list(BACKGROUNDS)}, got {self.background!r}")
        size = tuple(int(s) for s in self.image_size)
        if len(size) != 2 or min(size) < 8:
            raise ValueError(f"data.image_size must be [height, width] with both >= 8, got {list(self.image_size)}")
        object.__setattr__(self, "image_size", size)
        if self.clip is not None:
            low, high = (float(c) for c in self.clip)
            if not low < high:
                raise ValueError(f"data.clip must be [low, high] with low < high, got {list(self.clip)}")
            object.__setattr__(self, "clip", (low, high))

    @property
    def panel_indices(self) -> tuple[int, ...]:
        return PANEL_SETS[self.panels]

    @property
    def in_chans(self) -> int:
        """Channels of the output image: the model's ``in_chans`` follows from this, never set twice."""
        return 1 if self.layout == "stack" else len(self.panel_indices)

    def __call__(self, cadence: np.ndarray) -> np.ndarray:
        """(6, 273, 256) float -> (H, W, C) float32, channels last for albumentations.

        Panels are resized first and cleaned after: area-averaging rows and channels keeps a needle's
        flux, the per-channel stripes survive it, and the median then runs on a few rows instead of
        273, which makes this ~4x cheaper per sample (it runs in every DataLoader worker).
        """
        if cadence.shape != CADENCE_SHAPE:
            raise ValueError(f"expected a cadence of shape {CADENCE_SHAPE}, got {cadence.shape}")
        panels = cadence if len(self.panel_indices) == len(cadence) else cadence[list(self.panel_indices)]
        panels = to_float32(panels)
        height, width = self.image_size
        if self.layout == "stack":
            panel_height = max(4, round(height / len(panels)))
        else:
            panel_height = height
        panels = _resize_planes(panels, panel_height, width)
        if self.background == "median":
            panels = remove_background(panels)
        if self.clip is not None:
            np.clip(panels, *self.clip, out=panels)
        if self.layout == "stack":
            stacked = panels.reshape(1, -1, panels.shape[-1])
            if stacked.shape[1] != height:
                stacked = _resize_planes(stacked, height, width)
            return np.ascontiguousarray(stacked[0][:, :, None])
        return np.ascontiguousarray(panels.transpose(1, 2, 0))


def to_float32(array: np.ndarray) -> np.ndarray:
    """float16 -> float32 through torch (vectorised half conversion, ~5x faster than numpy's astype)."""
    if array.dtype == np.float16:
        return torch.from_numpy(np.ascontiguousarray(array)).float().numpy()
    return np.asarray(array, dtype=np.float32)


def _resize_planes(planes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize each (H, W) plane of a (P, H, W) stack; area averaging when shrinking.

    One contiguous plane at a time: cv2's INTER_AREA takes at most 4 channels.
    """
    if planes.shape[1:] == (height, width):
        return np.array(planes, dtype=np.float32, copy=True)
    shrinking = height * width < planes.shape[1] * planes.shape[2]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.stack([cv2.resize(plane, (width, height), interpolation=interpolation) for plane in planes])


def remove_background(panels: np.ndarray) -> np.ndarray:
    """Per panel: subtract each channel's median over time, divide by the panel's robust std (MAD).

    Real backgrounds carry strong per-channel stripes (bandpass, persistent interference); a drifting
    needle crosses many channels, so removing each channel's time-median takes away the stripes and keeps
    the needle. MAD scaling keeps a bright needle from shrinking everything else.

    Speed matters (this runs per sample in every DataLoader worker): medians come from ``np.partition``
    (the upper median when the row count is even) and the MAD from every third row and channel, which
    moves it by well under 1% on 273 x 256 panels and is ~6x faster than ``np.median``.
    """
    rows = panels.shape[1]
    by_channel = np.ascontiguousarray(panels.transpose(0, 2, 1))  # time last: partition is 2x faster
    median = np.partition(by_channel, rows // 2, axis=2)[:, :, rows // 2]
    centred = panels - median[:, None, :]
    sample = np.abs(centred[:, ::3, ::3]).reshape(len(panels), -1)
    half = sample.shape[1] // 2
    mad = np.partition(sample, half, axis=1)[:, half].reshape(-1, 1, 1)
    centred /= 1.4826 * mad + 1e-6
    return centred
