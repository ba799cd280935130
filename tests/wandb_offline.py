"""Read an offline W&B run file (``run-<id>.wandb``) back without the network or ``wandb sync``.

wandb.Api cannot read offline runs, yet the tests check what a run logged (only they use this reader).
The file is a LevelDB-style log: a 7-byte header (``:W&B``, 0xBEE1, version), then 32 KiB blocks of
records, each with a 7-byte header (crc32, length, type: full/first/middle/last), whose payloads are
``wandb.proto.wandb_internal_pb2.Record`` messages. wandb 0.31 no longer ships a reader of its own.
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BLOCK = 32768
FILE_HEADER = 7
RECORD_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    run_id: str = ""
    name: str = ""
    group: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    exit_code: int | None = None

    def series(self, key: str) -> list:
        return [row[key] for row in self.history if key in row]


def iter_records(path: str | Path):
    data = Path(path).read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path} is not a W&B run file (bad header)")
    pos, pending = FILE_HEADER, b""
    while pos + RECORD_HEADER <= len(data):
        left_in_block = BLOCK - pos % BLOCK
        if left_in_block < RECORD_HEADER:
            pos += left_in_block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + RECORD_HEADER])
        pos += RECORD_HEADER
        chunk = data[pos : pos + length]
        pos += length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            yield pending + chunk
            pending = b""
        elif kind == 0 and length == 0:
            pos += BLOCK - pos % BLOCK if pos % BLOCK else 0
        else:
            raise ValueError(f"{path}: unknown record type {kind} at byte {pos}")


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)


def read_offline_run(path: str | Path) -> OfflineRun:
    """Parse run identity, config, history rows and summary from one ``.wandb`` file."""
    from wandb.proto import wandb_internal_pb2 as pb

    run = OfflineRun()
    for payload in iter_records(path):
        record = pb.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.run_id, run.name, run.group = record.run.run_id, record.run.display_name, record.run.run_group
            run.tags = list(record.run.tags)
            for item in record.run.config.update:
                run.config[_key(item)] = json.loads(item.value_json)
        elif kind == "config":
            for item in record.config.update:
                run.config[_key(item)] = json.loads(item.value_json)
        elif kind == "history":
            run.history.append({_key(item): json.loads(item.value_json) for item in record.history.item})
        elif kind == "summary":
            for item in record.summary.update:
                run.summary[_key(item)] = json.loads(item.value_json)
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    return run


def find_run_files(directory: str | Path) -> list[Path]:
    return sorted(Path(directory).rglob("run-*.wandb"))


def read_complete_run(directory: Path, timeout: float = 60.0) -> OfflineRun:
    """The W&B offline run file under ``directory``, read once it is complete.

    ``run.finish()`` can return while W&B's service process is still writing the ``.wandb`` file (a reader
    then sees only its header), so poll until the file holds the run's exit record, with a timeout.
    """
    deadline = time.monotonic() + timeout
    last = "no run-*.wandb file yet"
    while True:
        files = find_run_files(directory)
        if len(files) > 1:
            pytest.fail(f"expected one W&B run file under {directory}, found {files}")
        if files:
            try:
                logged = read_offline_run(files[0])
            except Exception as exc:  # a block still being written: not yet parseable  # noqa: BLE001
                last = f"unreadable so far: {exc!r}"
            else:
                if logged.exit_code is not None:
                    return logged
                last = f"no exit record yet ({len(logged.history)} history rows)"
        if time.monotonic() > deadline:
            pytest.fail(f"the W&B run file under {directory} was not complete after {timeout:.0f} s: {last}")
        time.sleep(0.2)
