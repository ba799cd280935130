"""What the hybrid model (``model.hybrid``) needs around its drift search: the CNN's smaller view of the
input, and a memo of the search's features.

Why a memo: the search is a pure function of the image and costs ~7 ms per cadence on a CPU core, as much
as the small CNN's whole training step. Validation images and the training cadences an epoch leaves
untouched are the same tensors every epoch, so their features are computed once; injected or mixed images
are new and always computed. Results are identical with and without it (a test checks).
"""

from __future__ import annotations

from collections import OrderedDict

import torch

from seti.models.drift_search import PANELS, DriftSearch
from seti.resample import resize


def check_cnn_size(size) -> tuple[int, int] | None:
    """``model.hybrid.cnn_size`` as (height, width), or None; refused unless both are >= 8 and the height is
    divisible by 6 (one share per panel)."""
    if size is None:
        return None
    checked = tuple(int(v) for v in size)
    if len(checked) != 2 or min(checked) < 8 or checked[0] % PANELS:
        raise ValueError(
            f"model.hybrid.cnn_size must be [height, width], both >= 8 with the height divisible by {PANELS} "
            f"(one share per panel), or null; got {list(size)}"
        )
    return checked


def panel_resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, 1, 6*T, F) stacked panels -> (B, 1, height, width), each panel area-resized on its own (rows never
    mix across panels), so the CNN gets the same layout at lower resolution."""
    height, width = check_cnn_size(size)
    b, c, rows, channels = image.shape
    if (rows, channels) == (height, width):
        return image
    panels = image.float().reshape(b * c, PANELS, rows // PANELS, channels)
    return resize(panels, height // PANELS, width).reshape(b, c, height, width).contiguous()


class FeatureCache:
    """Drift-search features memoised by an exact fingerprint of each image.

    The fingerprint is the image's float64 dot product with a fixed random vector, together with its sum:
    two different images share it only by a coincidence of 2 float64 values. Holds up to ``max_items``
    entries (oldest dropped first); not saved in checkpoints.
    """

    def __init__(self, max_items: int = 200_000) -> None:
        self.max_items = int(max_items)
        self.store: OrderedDict[tuple[float, float], torch.Tensor] = OrderedDict()
        self.probe: torch.Tensor | None = None
        self.hits = self.misses = 0

    def keys(self, images: torch.Tensor) -> list[tuple[float, float]]:
        flat = images.detach().reshape(len(images), -1).double()
        if self.probe is None or self.probe.shape[0] != flat.shape[1] or self.probe.device != flat.device:
            generator = torch.Generator().manual_seed(0)
            self.probe = torch.rand(flat.shape[1], generator=generator, dtype=torch.float64).to(flat.device)
        return list(zip((flat @ self.probe).tolist(), flat.sum(dim=1).tolist()))

    def __call__(self, images: torch.Tensor, search: DriftSearch) -> torch.Tensor:
        keys = self.keys(images)
        missing = [i for i, key in enumerate(keys) if key not in self.store]
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        if missing:
            index = torch.tensor(missing, device=images.device)
            found = search(images.index_select(0, index))
            for i, row in zip(missing, found):
                self.store[keys[i]] = row
            while len(self.store) > self.max_items:
                self.store.popitem(last=False)
        return torch.stack([self.store[key] for key in keys]).to(images.device)
