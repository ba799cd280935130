"""The classifier: local pretrained weights with an adapted stem, mixup labels, schedule, offline only."""

from __future__ import annotations

import pytest
import timm
import torch
import torch.nn.functional as F
from helpers import CONF
from safetensors.torch import save_file

from seti.checkpoints import CheckpointLoadError, load_state_into
from seti.models.backbone import PretrainedWeightsError, create_backbone
from seti.models.classifier import CadenceClassifier
from seti.models.mixup import Mixup
from seti.models.schedule import warmup_cosine


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
        backbone={"name": "test_efficientnet"},
        in_chans=3,
        optimizer=lambda params: torch.optim.AdamW(params, lr=1e-3),
        **kwargs,
    )


def _traceable_batch(n: int) -> torch.Tensor:
    """Sample i is the one-hot vector e_i (as an n-pixel image): a mix lam*e_i + (1-lam)*e_j shows which
    partner j it was mixed with and the weight lam, independently of how apply_mixup draws them."""
    return torch.eye(n).reshape(n, 1, n, 1)


def _partners(mixed: torch.Tensor) -> tuple[list[int], list[float]]:
    flat = mixed.reshape(mixed.shape[0], -1)
    partners, weights = [], []
    for i, row in enumerate(flat):
        others = [j for j in torch.nonzero(row).flatten().tolist() if j != i]
        partners.append(others[0] if others else i)
        weights.append(float(row[i]))
    return partners, weights


@pytest.mark.parametrize("rule", ["max", "mix"])
def test_mixup_label_rules_against_the_mixed_pairs(rule):
    """max: a mix is positive iff either partner holds a needle; mix: the same convex weight as the image."""
    torch.manual_seed(0)
    mixup = Mixup(alpha=1.0, p=1.0, label=rule)
    n = 16
    y = torch.tensor([1.0] * 4 + [0.0] * 12)
    checked = 0
    for _ in range(5):
        mixed_x, mixed_y = mixup(_traceable_batch(n), y)
        partners, weights = _partners(mixed_x)
        for i, (j, lam) in enumerate(zip(partners, weights)):
            if j == i:
                assert mixed_y[i] == y[i]
                continue
            checked += 1
            if rule == "max":
                assert mixed_y[i] == float(bool(y[i]) or bool(y[j])), (i, j)
            else:
                assert float(mixed_y[i]) == pytest.approx(lam * float(y[i]) + (1 - lam) * float(y[j]), abs=1e-6)
    assert checked > 40  # most samples found a partner
    # a negative mixed with a negative stays negative under "max" (an "everything -> 1" bug fails here)
    if rule == "max":
        assert (mixed_y == 0).any()


