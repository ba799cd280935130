"""Real backgrounds: label-0 cadences of a Kaggle-layout folder, varied per draw, as the canvas for needles.

Why: generated backgrounds only imitate Green Bank data; the competition's winners injected setigen needles
into the real negatives instead. A few hundred real cadences give many examples because every draw varies
its background (a frequency roll, a frequency flip, fresh noise at the background's own measured level)
before :func:`seti.data.synthetic.backgrounds.generate_cadence` injects RFI, hard negatives and the needle
exactly as it does for generated backgrounds (one home for needle injection).

A dataset built on real backgrounds records its mode, the count of label-0 ids and a hash of their sorted
list in its manifest key (:meth:`BackgroundSource.key`), so a changed background folder is a different
dataset, and ``backgrounds.csv`` says which background every cadence was drawn on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seti.data.layout import LABELS_CSV, CadenceDataError, cadence_path, load_cadence, read_id_table
from seti.data.synthetic.needles import FCHANS, sigma_clipped_std

#: data.synthetic.backgrounds: what a cadence is drawn on
BACKGROUND_MODES = ("generated", "real", "mix")
#: written beside the manifest for real/mix datasets: id, split, background (a real id or "generated")
BACKGROUNDS_CSV = "backgrounds.csv"
GENERATED = "generated"


class BackgroundDataError(CadenceDataError):
    """The real-background folder or its settings cannot serve as backgrounds; the message says the fix."""


def check_background_settings(
    backgrounds: str, background_root: str | Path | None, real_fraction: float, real_noise: float
) -> None:
    """Refuse bad ``data.synthetic`` background settings before anything is generated."""
    if backgrounds not in BACKGROUND_MODES:
        raise BackgroundDataError(f"data.synthetic.backgrounds must be one of {BACKGROUND_MODES}, got {backgrounds!r}")
    if backgrounds == GENERATED and background_root:
        raise BackgroundDataError(
            f"data.synthetic.background_root={background_root} is set but data.synthetic.backgrounds=generated "
            "would not use it: set backgrounds=real or mix, or background_root=null"
        )
    if backgrounds != GENERATED and not background_root:
        raise BackgroundDataError(
            f"data.synthetic.backgrounds={backgrounds} needs data.synthetic.background_root=<a Kaggle-layout "
            f"folder with {LABELS_CSV} and train/> whose label-0 cadences serve as backgrounds"
        )
    if backgrounds != GENERATED and not Path(background_root).is_dir():
        raise BackgroundDataError(
            f"data.synthetic.background_root={background_root} is not a folder; point it at a Kaggle-layout folder"
        )
    if not 0.0 <= float(real_fraction) <= 1.0:
        raise BackgroundDataError(f"data.synthetic.real_fraction must lie in [0, 1], got {real_fraction}")
    if float(real_noise) < 0.0:
        raise BackgroundDataError(f"data.synthetic.real_noise must be >= 0, got {real_noise}")


@dataclass(frozen=True)
class BackgroundSource:
    """Where backgrounds come from: ``mode``; for real/mix the folder, its sorted label-0 ids, the share of
    cadences drawn on them (``real_fraction``: 1 for real, 0 for generated) and the fresh-noise scale."""

    mode: str = GENERATED
    root: Path | None = None
    ids: tuple[str, ...] = ()
    real_fraction: float = 0.0
    real_noise: float = 0.5

    @classmethod
    def load(
        cls,
        backgrounds: str = GENERATED,
        background_root: str | Path | None = None,
        real_fraction: float = 0.5,
        real_noise: float = 0.5,
    ) -> BackgroundSource:
        """Validate the settings and, for real/mix, read the folder's label-0 ids (refusing a folder that is
        not Kaggle layout or has none)."""
        check_background_settings(backgrounds, background_root, real_fraction, real_noise)
        if backgrounds == GENERATED:
            return cls()
        root = Path(background_root)
        labels_csv = root / LABELS_CSV
        if not labels_csv.is_file() or not (root / "train").is_dir():
            raise BackgroundDataError(
                f"data.synthetic.background_root={root} is not a Kaggle-layout folder: it needs {LABELS_CSV} "
                "and train/<id[0]>/<id>.npy; point it at the competition's train folder (or one laid out alike)"
            )
        labels = read_id_table(labels_csv, require_binary_target=True)
        ids = tuple(sorted(labels.loc[labels["target"] == 0, "id"].astype(str)))
        if not ids:
            raise BackgroundDataError(
                f"{labels_csv} has no label-0 cadence: real backgrounds are drawn only from negatives (a "
                "positive already holds a needle); use a folder with some, or data.synthetic.backgrounds=generated"
            )
        missing = [i for i in ids if not cadence_path(root, "train", i).is_file()]
        if missing:
            raise BackgroundDataError(
                f"{len(missing)} label-0 cadence file(s) listed in {labels_csv} are missing under {root}/train "
                f"(first: {cadence_path(root, 'train', missing[0])}); restore them or remove their rows"
            )
        fraction = 1.0 if backgrounds == "real" else float(real_fraction)
        return cls(backgrounds, root, ids, fraction, float(real_noise))

    def ids_sha256(self) -> str:
        return hashlib.sha256("\n".join(self.ids).encode()).hexdigest()

    def key(self) -> dict | None:
        """The manifest key part: what makes two real-background datasets the same (None when generated,
        so generated datasets keep the manifest they always had). The folder's path is not part of it:
        moving the folder keeps the dataset; changing its label-0 ids makes another."""
        if self.mode == GENERATED:
            return None
        return {
            "mode": self.mode,
            "real_fraction": self.real_fraction,
            "real_noise": self.real_noise,
            "label0_ids": len(self.ids),
            "ids_sha256": self.ids_sha256(),
        }

    def plan(self, seed: int, split_code: int, n: int) -> list[str | None]:
        """Per cadence index: the real background id it is drawn on, or None (generated).

        Exactly round(n * real_fraction) cadences are real, at positions shuffled by the seed; the
        backgrounds are dealt in shuffled rounds, so each one is used about equally often. Its own random
        streams: a mix's generated cadences are byte-identical to a generated dataset's at the same index.
        """
        n_real = int(round(n * self.real_fraction)) if self.ids else 0
        real = np.zeros(n, dtype=bool)
        real[:n_real] = True
        real = np.random.default_rng([int(seed), split_code, 3]).permutation(real)
        deal_rng = np.random.default_rng([int(seed), split_code, 4])
        order: list[int] = []
        while len(order) < n_real:
            order.extend(int(i) for i in deal_rng.permutation(len(self.ids)))
        picks = iter(order)
        return [self.ids[next(picks)] if is_real else None for is_real in real]


def measured_noise(panel: np.ndarray) -> float:
    """A panel's noise level: the sigma-clipped std after removing each channel's time median, so the
    bandpass stripes of real data do not count as noise."""
    x = np.asarray(panel, dtype=np.float32)
    return sigma_clipped_std(x - np.median(x, axis=0, keepdims=True), stride=3)


def vary_background(rng: np.random.Generator, cadence: np.ndarray, real_noise: float) -> tuple[np.ndarray, float]:
    """One draw of a real background: float32 ``(6, 273, 256)`` and its noise std (for the RFI level).

    Rolled along frequency by a random number of channels (the same for all six panels), flipped along
    frequency with probability 1/2 (physically harmless: the drift changes sign), then fresh Gaussian noise
    of ``real_noise`` x each panel's own measured noise level. The z-scoring after injection
    (:func:`seti.data.synthetic.backgrounds.generate_cadence`) restores the Kaggle scale.
    """
    raw = np.asarray(cadence, dtype=np.float32)
    raw = np.roll(raw, int(rng.integers(0, FCHANS)), axis=-1)
    if rng.random() < 0.5:
        raw = raw[:, :, ::-1]
    raw = np.ascontiguousarray(raw)
    levels = [measured_noise(p) for p in raw]
    if real_noise > 0:
        for p, level in enumerate(levels):
            noise = rng.standard_normal(size=raw[p].shape, dtype=np.float32)
            noise *= np.float32(real_noise * level)
            raw[p] += noise
    return raw, float(np.median(levels)) * float(np.sqrt(1.0 + real_noise**2))


def load_background(root: str | Path, background_id: str) -> np.ndarray:
    """The stored real cadence ``background_id`` (float16, validated)."""
    return load_cadence(cadence_path(root, "train", background_id))


def describe_backgrounds(manifest: dict | None) -> str | None:
    """One sentence for reports on which backgrounds a synthetic dataset's manifest says were used."""
    if not isinstance(manifest, dict) or "params" not in manifest:
        return None
    bg = manifest.get("backgrounds")
    if not isinstance(bg, dict):
        return "data: synthetic cadences on generated backgrounds only (no real backgrounds)."
    share = "all" if bg.get("mode") == "real" else f"{float(bg.get('real_fraction', 0)):.0%}"
    return (
        f"data: needles injected into real backgrounds for {share} of the cadences (mode {bg.get('mode')}): "
        f"{bg.get('label0_ids')} label-0 cadences from {manifest.get('background_root', '?')} (sorted id list "
        f"sha256 {str(bg.get('ids_sha256'))[:12]}), each varied per draw (frequency roll and flip, fresh "
        f"noise at {bg.get('real_noise')} x its measured level); the rest on generated backgrounds."
    )
