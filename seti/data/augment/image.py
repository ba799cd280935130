"""Image transforms on the preprocessed image: the albumentations list and its batched torch twins.

The ``aug.image`` list of albumentations ``_target_`` configs is built once (:func:`build_image_augment`)
and runs per sample in the DataLoader workers on (H, W, C) float32 images. The device path cannot run
albumentations on a GPU batch, so :func:`translate_image_augment` reads the built transforms back into
the batched torch ops below, with the same arguments and probabilities, drawn per sample. A new
albumentations transform on the device path is a dataclass here and a branch in :func:`_translate`;
anything the ops cannot reproduce exactly is refused, naming the entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import albumentations as A
import torch
from hydra.utils import instantiate

from seti.data.augment.draws import chosen, randint

SUPPORTED_IMAGE_TRANSFORMS = ("HorizontalFlip", "Affine", "XYMasking", "CoarseDropout")
_WORKERS_HINT = "use data.transforms=workers to run albumentations in the DataLoader workers instead"


def build_image_augment(transforms: list | None) -> A.Compose | None:
    """Instantiate the ``aug.image`` list into a strict Compose (None when empty).

    ``strict=True`` turns a misspelt argument (albumentations 2.x renamed many) into an error instead of
    a warning that silently disables the transform.
    """
    if not transforms:
        return None
    built = []
    for index, spec in enumerate(transforms):
        try:
            transform = instantiate(spec)
            A.Compose([transform], strict=True)  # rejects arguments the transform silently ignores
            built.append(transform)
        except Exception as err:  # noqa: BLE001 - re-raised with the config position
            raise ValueError(f"aug.image[{index}] ({_target_of(spec)}) could not be built: {err}") from err
    return A.Compose(built, strict=True)


def translate_image_augment(image: A.Compose | None) -> list[Callable[[torch.Tensor], torch.Tensor]]:
    """The built ``aug.image`` Compose as batched torch ops with the same arguments, in the same order."""
    if image is None:
        return []
    return [
        _translate(built, f"aug.image[{index}] ({type(built).__name__})")
        for index, built in enumerate(image.transforms)
    ]


# ---- the batched ops ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlipFrequency:
    """albumentations.HorizontalFlip: reverse the frequency axis (the last one)."""

    p: float = 0.5

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        hit = chosen(self.p, len(images), images.device)
        return torch.where(hit[:, None, None, None], images.flip(-1), images)


@dataclass(frozen=True)
class ShiftFrequency:
    """albumentations.Affine restricted to a translation along x (frequency), constant ``fill`` border.

    The shift is drawn per sample as albumentations does: ``int(uniform(*translate_percent.x) * width)``
    pixels, or ``randint(*translate_px.x)``; positive moves the image right.
    """

    p: float
    percent: tuple[float, float] | None
    pixels: tuple[int, int] | None
    fill: float = 0.0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        batch, width, device = len(images), images.shape[-1], images.device
        if self.percent is not None:
            low, high = self.percent
            fraction = low + (high - low) * torch.rand(batch, device=device)
            shift = (fraction * width).trunc().long()
        else:
            shift = randint(self.pixels[0], self.pixels[1], (batch,), device)
        shift = torch.where(chosen(self.p, batch, device), shift, torch.zeros_like(shift))
        source = torch.arange(width, device=device)[None, :] - shift[:, None]  # (B, W)
        inside = (source >= 0) & (source < width)
        index = source.clamp(0, width - 1)[:, None, None, :].expand_as(images)
        shifted = images.gather(-1, index)
        return torch.where(inside[:, None, None, :], shifted, torch.full_like(shifted, self.fill))


@dataclass(frozen=True)
class MaskStripes:
    """albumentations.XYMasking: per sample, randint(*num_masks_x) full-height stripes of
    randint(*mask_x_length) columns and likewise rows, at uniform positions, set to ``fill``."""

    p: float
    num_masks_x: tuple[int, int]
    num_masks_y: tuple[int, int]
    mask_x_length: tuple[int, int]
    mask_y_length: tuple[int, int]
    fill: float = 0.0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        batch, device = len(images), images.device
        height, width = images.shape[-2:]
        hit = chosen(self.p, batch, device)
        cols = _stripes(batch, width, self.num_masks_x, self.mask_x_length, device)  # (B, W)
        rows = _stripes(batch, height, self.num_masks_y, self.mask_y_length, device)  # (B, H)
        masked = (rows[:, :, None] | cols[:, None, :]) & hit[:, None, None]
        return images.masked_fill(masked[:, None], self.fill)


def _stripes(batch: int, length: int, count: tuple[int, int], size: tuple[int, int], device) -> torch.Tensor:
    """(B, length) bool: the union of per-sample stripes (count and sizes drawn per sample and stripe)."""
    most = int(count[1])
    if most <= 0 or int(size[1]) <= 0:
        return torch.zeros(batch, length, dtype=torch.bool, device=device)
    number = randint(count[0], count[1], (batch,), device)
    sizes = randint(size[0], size[1], (batch, most), device).clamp_max(length)
    starts = randint(0, length - sizes, (batch, most), device)
    used = torch.arange(most, device=device)[None, :] < number[:, None]
    position = torch.arange(length, device=device)[None, None, :]
    inside = (position >= starts[..., None]) & (position < (starts + sizes)[..., None]) & used[..., None]
    return inside.any(dim=1)


@dataclass(frozen=True)
class DropRectangles:
    """albumentations.CoarseDropout: per sample, randint(*num_holes_range) rectangles set to ``fill``.

    Hole sizes as albumentations draws them: pixels in [low, high] when the range's upper end is >= 1,
    else ``int(size * uniform(low, high))``; positions uniform with the hole inside the image.
    """

    p: float
    num_holes_range: tuple[int, int]
    hole_height_range: tuple[float, float]
    hole_width_range: tuple[float, float]
    fill: float = 0.0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        batch, device = len(images), images.device
        height, width = images.shape[-2:]
        most = int(self.num_holes_range[1])
        if most <= 0:
            return images
        hit = chosen(self.p, batch, device)
        number = randint(self.num_holes_range[0], self.num_holes_range[1], (batch,), device)
        pixels = self.hole_height_range[1] >= 1
        hole_h = self._sizes(self.hole_height_range, height, pixels, (batch, most), device)
        hole_w = self._sizes(self.hole_width_range, width, pixels, (batch, most), device)
        top = randint(0, height - hole_h, (batch, most), device)
        left = randint(0, width - hole_w, (batch, most), device)
        used = (torch.arange(most, device=device)[None, :] < number[:, None]) & hit[:, None]
        ys = torch.arange(height, device=device)[None, None, :]
        xs = torch.arange(width, device=device)[None, None, :]
        in_rows = (ys >= top[..., None]) & (ys < (top + hole_h)[..., None]) & used[..., None]  # (B, n, H)
        in_cols = (xs >= left[..., None]) & (xs < (left + hole_w)[..., None])  # (B, n, W)
        masked = (in_rows.float().transpose(1, 2) @ in_cols.float()) > 0  # (B, H, W): any hole covers it
        return images.masked_fill(masked[:, None], self.fill)

    @staticmethod
    def _sizes(bounds, size: int, pixels: bool, shape, device) -> torch.Tensor:
        if pixels:
            return randint(int(bounds[0]), int(min(bounds[1], size)), shape, device)
        low, high = bounds
        return (size * (low + (high - low) * torch.rand(shape, device=device))).long()


def _translate(built: Any, where: str) -> Callable[[torch.Tensor], torch.Tensor]:
    name = type(built).__name__
    p = float(built.p)
    if isinstance(built, A.HorizontalFlip):
        return FlipFrequency(p)
    if isinstance(built, A.Affine):
        identity = (
            built.scale == {"x": (1.0, 1.0), "y": (1.0, 1.0)}
            and tuple(built.rotate) == (0.0, 0.0)
            and built.shear == {"x": (0.0, 0.0), "y": (0.0, 0.0)}
            and not built.fit_output
        )
        percent = None if built.translate_percent is None else tuple(float(v) for v in built.translate_percent["x"])
        pixels = tuple(int(v) for v in built.translate_px["x"]) if built.translate_px is not None else None
        y_range = (built.translate_percent or built.translate_px or {"y": (0, 0)})["y"]
        if not identity or tuple(float(v) for v in y_range) != (0.0, 0.0):
            raise ValueError(
                f"{where}: only a translation along x (frequency) is supported on the device; {_WORKERS_HINT}"
            )
        if built.border_mode != 0:
            raise ValueError(f"{where}: only border_mode=0 (constant fill) is supported on the device; {_WORKERS_HINT}")
        return ShiftFrequency(p, percent, None if percent is not None else pixels, _fill(built.fill, where))
    if isinstance(built, A.XYMasking):
        return MaskStripes(
            p,
            _pair(built.num_masks_x),
            _pair(built.num_masks_y),
            _pair(built.mask_x_length),
            _pair(built.mask_y_length),
            _fill(built.fill, where),
        )
    if isinstance(built, A.CoarseDropout):
        return DropRectangles(
            p,
            _pair(built.num_holes_range),
            tuple(built.hole_height_range),
            tuple(built.hole_width_range),
            _fill(built.fill, where),
        )
    raise ValueError(
        f"{where}: {name} has no device version (supported: {', '.join(SUPPORTED_IMAGE_TRANSFORMS)}); {_WORKERS_HINT}"
    )


def _pair(value: Any) -> tuple[int, int]:
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)):
        return (int(value), int(value))
    return (int(value[0]), int(value[1]))


def _fill(value: Any, where: str) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    raise ValueError(f"{where}: fill={value!r} is not supported on the device (a number is); {_WORKERS_HINT}")


def _target_of(spec: Any) -> str:
    try:
        return str(spec.get("_target_", "?"))
    except AttributeError:
        return "?"
