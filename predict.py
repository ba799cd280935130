"""Score ROOT/test with trained checkpoints (files, runs or whole sweeps) and write a Kaggle submission.

    python predict.py ckpt=logs/multirun/<sweep> data.root=/data/seti output=submission.csv [tta=flip] [blend=rank] [oof=true]
    python predict.py ckpt=[<cnn run>,<dedoppler run>] blend=rank data.root=/data/seti output=submission.csv

Preprocessing comes from each checkpoint, never from the command line. See conf/predict.yaml for every
key and seti/inference/ (settings, members, ensemble, oof; predict.py is the job) for the logic.
"""

import sys

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    from seti.inference.predict import format_timing, predict

    summary = predict(cfg)
    print(format_timing(summary["timing"]))
    print(f"wrote {summary['output']} ({summary['num_ids']} rows, {len(summary['members'])} member(s))")


if __name__ == "__main__":
    from seti.inference.settings import PredictError, check_overrides, quote_path_overrides

    # A job directory of an older sweep (aug=none,model=b0) pasted as ckpt=... is quoted for Hydra's grammar.
    sys.argv[1:] = quote_path_overrides(sys.argv[1:])
    try:  # before Hydra composes: it would only say "key not in struct" for data.image_size=...
        check_overrides(sys.argv[1:])
    except PredictError as err:
        print(f"predict.py: error: {err}", file=sys.stderr)
        sys.exit(2)
    main()
