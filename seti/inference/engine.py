"""predict.py's data path: raw cadences in, every ensemble group's probabilities out.

predict.py's path (:func:`score_cadences`): DataLoader workers read the raw float16 cadences
(:class:`RawCadenceDataset`, pinned for a GPU); each loaded batch goes to the device once, is
preprocessed there in one batched call per distinct preprocessing (``Preprocessor.batch``) and scored by
every model of that group, so an ensemble costs one pass over the files whatever its size. Flip TTA is
one forward pass on the batch and its flip concatenated. On a CPU the workers run the same batched
preprocessing themselves (``transforms=workers``): there the "device" is one process, and the workers
are the parallelism.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from seti.data.layout import CadenceDataError, load_cadence
from seti.models.scoring import check_tta, pad_rows, probabilities
from seti.runtime import autocast_for, resolve_switch, synchronize


# ================================================================================= raw cadences in, every group out
class RawCadenceDataset(Dataset):
    """``(cadence as stored, index)``: workers only read the files; preprocessing happens batched on the device.

    float16 files stay float16 (half the bytes to pin and transfer); other float files become float32.
    A file that fails to load here passed the up-front check only as far as it went: the error says so.
    """

    def __init__(self, paths: Sequence[str | Path], check: str = "header") -> None:
        self.paths = [Path(p) for p in paths]
        self.check = check

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        try:
            array = load_cadence(self.paths[index])
        except CadenceDataError as err:
            if self.check == "full":
                raise
            raise CadenceDataError(
                f"{err} (found during inference: check={self.check} read only the .npy headers up front; "
                "check=full reads every array up front, so a bad file stops the job before any model runs)"
            ) from err
        if array.dtype != np.float16:
            array = array.astype(np.float32)
        return torch.from_numpy(array), index


def collate_raw(items: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack a batch; a batch mixing float16 and float32 files becomes float32."""
    tensors = [t for t, _ in items]
    if len({t.dtype for t in tensors}) > 1:
        tensors = [t.float() for t in tensors]
    return torch.stack(tensors), torch.tensor([i for _, i in items], dtype=torch.int64)


class CollatePreprocessed:
    """``transforms=workers``: stack a raw batch and preprocess it in the worker, once per group:
    returns ([one (B, C, H, W) float32 tensor per preprocessor], indices). A class, so spawned workers can
    unpickle it."""

    def __init__(self, preprocessors: Sequence) -> None:
        self.preprocessors = list(preprocessors)

    def __call__(self, items: list[tuple[torch.Tensor, int]]) -> tuple[list[torch.Tensor], torch.Tensor]:
        raw, index = collate_raw(items)
        with torch.no_grad():
            return [p.batch(raw) for p in self.preprocessors], index


#: the phases of a scoring pass that :func:`score_cadences` times, in seconds
PASS_PHASES = ("warmup_s", "read_s", "preprocess_s", "forward_s")


@torch.no_grad()
def score_cadences(
    groups: Sequence[tuple[object, torch.nn.Module]],
    loader: DataLoader,
    device: torch.device | str = "cpu",
    precision: str | None = None,
    tta: str = "none",
    channels_last: bool | str | None = "auto",
    pad_to: int | None = None,
) -> tuple[np.ndarray, list[np.ndarray], dict]:
    """Score every batch of ``loader`` with every group: ``groups`` is [(preprocessor, model)], where the
    model maps (B, C, H, W) to (B,) or (B, members) logits. A batch is (raw cadences, indices), preprocessed
    here on ``device``, or ([one image tensor per group], indices) from :class:`CollatePreprocessed`.

    ``pad_to``: a smaller batch (the last) is padded to this many rows with copies of its last image and the
    pad rows' scores dropped, so the models see one input shape (autotuning and compiling happen once; every
    row is scored independently in eval mode, so the kept scores are those of the unpadded batch).

    Returns (dataset indices (N,), per group a (N, members) float64 array of probabilities, stats) where
    stats counts the batches and cadences read (one pass over the data for all groups) and times the pass's
    phases (:data:`PASS_PHASES`): the first batch's preprocessing and scoring is the warm-up (cuDNN
    autotuning, compiling, the allocator); ``read_s`` is the time spent waiting for the loader. On CUDA each
    phase ends with a device sync so the phases add up; at a large batch that costs little.
    """
    check_tta(tta)
    device = torch.device(device)
    nhwc = resolve_switch(channels_last, cuda=device.type == "cuda")
    models = []
    for _, model in groups:
        model = model.eval().to(device)
        models.append(model.to(memory_format=torch.channels_last) if nhwc else model)
    indices: list[torch.Tensor] = []
    outputs: list[list[torch.Tensor]] = [[] for _ in groups]
    batches = cadences = padded = 0
    timing = dict.fromkeys(PASS_PHASES, 0.0)
    clock = time.perf_counter()
    for batch, index in loader:
        now = time.perf_counter()
        timing["read_s"] += now - clock
        clock, warm = now, batches > 0
        n = int(index.shape[0])
        done = isinstance(batch, (list, tuple))  # preprocessed in the workers
        raw = None if done else batch.to(device, non_blocking=True)
        inputs = []
        for g, (preprocess, _) in enumerate(groups):
            x = batch[g].to(device, non_blocking=True) if done else preprocess.batch(raw)
            if pad_to is not None:
                x = pad_rows(x, pad_to)
            inputs.append(x.contiguous(memory_format=torch.channels_last) if nhwc else x)
        synchronize(device)
        now = time.perf_counter()
        timing["preprocess_s" if warm else "warmup_s"] += now - clock
        clock = now
        for g, (x, model) in enumerate(zip(inputs, models)):
            with autocast_for(device, precision):
                p = probabilities(model, x, tta)
            outputs[g].append(p.reshape(x.shape[0], -1)[:n])  # stays on the device: no copy per batch
        synchronize(device)
        now = time.perf_counter()
        timing["forward_s" if warm else "warmup_s"] += now - clock
        clock = now
        indices.append(index)
        batches += 1
        cadences += n
        padded += max(0, (pad_to or 0) - n)
    timing["read_s"] += time.perf_counter() - clock  # the loader's last call, which found it exhausted
    stats = {"batches": batches, "cadences_read": cadences, "pad_rows": padded, "channels_last": nhwc, **timing}
    if not indices:
        return np.empty(0, dtype=np.int64), [np.empty((0, 1)) for _ in groups], stats
    started = time.perf_counter()
    probs = [torch.cat(out).double().cpu().numpy() for out in outputs]
    stats["forward_s"] += time.perf_counter() - started  # the copy back waits for the last batch's kernels
    return torch.cat(indices).numpy().astype(np.int64), probs, stats
