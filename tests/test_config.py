"""Config checks and names: sweep job directories a user can paste (seti.config.job_dirname)."""

from __future__ import annotations

import pytest

from seti.config import job_dirname

PLAIN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-")


@pytest.mark.parametrize(
    "overrides",
    [
        ["aug=none", "model=b1"],
        ["data.image_size=[64,64]", "aug=light"],
        ["model.backbone.pretrained_path=/w/x=1,2.pth"],
        ["data.synthetic.params.snr_range=[8, 40]"],
        ["x=" + "a" * 300],
        ["a=b_c-d"],
        ["a=b", "c=d"],
    ],
)
def test_job_dirname_is_plain_readable_and_stable(overrides):
    name = job_dirname(overrides)
    assert set(name) <= PLAIN and len(name) <= 160
    assert name == job_dirname(list(reversed(overrides)))  # order of the command line does not matter
    assert overrides[0].split("=")[0][:20] in name


def test_job_dirname_never_collides():
    cases = [
        ["a=b_c-d"],
        ["a=b", "c=d"],
        ["data.image_size=[64,64]"],
        ["data.image_size=64x64"],
        ["p=/a/b"],
        ["p=a.a.b"],
        ["aug=none", "model=b1"],
        ["aug=none", "model=b1", "data.root=/x"],
    ]
    names = [job_dirname(c, exclude=["data.root"]) for c in cases]
    assert len(set(names)) == len(names) - 1  # only the excluded data.root maps two jobs to one directory
    assert names[-1] == names[-2] == "aug-none_model-b1"
