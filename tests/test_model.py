"""The classifier: local pretrained weights with an adapted stem, mixup labels, schedule, offline only."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from seti.models.backbone import PretrainedWeightsError, create_backbone
from seti.models.classifier import CadenceClassifier
from seti.models.mixup import Mixup
from seti.models.schedule import warmup_cosine

REPO = Path(__file__).resolve().parents[1]


def imagenet_like_weights(tmp_path, suffix: str):
    """A 3-channel, 1000-class checkpoint of the tiny EfficientNet, as timm would publish it."""
    source = timm.create_model("test_efficientnet", pretrained=False, in_chans=3, num_classes=1000)
    state = source.state_dict()
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return path, state


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
@pytest.mark.parametrize("in_chans", [1, 6])
def test_local_pretrained_weights_adapt_the_stem(tmp_path, suffix, in_chans):
    path, state = imagenet_like_weights(tmp_path, suffix)
    model = create_backbone("test_efficientnet", in_chans=in_chans, pretrained_path=str(path))
    stem = model.conv_stem.weight
    assert stem.shape[1] == in_chans
    if in_chans == 1:
        assert torch.allclose(stem[:, 0], state["conv_stem.weight"].sum(dim=1))
    # body weights come from the file, the 1-logit head is new
    assert torch.equal(model.bn1.weight, state["bn1.weight"])
    assert model.classifier.weight.shape[0] == 1


def test_one_logit_checkpoint_keeps_its_head(tmp_path):
    source = timm.create_model("test_efficientnet", pretrained=False, in_chans=1, num_classes=1)
    path = tmp_path / "mine.pth"
    torch.save(source.state_dict(), path)
    model = create_backbone("test_efficientnet", in_chans=1, pretrained_path=str(path))
    assert torch.equal(model.classifier.weight, source.classifier.weight)


def test_missing_or_corrupt_weights_are_explained(tmp_path):
    with pytest.raises(PretrainedWeightsError, match="does not exist"):
        create_backbone("test_efficientnet", in_chans=1, pretrained_path=str(tmp_path / "nope.pth"))
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(PretrainedWeightsError, match="could not read weights file"):
        create_backbone("test_efficientnet", in_chans=1, pretrained_path=str(bad))
    with pytest.raises(ValueError, match="not a timm model"):
        create_backbone("efficientnet_b99", in_chans=1)


def make_module(**kwargs) -> CadenceClassifier:
    return CadenceClassifier(
        backbone={"name": "test_efficientnet"}, in_chans=3,
        optimizer=lambda params: torch.optim.AdamW(params, lr=1e-3), **kwargs,
    )


def test_mixup_max_rule_keeps_any_needle_positive():
    torch.manual_seed(0)
    mixup = Mixup(alpha=1.0, p=1.0, label="max")
    x = torch.randn(16, 3, 16, 16)
    y = torch.tensor([1.0] * 4 + [0.0] * 12)
    mixed_x, mixed_y = mixup(x, y)
    assert mixed_x.shape == x.shape and set(mixed_y.tolist()) <= {0.0, 1.0}
    assert mixed_y.sum() >= y.sum() and not torch.equal(mixed_x, x)
    _, soft = Mixup(alpha=1.0, p=1.0, label="mix")(x, y)
    assert ((soft > 0) & (soft < 1)).any()


def test_mixup_is_off_for_the_last_fraction_of_epochs():
    mixup = Mixup(alpha=1.0, p=1.0, off_last_fraction=0.2)
    x, y = torch.randn(8, 1, 4, 4), torch.tensor([1.0] * 2 + [0.0] * 6)
    assert [mixup.active(epoch, 10) for epoch in range(10)] == [True] * 8 + [False] * 2
    same_x, same_y = mixup(x, y, epoch=9, max_epochs=10)
    assert same_x is x and same_y is y
    assert not Mixup(alpha=0.0, p=1.0).active(0, 10)


def test_mixup_is_built_from_the_aug_config_and_used_by_the_model():
    from omegaconf import OmegaConf

    from seti.models.mixup import build_mixup

    strong = OmegaConf.load(REPO / "conf" / "aug" / "strong.yaml").mixup
    mixup = build_mixup(strong)
    assert isinstance(mixup, Mixup) and mixup.enabled and mixup.label == "max"
    assert build_mixup({"alpha": 1.0, "p": 0.5}).enabled  # no _target_: the same class
    with pytest.raises(ValueError, match="aug.mixup has an unknown key"):
        build_mixup({"_target_": "seti.models.mixup.Mixup", "alpah": 1.0})
    with pytest.raises(ValueError, match="aug.mixup.label"):
        Mixup(alpha=1, p=1, label="or")
    module = make_module(mixup=mixup)
    assert module.mixup is mixup and module.hparams["mixup"] == mixup.settings()


def test_forward_and_losses():
    for loss in ("bce", "focal"):
        module = make_module(loss=loss, channels_last=True)
        logits = module(torch.randn(4, 3, 32, 32))
        assert logits.shape == (4,)
        assert module.loss_fn(logits, torch.tensor([0.0, 1.0, 0.0, 1.0])).ndim == 0
    with pytest.raises(ValueError, match="model.loss"):
        make_module(loss="hinge")


def test_warmup_cosine_schedule():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = warmup_cosine(optimizer, total_steps=100, warmup_fraction=0.1, min_lr_ratio=0.0)
    lrs = []
    for _ in range(100):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(0.1) and max(lrs) == pytest.approx(1.0) and lrs[-1] < 0.01
