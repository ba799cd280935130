"""Train one model (or sweep many with -m) on SETI cadences. See README.md; configs live in conf/."""

import hydra
from omegaconf import DictConfig

from seti.training.pipeline import train
from seti.training.resolvers import register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    metrics = train(cfg)
    return metrics.get("best_val_auroc")


if __name__ == "__main__":
    main()
