"""Checkpoint files through Lightning's public ``CheckpointIO`` plugin: atomic writes, safe reads.

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


class CheckpointLoadError(ValueError):
    """A checkpoint that cannot be resumed from or loaded: the message names the file and the fix."""


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:300]


def load_checkpoint_file(path: str | Path, map_location: Any = "cpu", *, purpose: str = "load") -> dict:
    """``torch.load(weights_only=True)`` with an error naming the file and what to do about it."""
    path = Path(path)
    way_out = (
        f"delete {path} to start this run over, or pass ckpt_path=null (fresh start) or ckpt_path=<another .ckpt>"
        if purpose == "resume" else f"re-create {path} (train again) or point at another checkpoint"
    )
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as err:
        raise CheckpointLoadError(
            f"cannot {purpose} from {path}: it holds pickled objects other than weights (refused: weights_only=True) "
            f"or is corrupt ({_first_line(err)}); {way_out}"
        ) from err
    except Exception as err:  # noqa: BLE001 - torch raises RuntimeError/EOFError/OSError/... for a bad file
        raise CheckpointLoadError(
            f"cannot {purpose} from {path}: the file is truncated or corrupt ({_first_line(err)}); {way_out}"
        ) from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointLoadError(f"cannot {purpose} from {path}: not a Lightning checkpoint (no state_dict); {way_out}")
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
