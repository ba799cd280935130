"""Sample model inputs as images, for a glance in W&B at what the network is fed."""

from __future__ import annotations

import numpy as np


def sample_images(dataset, count: int) -> list[tuple[np.ndarray, str]]:
    """The first ``count`` (augmented) training inputs, channels side by side, with their labels."""
    out = []
    for index in range(min(count, len(dataset))):
        image, target, _ = dataset[index]
        tiles = np.concatenate(list(image.numpy()), axis=1)
        low, high = np.percentile(tiles, [1, 99.5])
        out.append((np.clip((tiles - low) / (high - low + 1e-6), 0, 1), f"{dataset.ids[index]} label={int(target)}"))
    return out
