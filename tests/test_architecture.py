"""The layout keeps its promises: imports flow one way, the config interface lists only real choices, and
the run-directory record reads every metrics.json the project has written."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import REPO, compose_train

from seti.rundir import RunMetrics, read_metrics, write_metrics

#: module -> packages it must never load (directly or through anything it imports)
LAYERS = {
    "seti.errors": [
        "seti.data",
        "seti.models",
        "seti.training",
        "seti.inference",
        "seti.report",
        "seti.figures",
        "torch",
    ],
    "seti.atomic": ["seti.data", "seti.models", "seti.training", "seti.inference", "seti.report", "seti.figures"],
    "seti.runtime": ["seti.data", "seti.models", "seti.training", "seti.inference", "seti.report", "seti.figures"],
    "seti.metrics": ["seti.data", "seti.models", "seti.training", "seti.inference", "seti.report", "seti.figures"],
    "seti.rundir": ["seti.data", "seti.models", "seti.training", "seti.inference", "seti.report", "seti.figures"],
    "seti.resample": ["seti.data", "seti.models", "seti.training", "seti.inference", "seti.report", "seti.figures"],
    "seti.checkpoints": ["seti.data", "seti.models", "seti.training", "seti.inference", "seti.report"],
    "seti.config": ["seti.data", "seti.models", "seti.training", "seti.inference", "seti.report"],
    "seti.data": ["seti.models", "seti.training", "seti.inference", "seti.report", "seti.figures"],
    "seti.models": ["seti.data", "seti.training", "seti.inference", "seti.report", "seti.figures"],
    "seti.figures": ["seti.training", "seti.inference", "seti.report"],
    "seti.training": ["seti.inference", "seti.report"],
    "seti.inference": ["seti.training", "seti.report"],
    "seti.scan": ["seti.training", "seti.report"],
}


@pytest.mark.parametrize("module", sorted(LAYERS))
def test_imports_flow_downwards(module):
    """data | models -> training -> inference -> report: a lower layer never loads a higher one.

    A package key means every module in it (pkgutil.walk_packages), not only its ``__init__``: importing
    ``seti.data`` alone would load none of its submodules and prove nothing.
    """
    code = (
        "import importlib, pkgutil, sys\n"
        f"root = importlib.import_module({module!r})\n"
        "if hasattr(root, '__path__'):\n"
        "    for info in pkgutil.walk_packages(root.__path__, root.__name__ + '.'):\n"
        "        importlib.import_module(info.name)\n"
        f"bad = sorted(m for m in sys.modules if any(m == p or m.startswith(p + '.') for p in {LAYERS[module]!r}))\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"{module} loads {out.stdout.strip()}"


def test_help_lists_only_real_choices():
    """The shared bases of data/ and model/ are not offered as options in `train.py --help`."""
    out = subprocess.run(
        [sys.executable, "train.py", "--help"], capture_output=True, text=True, cwd=REPO, timeout=300, check=True
    ).stdout
    groups = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line and line.split(": ")[0].isalpha())
    assert groups["data"] == "kaggle, synthetic"
    assert "_base" not in out and "data_base" not in groups["model"]
    assert groups["model"].split(", ")[:3] == ["b0", "b1", "b2"]


def test_any_trainer_argument_with_plus(tmp_path):
    """conf/trainer/default.yaml's promise: any other Trainer argument is added with a +."""
    cfg = compose_train(["+trainer.fast_dev_run=2", "logger=none"], output_dir=tmp_path, hydra=False)
    from seti.training.builders import build_trainer

    trainer = build_trainer(cfg, [], [], {"accelerator": "cpu"})
    assert trainer.fast_dev_run == 2
    assert "+trainer.fast_dev_run" in (REPO / "conf" / "trainer" / "default.yaml").read_text()


def test_run_metrics_round_trip_keeps_every_committed_field(tmp_path):
    """Every metrics.json the project has committed reads into RunMetrics and writes back without losing a key
    or changing a value (unknown keys ride along in ``extra``)."""
    files = sorted((REPO / "docs").rglob("metrics.json"))
    assert files, "the committed study runs hold metrics.json files"
    for path in files:
        original = json.loads(path.read_text())
        record = read_metrics(path.parent)
        assert record is not None and record.status == original["status"]
        write_metrics(tmp_path, record)
        again = json.loads((tmp_path / "metrics.json").read_text())
        assert {k: again[k] for k in original} == original, path
    odd = RunMetrics.from_dict({"status": "finished", "best_val_auroc": float("nan"), "future_key": [1, 2]})
    assert odd.to_dict()["best_val_auroc"] is None and odd.to_dict()["future_key"] == [1, 2]


def test_every_refusal_is_a_seti_error():
    """Each error class the library defines derives from seti.errors.SetiError (one ``except`` catches every
    refusal) and keeps its builtin base, so older ``except ValueError`` code still works."""
    import importlib
    import inspect
    import pkgutil

    import seti
    from seti.errors import SetiError

    found = {}
    for info in pkgutil.walk_packages(seti.__path__, "seti."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and obj.__module__ == info.name and issubclass(obj, Exception):
                found[f"{info.name}.{name}"] = obj
    assert len(found) >= 10, sorted(found)
    strays = sorted(name for name, cls in found.items() if not issubclass(cls, SetiError))
    assert strays == [], f"error classes outside SetiError: {strays}"
    assert all(len(cls.__mro__) > 3 for cls in found.values() if cls is not SetiError)
