"""Needles in real backgrounds: label-0 cadences of a Kaggle-layout folder, varied per draw.

Every test runs twice: on the real 8-cadence sample (skipped without it) and on a generated Kaggle-layout
folder standing in for it (always runs).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from seti.data.layout import LABELS_CSV, OFF_PANELS, ON_PANELS, CadenceDataError, load_cadence, read_id_table
from seti.data.synthetic import (
    BACKGROUNDS_CSV,
    MANIFEST_NAME,
    BackgroundDataError,
    SyntheticParams,
    describe_backgrounds,
    generate_cadence,
    vary_background,
    write_dataset,
)
from seti.data.synthetic.backgrounds import _zscore
from seti.data.synthetic.real import BackgroundSource, load_background
from seti.errors import SetiError

QUIET = {"rfi_rate": 0.0, "all_panel_signal_fraction": 0.0, "off_only_signal_fraction": 0.0, "engine": "numpy"}


@pytest.fixture(scope="module")
def generated_folder(tmp_path_factory) -> Path:
    """A generated Kaggle-layout folder (4 negatives, 4 positives) standing in for real cadences."""
    root = tmp_path_factory.mktemp("bg") / "kaggle"
    return write_dataset(root, n=8, positive_rate=0.5, seed=11, params=SyntheticParams(engine="numpy"), progress=False)


@pytest.fixture(params=["sample", "generated"])
def background_root(request, generated_folder) -> Path:
    if request.param == "sample":
        return request.getfixturevalue("sample_root")
    return generated_folder


def _label0(root: Path) -> list[str]:
    labels = read_id_table(root / LABELS_CSV, require_binary_target=True)
    return sorted(labels.loc[labels.target == 0, "id"])


def _background(root: Path, seed: int, real_noise: float = 0.5):
    cadence = load_background(root, _label0(root)[0])
    return vary_background(np.random.default_rng(seed), cadence, real_noise)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.suffix == ".npy"
    }


def test_positive_differs_from_its_background_only_in_on_panels_where_the_needle_is(background_root: Path):
    params = SyntheticParams(**QUIET, partial_on_fraction=0.0)
    for seed in range(3):
        background = _background(background_root, seed)
        negative = generate_cadence(np.random.default_rng([seed, 1]), False, params, background)
        positive = generate_cadence(np.random.default_rng([seed, 1]), True, params, background)
        # nothing is injected into a negative without RFI or hard negatives: it is the varied background
        assert np.array_equal(negative, _zscore(background[0]).astype(np.float16))
        for p in OFF_PANELS:
            assert np.array_equal(positive[p], negative[p]), f"OFF panel {p} changed"
        for p in ON_PANELS:
            diff = np.abs(positive[p].astype(np.float32) - negative[p].astype(np.float32))
            assert diff.max() > 0.3, f"no needle in ON panel {p}"
            # the needle is narrow: most of the change sits in a few channels per row
            strong = diff > 0.5 * diff.max()
            assert strong.any(axis=0).sum() < 128, "the change is spread over the band, not a needle"


def test_partial_on_positives_hold_the_needle_in_fewer_on_panels(background_root: Path):
    params = SyntheticParams(**QUIET, partial_on_fraction=1.0)
    background = _background(background_root, 0)
    negative = generate_cadence(np.random.default_rng(5), False, params, background)
    positive = generate_cadence(np.random.default_rng(5), True, params, background)
    changed = [p for p in range(6) if not np.array_equal(positive[p], negative[p])]
    assert changed and set(changed) < set(ON_PANELS)


@pytest.mark.parametrize(
    "fractions, panels",
    [((1.0, 0.0), set(range(6))), ((0.0, 1.0), set(OFF_PANELS))],
    ids=["all-six-panels", "off-only"],
)
def test_hard_negatives_carry_the_needle_in_all_six_or_the_off_panels(background_root: Path, fractions, panels):
    params = SyntheticParams(
        **{**QUIET, "all_panel_signal_fraction": fractions[0], "off_only_signal_fraction": fractions[1]}
    )
    background = _background(background_root, 1)
    clean = generate_cadence(np.random.default_rng(9), False, SyntheticParams(**QUIET), background)
    hard = generate_cadence(np.random.default_rng(9), False, params, background)
    changed = {p for p in range(6) if not np.array_equal(hard[p], clean[p])}
    if panels == set(range(6)):
        assert changed == panels
    else:
        assert changed and changed <= panels  # 1 to 3 OFF panels, never an ON one


def test_rolls_and_flips_vary_the_background_and_fresh_noise_is_at_its_level(background_root: Path):
    original = load_background(background_root, _label0(background_root)[0]).astype(np.float32)
    seen = set()
    for seed in range(12):
        varied, _ = vary_background(np.random.default_rng(seed), original, real_noise=0.0)
        match = [
            (k, flip)
            for k in range(256)
            for flip in (False, True)
            if np.array_equal(varied, (lambda r: r[:, :, ::-1] if flip else r)(np.roll(original, k, axis=-1)))
        ]
        assert match, "a varied background must be a roll (and maybe a flip) of the stored one"
        seen.add(match[0])
    assert len({k for k, _ in seen}) > 3 and {f for _, f in seen} == {False, True}
    noisy, _ = vary_background(np.random.default_rng(0), original, real_noise=0.5)
    clean, _ = vary_background(np.random.default_rng(0), original, real_noise=0.0)
    from seti.data.synthetic.real import measured_noise

    ratio = float((noisy - clean)[0].std()) / measured_noise(clean[0])
    assert 0.4 < ratio < 0.6


def test_only_label0_cadences_are_backgrounds_and_same_seed_same_bytes(background_root: Path, tmp_path: Path):
    kw = dict(n=10, test_n=2, positive_rate=0.4, seed=4, params=SyntheticParams(engine="numpy"), progress=False)
    a = write_dataset(tmp_path / "a", backgrounds="real", background_root=background_root, **kw)
    b = write_dataset(tmp_path / "b", backgrounds="real", background_root=background_root, **kw)
    used = [line.split(",")[2] for line in (a / BACKGROUNDS_CSV).read_text().splitlines()[1:]]
    assert len(used) == 12 and set(used) == set(_label0(background_root))  # every one, never a positive
    assert _files(a) == _files(b) and (a / BACKGROUNDS_CSV).read_bytes() == (b / BACKGROUNDS_CSV).read_bytes()
    for path in list(a.rglob("*.npy"))[:3]:
        load_cadence(path)  # float16, (6, 273, 256), finite
    manifest = json.loads((a / MANIFEST_NAME).read_text())
    assert manifest["backgrounds"]["label0_ids"] == len(_label0(background_root))
    text = describe_backgrounds(manifest)
    assert manifest["backgrounds"]["ids_sha256"][:12] in text and "real backgrounds" in text


def test_mix_draws_the_stated_fraction_and_its_generated_cadences_are_the_generated_ones(
    background_root: Path, tmp_path: Path
):
    kw = dict(n=12, positive_rate=0.5, seed=6, params=SyntheticParams(engine="numpy"), progress=False)
    mix = write_dataset(tmp_path / "mix", backgrounds="mix", background_root=background_root, real_fraction=0.25, **kw)
    plain = write_dataset(tmp_path / "plain", **kw)
    rows = [line.split(",") for line in (mix / BACKGROUNDS_CSV).read_text().splitlines()[1:]]
    real = [r for r in rows if r[2] != "generated"]
    assert len(real) == 3
    mix_files, plain_files = _files(mix), _files(plain)
    for cadence_id, _, bg in rows:
        name = f"train/{cadence_id[0]}/{cadence_id}.npy"
        assert (mix_files[name] == plain_files[name]) == (bg == "generated")


def test_changed_background_folder_is_another_dataset(background_root: Path, tmp_path: Path):
    kw = dict(n=6, positive_rate=0.5, seed=2, params=SyntheticParams(engine="numpy"), progress=False)
    folder = tmp_path / "backgrounds"
    shutil.copytree(background_root, folder, ignore=shutil.ignore_patterns("test"))
    out = write_dataset(tmp_path / "out", backgrounds="real", background_root=folder, **kw)
    lines = (folder / LABELS_CSV).read_text().splitlines()
    negatives = [line for line in lines[1:] if line.endswith(",0")]
    (folder / LABELS_CSV).write_text("\n".join(line for line in lines if line != negatives[0]) + "\n")
    with pytest.raises(CadenceDataError, match="changed background folder") as err:
        write_dataset(out, backgrounds="real", background_root=folder, **kw)
    assert "Pick another data.root" in str(err.value)
    with pytest.raises(SetiError, match="backgrounds"):  # generated settings on a real-background folder
        write_dataset(out, **kw)


def test_refuses_folders_without_negatives_or_kaggle_layout(background_root: Path, tmp_path: Path):
    positives = tmp_path / "positives"
    shutil.copytree(background_root, positives, ignore=shutil.ignore_patterns("test"))
    lines = (positives / LABELS_CSV).read_text().splitlines()
    (positives / LABELS_CSV).write_text("\n".join([lines[0], *(x for x in lines[1:] if x.endswith(",1"))]) + "\n")
    with pytest.raises(BackgroundDataError, match="no label-0 cadence"):
        BackgroundSource.load("real", positives)
    with pytest.raises(BackgroundDataError, match="not a Kaggle-layout folder"):
        BackgroundSource.load("real", tmp_path)
    with pytest.raises(BackgroundDataError, match="background_root"):
        BackgroundSource.load("mix", None)
    with pytest.raises(BackgroundDataError, match="would not use it"):
        BackgroundSource.load("generated", background_root)
    with pytest.raises(BackgroundDataError, match="backgrounds must be one of"):
        BackgroundSource.load("fake", background_root)


def test_config_refuses_real_backgrounds_without_a_folder(tmp_path: Path):
    from helpers import compose_train

    from seti.config import check_config

    for override, message in (("backgrounds=real", "background_root"), ("backgrounds=realistic", "one of")):
        cfg = compose_train([f"data.synthetic.{override}"], output_dir=tmp_path, hydra=False)
        with pytest.raises(BackgroundDataError, match=message):
            check_config(cfg)


def test_train_on_mixed_backgrounds_records_and_discloses_them(generated_folder: Path, tmp_path: Path):
    """data=synthetic with backgrounds=mix trains end to end; the run config and the report say which."""
    import pandas as pd
    import yaml
    from helpers import TINY, train_in_process

    from seti.report.disclosures import disclosures
    from seti.rundir import RUN_CONFIG_YAML

    root = tmp_path / "mixdata"
    run = tmp_path / "run"
    train_in_process(
        [
            *TINY,
            "trainer.max_epochs=1",
            "logger=csv",
            f"data.root={root}",
            "data.synthetic.n=12",
            "data.synthetic.test_n=0",
            "data.synthetic.positive_rate=0.5",
            "+data.synthetic.params.engine=numpy",
            "data.num_folds=2",
            "data.synthetic.backgrounds=mix",
            f"data.synthetic.background_root={generated_folder}",
        ],
        run,
    )
    recorded = yaml.safe_load((run / RUN_CONFIG_YAML).read_text())["config"]
    assert recorded["data.synthetic.backgrounds"] == "mix"
    assert recorded["data.synthetic.background_root"] == str(generated_folder)
    text = disclosures(pd.DataFrame({"run_dir": [str(run)], "model": ["tiny"], "aug": ["none"]}))
    sha = json.loads((root / MANIFEST_NAME).read_text())["backgrounds"]["ids_sha256"]
    assert any("real backgrounds for 50%" in t and sha[:12] in t for t in text), text
