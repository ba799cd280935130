"""Small figures logged by a run (ROC curve, sample inputs) as numpy RGB images."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _to_rgb(fig) -> np.ndarray:
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image


def roc_figure(target: np.ndarray, pred: np.ndarray) -> np.ndarray:
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(target, pred)
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    ax.plot(fpr, tpr, label=f"AUROC {roc_auc_score(target, pred):.4f}")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="validation ROC")
    ax.legend(loc="lower right")
    return _to_rgb(fig)


def sample_images(dataset, count: int) -> list[tuple[np.ndarray, str]]:
    """The first ``count`` (augmented) training inputs, channels side by side, with their labels."""
    out = []
    for index in range(min(count, len(dataset))):
        image, target, _ = dataset[index]
        tiles = np.concatenate(list(image.numpy()), axis=1)
        low, high = np.percentile(tiles, [1, 99.5])
        out.append((np.clip((tiles - low) / (high - low + 1e-6), 0, 1), f"{dataset.ids[index]} label={int(target)}"))
    return out
