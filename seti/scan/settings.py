"""scan.py's settings: every key of conf/scan.yaml read and checked before any file is opened, and the
cadence (six files, given directly or as one row of a table) resolved."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from seti import runtime
from seti.scan.observation import N_FILES, CadenceChecks, ScanError

TTAS = ("none", "flip")
BLENDS = ("mean", "rank")
CHECKPOINTS = ("best", "last")
#: a cadence table's file columns, in observation order
TABLE_COLUMNS = ("a1", "b", "a2", "c", "a3", "d")


def _path(value: Any) -> Path:
    return Path(os.path.expanduser(str(value)))


@dataclass(frozen=True)
class ScanSettings:
    """conf/scan.yaml, validated (see the file for each key)."""

    ckpt: Path
    cadence: tuple[Path, ...]
    output: Path
    name: str
    checkpoint: str = "best"
    overwrite: bool = False
    f_start: float | None = None
    f_stop: float | None = None
    stride: int | None = None
    block_channels: int = 65536
    threshold: float | None = 0.6
    top_k: int | None = None
    max_hits: int = 2000
    plot_top: int = 10
    tta: str = "none"
    blend: str = "mean"
    batch_size: int = 64
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool | str = "auto"
    channel_tolerance: float = 0.1
    time_tolerance: float = 0.5
    checks: CadenceChecks = field(default_factory=CadenceChecks)

    @classmethod
    def from_config(cls, cfg: DictConfig | dict) -> ScanSettings:
        cfg = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(cfg)
        get = lambda key, default=None: OmegaConf.select(cfg, key, default=default)  # noqa: E731
        missing = [k for k in ("ckpt", "output") if get(k) in (None, "", "???")]
        if missing:
            raise ScanError(
                f"required key(s) not set: {', '.join(missing)} "
                "(e.g. ckpt=logs/runs/<run> output=scans/<name> cadence=[A1.h5,B.h5,A2.h5,C.h5,A3.h5,D.h5])"
            )
        cadence, name = resolve_cadence(get("cadence"), get("table"), get("row", 0))
        output = _path(get("output"))
        if get("table") not in (None, ""):
            output = output / name  # one folder per table row, so a sweep's jobs never share one
        checks = get("checks") or {}
        unknown = set(checks) - set(CadenceChecks.__dataclass_fields__)
        if unknown:
            raise ScanError(
                f"checks.{sorted(unknown)[0]} is not a check; the checks are {list(CadenceChecks.__dataclass_fields__)}"
            )
        try:
            settings = cls(
                ckpt=_path(get("ckpt")),
                cadence=cadence,
                output=output,
                name=name,
                checkpoint=str(get("checkpoint", "best")),
                overwrite=bool(get("overwrite", False)),
                f_start=_optional(get("f_start"), float),
                f_stop=_optional(get("f_stop"), float),
                stride=_optional(get("stride"), int),
                block_channels=int(get("block_channels", 65536)),
                threshold=_optional(get("threshold", 0.6), float),
                top_k=_optional(get("top_k"), int),
                max_hits=int(get("max_hits", 2000)),
                plot_top=int(get("plot_top", 10)),
                tta=str(get("tta", "none")),
                blend=str(get("blend", "mean")),
                batch_size=int(get("batch_size", 64)),
                device=str(get("device", "auto")),
                precision=str(get("precision", "auto")),
                channels_last=get("channels_last", "auto"),
                channel_tolerance=float(get("geometry.channel_tolerance", 0.1)),
                time_tolerance=float(get("geometry.time_tolerance", 0.5)),
                checks=CadenceChecks(**{k: v for k, v in checks.items()}),
            )
        except (TypeError, ValueError) as err:
            raise ScanError(f"a scan key has a value of the wrong type: {err}") from err
        settings.check()
        return settings

    def check(self) -> None:
        if self.checkpoint not in CHECKPOINTS:
            raise ScanError(f"checkpoint must be one of {list(CHECKPOINTS)}, got {self.checkpoint!r}")
        if self.tta not in TTAS:
            raise ScanError(f"tta must be one of {list(TTAS)}, got {self.tta!r}")
        if self.blend not in BLENDS:
            raise ScanError(f"blend must be one of {list(BLENDS)}, got {self.blend!r}")
        if self.block_channels < 512:
            raise ScanError(f"block_channels must be >= 512 (two windows), got {self.block_channels}")
        if self.threshold is None and not self.top_k:
            raise ScanError("threshold=null needs top_k=<N>: otherwise no window can become a hit")
        if self.top_k is not None and self.top_k < 1:
            raise ScanError(f"top_k must be >= 1 or null, got {self.top_k}")
        for key in ("max_hits", "batch_size"):
            if getattr(self, key) < 1:
                raise ScanError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.plot_top < 0:
            raise ScanError(f"plot_top must be >= 0, got {self.plot_top}")
        if str(self.precision) not in runtime.PRECISIONS:
            raise ScanError(f"precision must be one of {list(runtime.PRECISIONS)}, got {self.precision!r}")
        if self.channels_last not in ("auto", True, False):
            raise ScanError(f"channels_last must be auto, true or false, got {self.channels_last!r}")
        if self.channel_tolerance < 0 or self.time_tolerance < 0:
            raise ScanError("geometry.channel_tolerance and geometry.time_tolerance must be >= 0")
        if self.checks.min_ints < 1:
            raise ScanError(f"checks.min_ints must be >= 1, got {self.checks.min_ints}")


def _optional(value: Any, kind: type) -> Any:
    return None if value in (None, "", "null") else kind(value)


def resolve_cadence(cadence: Any, table: Any, row: Any) -> tuple[tuple[Path, ...], str]:
    """The six files of this job: ``cadence=[...]``, or row ``row`` of ``table`` (a CSV with columns
    a1,b,a2,c,a3,d and optionally name; relative paths are taken from the table's folder)."""
    has_table = table not in (None, "")
    if (cadence is None) == (not has_table):
        raise ScanError(
            "give either cadence=[A1.h5,B.h5,A2.h5,C.h5,A3.h5,D.h5] or table=<cadences.csv> row=<N>, not both or neither"
        )
    if not has_table:
        files = list(cadence) if not isinstance(cadence, str) else [cadence]
        if len(files) != N_FILES:
            raise ScanError(
                f"cadence has {len(files)} file(s), a cadence needs exactly {N_FILES} in observation order: "
                "cadence=[A1.h5,B.h5,A2.h5,C.h5,A3.h5,D.h5]"
            )
        return tuple(_path(f) for f in files), "cadence"
    table = _path(table)
    if not table.is_file():
        raise ScanError(f"table={table} does not exist; pass a CSV with columns {','.join(TABLE_COLUMNS)}[,name]")
    try:
        frame = pd.read_csv(table, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ScanError(f"table={table} is not a readable CSV: {err}") from err
    missing = [c for c in TABLE_COLUMNS if c not in frame.columns]
    if missing:
        raise ScanError(f"table={table} lacks column(s) {missing}; it needs {','.join(TABLE_COLUMNS)}[,name]")
    try:
        row = int(row)
    except (TypeError, ValueError) as err:
        raise ScanError(f"row must be an integer, got {row!r}") from err
    if not 0 <= row < len(frame):
        raise ScanError(f"row={row} is outside table={table}, which has {len(frame)} row(s) (0..{len(frame) - 1})")
    record = frame.iloc[row]
    files = tuple(p if p.is_absolute() else table.parent / p for p in (_path(record[c]) for c in TABLE_COLUMNS))
    name = str(record["name"]) if "name" in frame.columns and record["name"] else f"row-{row}"
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ScanError(f"table={table} row {row}: name {name!r} must be letters, digits, '-', '_' or '.'")
    return files, name
