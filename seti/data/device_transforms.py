"""The device data path (``data.transforms=device``): batched cadence -> image transforms on the training
device, in torch.

DataLoader workers then only read and pin raw float16 cadences; everything else runs here on whole
batches after they reach the device: the cadence-aware augmentations (needle injection from a
:class:`~seti.data.needle_bank.NeedleBank`, OFF shuffle, ON/OFF swap, with the same label rules as
:class:`~seti.data.augment.CadenceAugment`), the shared preprocessing (:meth:`Preprocessor.batch`), and the
``aug.image`` albumentations list translated into batched torch ops with the same arguments and
probabilities, drawn per sample. The same code runs on CPU tensors, which is how the tests check it
against the workers path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from hydra.utils import instantiate

from seti.data.augment import CadenceAugment, _target_of
from seti.data.layout import OFF_PANELS, ON_PANELS
from seti.data.needle_bank import NeedleBank
from seti.data.preprocess import Preprocessor

SUPPORTED_IMAGE_TRANSFORMS = ("HorizontalFlip", "Affine", "XYMasking", "CoarseDropout")
_WORKERS_HINT = "use data.transforms=workers to run albumentations in the DataLoader workers instead"


# ---- image transforms, batched ---------------------------------------------------------------------
def _chosen(p: float, batch: int, device: torch.device) -> torch.Tensor:
    """Which samples of the batch a transform with probability ``p`` applies to."""
    return torch.rand(batch, device=device) < p


def _randint(low: torch.Tensor | int, high: torch.Tensor | int, size: tuple[int, ...], device) -> torch.Tensor:
    """Integers uniform in [low, high] inclusive (broadcast), like ``random.randint``."""
    low_t = torch.as_tensor(low, device=device)
    high_t = torch.as_tensor(high, device=device)
    span = (high_t - low_t + 1).clamp_min(1)
    return low_t + (torch.rand(size, device=device) * span).floor().long().clamp_max(span - 1)


@dataclass(frozen=True)
class FlipFrequency:
    """albumentations.HorizontalFlip: reverse the frequency axis (the last one)."""

    p: float = 0.5

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        chosen = _chosen(self.p, len(images), images.device)
        return torch.where(chosen[:, None, None, None], images.flip(-1), images)


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
            shift = _randint(self.pixels[0], self.pixels[1], (batch,), device)
        shift = torch.where(_chosen(self.p, batch, device), shift, torch.zeros_like(shift))
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
        chosen = _chosen(self.p, batch, device)
        cols = _stripes(batch, width, self.num_masks_x, self.mask_x_length, device)  # (B, W)
        rows = _stripes(batch, height, self.num_masks_y, self.mask_y_length, device)  # (B, H)
        masked = (rows[:, :, None] | cols[:, None, :]) & chosen[:, None, None]
        return images.masked_fill(masked[:, None], self.fill)


def _stripes(batch: int, length: int, count: tuple[int, int], size: tuple[int, int], device) -> torch.Tensor:
    """(B, length) bool: the union of per-sample stripes (count and sizes drawn per sample and stripe)."""
    most = int(count[1])
    if most <= 0 or int(size[1]) <= 0:
        return torch.zeros(batch, length, dtype=torch.bool, device=device)
    number = _randint(count[0], count[1], (batch,), device)
    sizes = _randint(size[0], size[1], (batch, most), device).clamp_max(length)
    starts = _randint(0, length - sizes, (batch, most), device)
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
        chosen = _chosen(self.p, batch, device)
        number = _randint(self.num_holes_range[0], self.num_holes_range[1], (batch,), device)
        pixels = self.hole_height_range[1] >= 1
        hole_h = self._sizes(self.hole_height_range, height, pixels, (batch, most), device)
        hole_w = self._sizes(self.hole_width_range, width, pixels, (batch, most), device)
        top = _randint(0, height - hole_h, (batch, most), device)
        left = _randint(0, width - hole_w, (batch, most), device)
        used = (torch.arange(most, device=device)[None, :] < number[:, None]) & chosen[:, None]
        ys = torch.arange(height, device=device)[None, None, :]
        xs = torch.arange(width, device=device)[None, None, :]
        in_rows = (ys >= top[..., None]) & (ys < (top + hole_h)[..., None]) & used[..., None]  # (B, n, H)
        in_cols = (xs >= left[..., None]) & (xs < (left + hole_w)[..., None])  # (B, n, W)
        masked = (in_rows.float().transpose(1, 2) @ in_cols.float()) > 0  # (B, H, W): any hole covers it
        return images.masked_fill(masked[:, None], self.fill)

    @staticmethod
    def _sizes(bounds, size: int, pixels: bool, shape, device) -> torch.Tensor:
        if pixels:
            return _randint(int(bounds[0]), int(min(bounds[1], size)), shape, device)
        low, high = bounds
        return (size * (low + (high - low) * torch.rand(shape, device=device))).long()


def translate_image_augment(transforms: list | None) -> list[Callable[[torch.Tensor], torch.Tensor]]:
    """The ``aug.image`` albumentations list as batched torch ops with the same arguments.

    Each entry is first built by albumentations itself (so defaults and argument checks are its own), then
    read back. Anything the device ops cannot reproduce exactly is refused, naming the entry.
    """
    if not transforms:
        return []
    import albumentations as A

    ops: list[Callable[[torch.Tensor], torch.Tensor]] = []
    for index, spec in enumerate(transforms):
        where = f"aug.image[{index}] ({_target_of(spec)})"
        try:
            built = instantiate(spec)
            A.Compose([built], strict=True)
        except Exception as err:  # noqa: BLE001 - re-raised with the config position
            raise ValueError(f"{where} could not be built: {err}") from err
        ops.append(_translate(built, where))
    return ops


def _translate(built: Any, where: str) -> Callable[[torch.Tensor], torch.Tensor]:
    import albumentations as A

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


# ---- the whole device path --------------------------------------------------------------------------
class DeviceTransforms:
    """Raw float16 batches on the device -> model inputs, with the workers path's augmentations and labels."""

    def __init__(
        self,
        preprocess: Preprocessor,
        cadence: CadenceAugment | None = None,
        image_ops: list[Callable[[torch.Tensor], torch.Tensor]] | None = None,
        needles: NeedleBank | None = None,
    ) -> None:
        if cadence is not None and cadence.inject_needle_p > 0 and needles is None:
            raise ValueError("aug.cadence.inject_needle_p > 0 needs a needle bank on the device path")
        self.preprocess = preprocess
        self.cadence = cadence
        self.image_ops = list(image_ops or [])
        self.needles = needles

    def eval(self, cadences: torch.Tensor) -> torch.Tensor:
        """Validation, test and predict batches: preprocessing only."""
        return self.preprocess.batch(cadences)

    def train(self, cadences: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training batches: cadence transforms (labels follow), preprocessing, image transforms."""
        if self.cadence is not None:
            cadences, targets = self.augment_cadences(cadences, targets)
        images = self.preprocess.batch(cadences)
        for op in self.image_ops:
            images = op(images)
        return images, targets

    def augment_cadences(self, cadences: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Needle injection into negatives (-> 1), then OFF shuffle (label kept), then ON/OFF swap (-> 0).

        The same order, probabilities and label rules as :class:`~seti.data.augment.CadenceAugment`, drawn
        per sample; both panel moves are one gather.
        """
        aug, device, batch = self.cadence, cadences.device, len(cadences)
        x = cadences.float()
        targets = targets.clone()
        if aug.inject_needle_p > 0:
            inject = (targets == 0) & _chosen(aug.inject_needle_p, batch, device)
            x = self.needles.inject(x, inject)
            targets[inject] = 1
        order = torch.arange(6, device=device).repeat(batch, 1)
        moved = False
        if aug.shuffle_off_p > 0:
            shuffle = _chosen(aug.shuffle_off_p, batch, device)
            off = torch.tensor(OFF_PANELS, device=device)
            permuted = off[torch.rand(batch, len(off), device=device).argsort(dim=1)]
            order[:, off] = torch.where(shuffle[:, None], permuted, order[:, off])
            moved = True
        if aug.swap_on_off_p > 0:
            swap = _chosen(aug.swap_on_off_p, batch, device)
            on_off = torch.tensor(ON_PANELS + OFF_PANELS, device=device)
            off_on = torch.tensor(OFF_PANELS + ON_PANELS, device=device)
            order[:, on_off] = torch.where(swap[:, None], order[:, off_on], order[:, on_off])
            targets[swap] = 0
            moved = True
        if moved:
            x = x.gather(1, order[:, :, None, None].expand_as(x))
        return x, targets


def build_device_transforms(
    aug_cfg, preprocess: Preprocessor, bank_dir: str | None, bank_size: int, bank_seed: int = 0
) -> DeviceTransforms:
    """``aug`` config -> :class:`DeviceTransforms` (the needle bank is drawn or loaded here, once)."""
    from seti.data.augment import build_cadence_augment, check_aug_keys

    cfg = check_aug_keys(aug_cfg) if aug_cfg is not None else None
    cadence = build_cadence_augment(cfg) if cfg is not None else None
    image_ops = translate_image_augment(cfg.get("image")) if cfg is not None else []
    needles = None
    if cadence is not None and cadence.inject_needle_p > 0:
        if not bank_dir:
            raise ValueError("data.needle_bank_dir is not set: the device path keeps its needle bank there")
        from seti.data.needle_bank import load_or_draw

        needles = NeedleBank(load_or_draw(bank_dir, cadence.needle_params, bank_size, bank_seed))
    return DeviceTransforms(preprocess, cadence, image_ops, needles)


class PreprocessThen(torch.nn.Module):
    """``model(preprocess.batch(x))``: scores raw cadence batches with a model trained on the device path."""

    def __init__(self, preprocess: Preprocessor, model: torch.nn.Module) -> None:
        super().__init__()
        self.preprocess = preprocess
        self.model = model

    def forward(self, cadences: torch.Tensor) -> torch.Tensor:
        return self.model(self.preprocess.batch(cadences))
