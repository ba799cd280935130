"""Every read of a checkpoint or weights file, and every checkpoint write: one loader, one writer.

- :func:`load_checkpoint_file`: a Lightning checkpoint (resume, test, validation predictions, predict.py).
- :func:`load_weights_file`: a pretrained weights file (.pth/.pt/.bin/.safetensors) for a timm backbone.
- :func:`load_state_into`: weights into a model, strictly, with an error that lists what differs.
- :class:`AtomicCheckpointIO`: Lightning's public ``CheckpointIO`` plugin with atomic saves.

Every checkpoint Lightning writes (best.ckpt, last.ckpt, any other) goes through
:class:`AtomicCheckpointIO`: a temp file beside the target, then ``os.replace``, so a kill mid-save leaves
the previous file intact, never a truncated one. Every read (resume, test, validation predictions) uses
``torch.load(weights_only=True)``, whatever torch's default is, so a planted pickle never runs, and a bad
file is refused with a message that names it and the way out.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from seti.atomic import temp_name
from seti.errors import SetiError


class CheckpointLoadError(SetiError, ValueError):
    """A checkpoint that cannot be resumed from or loaded: the message names the file and the fix."""


class PretrainedWeightsError(SetiError, FileNotFoundError):
    """The local weights file is missing, unreadable or does not fit the model."""


def first_line(err: BaseException) -> str:
    """An error's first line, capped: short enough to sit inside a message that names the file and the fix."""
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:300]


def load_checkpoint_file(path: str | Path, map_location: Any = "cpu", *, purpose: str = "load") -> dict:
    """``torch.load(weights_only=True)`` with an error naming the file and what to do about it."""
    path = Path(path)
    way_out = (
        f"delete {path} to start this run over, or pass ckpt_path=null (fresh start) or ckpt_path=<another .ckpt>"
        if purpose == "resume"
        else f"re-create {path} (train again) or point at another checkpoint"
    )
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as err:
        raise CheckpointLoadError(
            f"cannot {purpose} from {path}: it holds pickled objects other than weights (refused: weights_only=True) "
            f"or is corrupt ({first_line(err)}); {way_out}"
        ) from err
    except Exception as err:  # noqa: BLE001 - torch raises RuntimeError/EOFError/OSError/... for a bad file
        raise CheckpointLoadError(
            f"cannot {purpose} from {path}: the file is truncated or corrupt ({first_line(err)}); {way_out}"
        ) from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointLoadError(
            f"cannot {purpose} from {path}: not a Lightning checkpoint (no state_dict); {way_out}"
        )
    return checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose saves are atomic and whose loads are always ``weights_only=True``."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_name(target)
        try:
            super().save_checkpoint(checkpoint, tmp, storage_options)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def load_checkpoint(self, path, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        if not Path(path).is_file():
            raise FileNotFoundError(f"checkpoint file not found: {path}")
        return load_checkpoint_file(path, map_location if map_location is not None else "cpu", purpose="resume")


def load_weights_file(path: str | Path) -> dict:
    """A weights file as a state dict, safely: safetensors, or torch with ``weights_only=True`` (no pickled code).

    A Lightning-style ``{"state_dict": ...}`` wrapper is unwrapped.
    """
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure here means an unusable file
        raise PretrainedWeightsError(
            f"could not read weights file {path} (corrupt or not a state dict?): {err}"
        ) from err
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise PretrainedWeightsError(f"{path} does not hold a state dict")
    return state


def load_state_into(model: torch.nn.Module, state: dict, path: str | Path) -> None:
    """``load_state_dict(strict=True)`` with a :class:`CheckpointLoadError` that names the file and lists
    what differs (tensors of another shape, missing, unexpected)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if shapes:
            parts.append(f"{len(shapes)} tensor(s) of another shape, e.g. " + "; ".join(shapes[:3]))
        if missing:
            parts.append(f"{len(missing)} tensor(s) missing from the checkpoint, e.g. {missing[:3]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensor(s), e.g. {unexpected[:3]}")
        hp = getattr(model, "hparams", {}) or {}
        backbone = (hp.get("backbone") or {}).get("name") if isinstance(hp.get("backbone"), dict) else None
        raise CheckpointLoadError(
            f"checkpoint {path} does not fit the model it describes (backbone {backbone!r}, "
            f"in_chans={hp.get('in_chans')}): "
            + "; ".join(parts)
            + ". It holds weights of another model or input shape (another backbone, panels or layout)"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointLoadError(f"checkpoint {path} does not fit its model: {first_line(err)}") from err
