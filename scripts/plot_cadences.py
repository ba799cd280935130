"""Draw cadences to PNG: several per figure as six labelled panels, or one beside its augmented views.

python scripts/plot_cadences.py --root ROOT --n 4 --out cadences.png
python scripts/plot_cadences.py --root ROOT --ids 0028a35de92941d --aug strong --views 5 --out views.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from seti.data.augment import build_augment
from seti.data.layout import LABELS_CSV, SUBMISSION_CSV, CadenceDataError, cadence_path, load_cadence, read_id_table
from seti.data.preprocess import Preprocessor
from seti.figures import plot_augmented_views, plot_cadences

CONF = Path(__file__).resolve().parents[1] / "conf"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="a Kaggle-layout folder (train_labels.csv, train/, test/)")
    parser.add_argument("--split", choices=["train", "test"], default="train")
    parser.add_argument("--ids", nargs="*", default=None, help="cadence ids (default: the first --n, positives first)")
    parser.add_argument("--n", type=int, default=4, help="how many cadences when --ids is not given")
    parser.add_argument(
        "--aug",
        default=None,
        help="an aug config name (none/light/strong) or a YAML path: draw augmented views of the first id",
    )
    parser.add_argument("--views", type=int, default=4, help="augmented views to draw with --aug")
    parser.add_argument(
        "--image-size", type=int, nargs=2, default=[192, 256], metavar=("H", "W"), help="model input size for the views"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="cadences.png", help="PNG to write")
    args = parser.parse_args(argv)
    if args.n < 1 or args.views < 1:
        parser.error("--n and --views must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(args.root)
    try:
        table = read_id_table(
            root / (LABELS_CSV if args.split == "train" else SUBMISSION_CSV),
            require_binary_target=args.split == "train",
        )
        labels = dict(zip(table.id, table.target))
        ids = args.ids or table.sort_values("target", ascending=False, kind="stable").id.tolist()[: args.n]
        unknown = [i for i in ids if i not in labels]
        if unknown:
            raise CadenceDataError(f"id(s) {unknown} are not in {args.split} of {root}")
        cadences = [load_cadence(cadence_path(root, args.split, i)) for i in ids]
    except CadenceDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    label_text = (lambda i: f"label {labels[i]}") if args.split == "train" else (lambda i: "unlabelled")
    if args.aug is None:
        out = plot_cadences(cadences, [f"{i}\n{label_text(i)}" for i in ids], args.out)
    else:
        path = Path(args.aug) if args.aug.endswith(".yaml") else CONF / "aug" / f"{args.aug}.yaml"
        if not path.is_file():
            print(f"error: no aug config {path}", file=sys.stderr)
            return 2
        cadence_aug, image_aug = build_augment(OmegaConf.load(path))
        pre = Preprocessor(panels="all", layout="stack", image_size=tuple(args.image_size))
        rng = np.random.default_rng(args.seed)
        if image_aug is not None:
            image_aug.set_random_seed(args.seed)
        target0 = int(labels.get(ids[0], 0)) if args.split == "train" else 0
        views = []
        for view in range(args.views):
            raw, target = cadence_aug(cadences[0], target0, rng) if cadence_aug else (cadences[0], target0)
            image = pre(raw)
            if image_aug is not None:
                image = image_aug(image=image)["image"]
            views.append((image, f"{path.stem} view {view + 1}\nlabel {target}"))
        out = plot_augmented_views(cadences[0], f"{ids[0]} {label_text(ids[0])}", views, args.out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