def test_mixup_off_switch_and_probability():
    """p=0 or alpha=0 never mixes; in a real fit, mixup stops for the last off_last_fraction of the epochs."""
    for mixup in (Mixup(alpha=1.0, p=0.0), Mixup(alpha=0.0, p=1.0)):
        assert not mixup.active(0, 10)
        x, y = torch.randn(4, 1, 4, 4), torch.tensor([1.0, 0.0, 0.0, 0.0])
        out_x, out_y = mixup(x, y)
        assert out_x is x and out_y is y
    import lightning as L
    from torch.utils.data import DataLoader

    torch.manual_seed(1)
    module = make_module(mixup=Mixup(alpha=1.0, p=1.0, label="max", off_last_fraction=0.4))
    # sample i is filled with the integer i: a mixed batch reaches the network with non-integer values
    data = [(torch.full((3, 16, 16), float(i)), torch.tensor(float(i % 2)), torch.tensor(i)) for i in range(8)]
    trainer = L.Trainer(
        max_epochs=5,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    mixed_epochs: dict[int, bool] = {}

    def record(net, inputs):
        if net.training:
            values = inputs[0].detach()
            mixed_epochs[trainer.current_epoch] = bool((values != values.round()).any())

    module.net.register_forward_pre_hook(record)
    trainer.fit(module, DataLoader(data, batch_size=8))
    # ceil(5 * (1 - 0.4)) = 3: epochs 0-2 mixed, 3-4 not
    assert mixed_epochs == {0: True, 1: True, 2: True, 3: False, 4: False}


def test_losses_match_hand_formulas():
    """BCE and focal loss (torchvision's alpha=0.25) against their textbook definitions, in float64."""
    logits = torch.tensor([-3.0, -0.5, 0.0, 0.7, 2.5, 4.0], dtype=torch.float64)
    target = torch.tensor([0.0, 1.0, 0.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    p = 1.0 / (1.0 + torch.exp(-logits))
    ce = -(target * torch.log(p) + (1 - target) * torch.log(1 - p))
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = 0.25 * target + 0.75 * (1 - target)
    for gamma in (0.0, 2.0, 3.5):
        module = make_module(loss="focal", focal_gamma=gamma)
        expected = (alpha_t * (1 - p_t) ** gamma * ce).mean()
        assert float(module.loss_fn(logits, target)) == pytest.approx(float(expected), rel=1e-9)
    assert float(make_module(loss="bce").loss_fn(logits, target)) == pytest.approx(float(ce.mean()), rel=1e-9)
    # focal down-weights the easy examples: confident right answers lose far more weight than wrong ones
    focal = make_module(loss="focal", focal_gamma=2.0)
    easy = float(focal.loss_fn(torch.tensor([4.0]), torch.tensor([1.0]))) / float(
        F.binary_cross_entropy_with_logits(torch.tensor([4.0]), torch.tensor([1.0]))
    )
    hard = float(focal.loss_fn(torch.tensor([-4.0]), torch.tensor([1.0]))) / float(
        F.binary_cross_entropy_with_logits(torch.tensor([-4.0]), torch.tensor([1.0]))
    )
    assert easy < 1e-3 < 0.2 < hard


def test_forward_shape_and_bad_loss():
    module = make_module(loss="bce", channels_last=True)
    assert module(torch.randn(4, 3, 32, 32)).shape == (4,)
    for bad in ("hinge", "BCE", "", None):
        with pytest.raises(ValueError, match=r"model.loss must be one of \['bce', 'focal'\], got"):
            make_module(loss=bad)


def test_mixup_labels_reach_the_loss():
    """training_step's loss is the loss of the mixed images against the MIXED labels (not the originals):
    replayed from the same random state, mixup's own output gives the same loss to the last bit."""
    torch.manual_seed(0)  # the same untrained model whatever ran before
    module = make_module(mixup=Mixup(alpha=1.0, p=1.0, label="max", off_last_fraction=0.0)).eval()
    x = torch.randn(8, 3, 16, 16)
    # "max" only raises labels, so the mean loss moves even where the untrained logits are all alike
    y = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    torch.manual_seed(3)
    loss = module.training_step((x, y, torch.arange(8)), 0)
    torch.manual_seed(3)
    mixed_x, mixed_y = module.mixup(x, y)
    assert not torch.equal(mixed_y, y) and not torch.equal(mixed_x, x)  # this draw mixed images and labels
    with torch.no_grad():
        logits = module(mixed_x)
        assert float(loss) == float(module.loss_fn(logits, mixed_y))
        assert float(loss) != float(module.loss_fn(logits, y))  # the original labels give another loss


def test_mixup_is_built_from_the_aug_config_and_used_by_the_model():
    from omegaconf import OmegaConf

    from seti.models.mixup import build_mixup

    strong = OmegaConf.load(CONF / "aug" / "strong.yaml").mixup
    mixup = build_mixup(strong)
    assert isinstance(mixup, Mixup) and mixup.enabled and mixup.label == "max"
    assert build_mixup({"alpha": 1.0, "p": 0.5}).enabled  # no _target_: the same class
    with pytest.raises(ValueError, match="aug.mixup has an unknown key"):
        build_mixup({"_target_": "seti.models.mixup.Mixup", "alpah": 1.0})
    with pytest.raises(ValueError, match="aug.mixup.label"):
        Mixup(alpha=1, p=1, label="or")
    module = make_module(mixup=mixup)
    assert module.mixup is mixup and module.hparams["mixup"] == mixup.settings()
    with pytest.raises(ValueError, match="model.loss"):
        make_module(loss="hinge")


def test_strict_loading_refuses_missing_unexpected_and_reshaped_tensors():
    """load_state_into is strict: a checkpoint that lacks a tensor, holds an extra one or one of another shape
    is refused with an error naming the file and the tensor; a whole one loads exactly."""
    source, target = make_module(), make_module()
    state = source.state_dict()
    load_state_into(target, dict(state), "ok.ckpt")
    assert all(torch.equal(target.state_dict()[k], v) for k, v in state.items())
    key = "net.conv_stem.weight"
    missing = {k: v for k, v in state.items() if k != key}
    with pytest.raises(CheckpointLoadError, match=rf"missing.ckpt .*1 tensor\(s\) missing .*{key}"):
        load_state_into(make_module(), missing, "missing.ckpt")
    extra = {**state, "net.extra_head.weight": torch.zeros(2)}
    with pytest.raises(CheckpointLoadError, match=r"extra.ckpt .*1 unexpected tensor\(s\).*net.extra_head.weight"):
        load_state_into(make_module(), extra, "extra.ckpt")
    reshaped = {**state, key: torch.zeros(1, *state[key].shape[1:])}
    with pytest.raises(CheckpointLoadError, match=rf"reshaped.ckpt .*another shape.*{key}"):
        load_state_into(make_module(), reshaped, "reshaped.ckpt")


def test_warmup_cosine_schedule():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = warmup_cosine(optimizer, total_steps=100, warmup_fraction=0.1, min_lr_ratio=0.0)
    lrs = []
    for _ in range(100):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(0.1) and max(lrs) == pytest.approx(1.0) and lrs[-1] < 0.01
