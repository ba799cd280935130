"""``benchmark.py data``: the per-worker data path (the dataset with each aug at two sizes) against a bare
``np.load`` of the same files, plus the synthetic generator's and the dedoppler scorer's cadences/s, and
the hybrid's torch drift search (cleaning at 180x256 included) as a ratio to that numpy dedoppler."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seti.bench.common import compose, rate

AUGS = ("none", "light", "strong")
SIZES = ((96, 128), (512, 512))


def bench_data(root: Path, n: int) -> dict:
    """Per worker: one process, one torch thread, as in a DataLoader worker; files in the page cache."""
    import torch

    from seti.baselines.dedoppler import DedopplerScorer
    from seti.data.augment import build_augment
    from seti.data.dataset import CadenceDataset
    from seti.data.layout import cadence_path, read_id_table
    from seti.data.preprocess import Preprocessor
    from seti.data.synthetic import SyntheticParams, generate_cadence

    torch.set_num_threads(1)
    labels = read_id_table(root / "train_labels.csv", require_binary_target=True).iloc[:n]
    paths = [cadence_path(root, "train", i) for i in labels.id]
    results: dict = {"samples": len(paths)}

    def bare(k):
        for p in paths[:k]:
            np.load(p, allow_pickle=False)

    bare(len(paths))  # warm the page cache so every variant reads from memory
    results["np_load_per_s"] = rate(bare, len(paths))
    for name in AUGS:
        cadence_aug, image_aug = build_augment(compose("train", [f"aug={name}"]).aug)
        for size in SIZES:
            ds = CadenceDataset(
                root,
                "train",
                labels.id.tolist(),
                labels.target.tolist(),
                Preprocessor(image_size=size, layout="stack"),
                cadence_aug,
                image_aug,
            )
            key = f"dataset_{name}_{size[0]}x{size[1]}_per_s"
            results[key] = rate(lambda k, ds=ds: [ds[i] for i in range(k)], len(ds))
            results[key.replace("_per_s", "_ratio")] = results[key] / results["np_load_per_s"]
    rng = np.random.default_rng(0)
    params = SyntheticParams()
    generate_cadence(rng, True, params)  # import/first-call costs out of the timing
    results["generator_cadences_per_s"] = rate(
        lambda k: [generate_cadence(rng, i % 3 == 0, params) for i in range(k)], 40
    )
    batch = np.stack([np.load(p, allow_pickle=False) for p in paths[:64]])
    scorer = DedopplerScorer()
    results["dedoppler_cadences_per_s"] = rate(lambda k: scorer(batch[:k]), len(batch))
    results.update(_drift_search_rate(batch, results["dedoppler_cadences_per_s"]))
    return results


def _drift_search_rate(batch: np.ndarray, dedoppler_per_s: float) -> dict:
    """model=hybrid's search on the same raw cadences, its own cleaning included (the input the hybrid is
    given, conf/model_input/hybrid.yaml), in batches of 32 as in training."""
    import torch
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from seti.config import model_arguments
    from seti.inference.members import preprocessor_from_config

    cfg = compose("train", ["model=hybrid"])
    pre = preprocessor_from_config({"data": OmegaConf.to_container(cfg.data)}, "model=hybrid")
    search = instantiate(model_arguments(cfg.model), in_chans=pre.in_chans, mixup=None).drift
    raw = torch.from_numpy(batch)

    def run(k: int) -> None:
        with torch.no_grad():
            for i in range(0, k, 32):
                search(pre.batch(raw[i : min(k, i + 32)]))

    run(min(4, len(raw)))  # first-call costs out of the timing
    per_s = rate(run, len(raw))
    return {"drift_search_cadences_per_s": per_s, "drift_search_ratio": per_s / dedoppler_per_s}
