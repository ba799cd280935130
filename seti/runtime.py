"""Where code runs: the device, the numeric precision, autocast, and every ``auto`` switch.

Training (the Trainer's settings, the model's launch settings) and inference (predict.py, validation
predictions) resolve ``auto`` here and nowhere else, so "auto" means the same thing on both paths:
on a CUDA GPU, bf16 autocast (fp16 on a GPU without bf16), channels_last, cudnn autotuning; on a CPU,
fp32 and none of them. The lowest layer of the package: it imports only torch.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

#: The precision spellings accepted on the command line, mapped to Lightning's names.
PRECISIONS = {
    "auto": "auto",
    "32": "32-true",
    "32-true": "32-true",
    "bf16": "bf16-mixed",
    "bf16-mixed": "bf16-mixed",
    "16": "16-mixed",
    "16-mixed": "16-mixed",
}


def gpu_count() -> int:
    """CUDA devices visible to this process (0 without a CUDA runtime)."""
    try:
        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - a broken or absent CUDA runtime counts as none
        return 0


def on_cuda(accelerator: str) -> bool:
    """Whether a Trainer with this ``accelerator`` setting trains on a CUDA GPU."""
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def check_switch(value: Any, key: str) -> bool | str:
    """A ``true | false | auto`` setting, refused with a message naming its config key otherwise."""
    if value is True or value is False or value == "auto":
        return value
    raise ValueError(f"{key} must be true, false or auto, got {value!r}")


def resolve_switch(value: bool | str | None, cuda: bool) -> bool:
    """``auto`` (or None) means on on a CUDA GPU, off elsewhere; true/false are kept."""
    if value in (None, "auto"):
        return cuda
    return bool(value)


#: where cadences become model inputs: the ``data.transforms`` / predict ``transforms`` vocabulary
TRANSFORMS = ("auto", "workers", "device")


def resolve_transforms(choice: str, device: torch.device | str, key: str = "transforms") -> str:
    """``workers`` or ``device``: where cadences become model inputs, for training, validation predictions
    and predict.py alike. ``auto`` = batched on the device on a CUDA GPU (workers would starve it), in
    the DataLoader workers elsewhere (on a CPU they run in parallel while the main process is one core;
    with 0 workers both paths run the same preprocessing code in the main process).
    """
    if choice not in TRANSFORMS:
        raise ValueError(f"{key} must be one of {list(TRANSFORMS)}, got {choice!r}")
    if choice == "auto":
        return "device" if torch.device(device).type == "cuda" else "workers"
    return choice


def resolve_benchmark(benchmark: Any, accelerator: str) -> bool | None:
    """``trainer.benchmark``: ``auto`` turns cudnn's autotuner on on CUDA (every batch has the same size)."""
    if benchmark == "auto":
        return on_cuda(accelerator)
    if benchmark is None or benchmark is True or benchmark is False:
        return benchmark
    raise ValueError(f"trainer.benchmark must be true, false, auto or null, got {benchmark!r}")


@contextlib.contextmanager
def cudnn_benchmark(enabled: bool):
    """cudnn's autotuner on (or off) for a block, restored after: inference with a fixed input size per
    model autotunes once, without changing the setting for the rest of the process."""
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = bool(enabled)
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


def auto_precision(cuda: bool) -> str:
    """What ``precision=auto`` means: bf16 on a GPU that has it, fp16 on an older GPU, fp32 on the CPU."""
    if cuda and torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def resolve_precision(precision: Any, cuda: bool) -> Any:
    """``auto`` -> :func:`auto_precision`; a known spelling -> Lightning's name; anything else is passed on
    unchanged (the Trainer validates its own values)."""
    name = PRECISIONS.get(str(precision), precision)
    return auto_precision(cuda) if name == "auto" else name


def resolve_device(device: str = "auto") -> torch.device:
    """``auto``: the first GPU if one is visible, else the CPU. A CUDA device without a GPU is refused."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"device={device} is not a device torch knows ({err}); use auto, cpu or cuda[:N]") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device} but no GPU is visible; use device=auto or device=cpu")
    return resolved


def autocast_for(device: torch.device, precision: str | None):
    """bf16/fp16 autocast where the precision asks for it, else a no-op."""
    precision = str(precision or "32")
    if "bf16" in precision:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    if precision.startswith("16") and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (CUDA runs asynchronously), so a clock read next is true; a no-op
    on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
