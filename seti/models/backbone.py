"""timm backbones, built offline: weights only ever come from a local file the user names."""

from __future__ import annotations

import os
from pathlib import Path

import timm
import torch.nn as nn

from seti.checkpoints import PretrainedWeightsError, load_weights_file

WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")


def create_backbone(
    name: str,
    in_chans: int,
    pretrained_path: str | None = None,
    drop_rate: float = 0.0,
    drop_path_rate: float = 0.0,
    grad_checkpointing: bool = False,
    **kwargs,
) -> nn.Module:
    """A timm model with one logit, ``in_chans`` input channels and optional local weights.

    ``pretrained_path`` (.pth/.safetensors, e.g. a timm ``tf_efficientnet_b1.ns_jft_in1k`` file) goes
    through timm's own loader via ``pretrained_cfg_overlay``, which adapts the 3-channel stem to
    ``in_chans`` (summing RGB for 1 channel) and drops a classifier of another size. Nothing is ever
    downloaded: without a path the model starts from random weights.
    """
    if name not in timm.list_models():
        raise ValueError(
            f"model.backbone.name={name!r} is not a timm model; e.g. tf_efficientnet_b1, tf_efficientnetv2_s"
        )
    common = dict(in_chans=in_chans, num_classes=1, drop_rate=drop_rate, drop_path_rate=drop_path_rate, **kwargs)
    if pretrained_path:
        path = Path(os.path.expanduser(str(pretrained_path)))
        if not path.is_file():
            raise PretrainedWeightsError(
                f"model.backbone.pretrained_path={path} does not exist; download the timm weights for {name} "
                "once on a machine with network access (e.g. timm.create_model(name, pretrained=True) then "
                "save its state_dict) and pass the file's path, or set model.backbone.pretrained_path=null"
            )
        if path.suffix not in WEIGHT_SUFFIXES:
            raise PretrainedWeightsError(f"{path}: expected a weights file ending in {', '.join(WEIGHT_SUFFIXES)}")
        try:
            model = timm.create_model(
                name,
                pretrained=True,
                pretrained_cfg_overlay=dict(file=str(path), num_classes=_file_num_classes(path)),
                **common,
            )
        except (RuntimeError, KeyError, ValueError, OSError, EOFError) as err:
            raise PretrainedWeightsError(f"could not load weights {path} into {name}: {err}") from err
    else:
        model = timm.create_model(name, pretrained=False, **common)
    if grad_checkpointing:
        model.set_grad_checkpointing(True)
    return model


def _file_num_classes(path: Path) -> int | None:
    """Classifier size stored in the file, so timm keeps a matching head instead of re-initialising it."""
    state = load_weights_file(path)
    for key in ("classifier.weight", "head.fc.weight", "fc.weight", "head.weight"):
        if key in state:
            return int(state[key].shape[0])
    return None
