"""Observation files (.h5 / .fil, read with blimpy): their headers, the cadence checks, and block reads.

A high-resolution Breakthrough Listen file is tens of GB, so nothing here loads a whole file: headers come
from blimpy's reader opened with ``load_data=False``, and data is read one block of fine channels at a time
(``read_block``), which bounds memory by one block of six files whatever the files' size.

Channels are numbered as stored: channel ``i`` is centred on ``fch1 + i * foff`` MHz (``foff`` is
negative in most GBT products, so frequency falls as the index grows).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seti.data.layout import OFF_PANELS, ON_PANELS
from seti.errors import SetiError

log = logging.getLogger(__name__)

SUFFIXES = (".h5", ".fil")
#: cadence panels in observation order (ABACAD); a scan needs all six
N_FILES = 6


class ScanError(SetiError, ValueError):
    """A bad scan input (file, cadence, checkpoint, output): the message names it and says how to fix it."""


@dataclass(frozen=True)
class Header:
    """What a scan needs from one file's header: its frequency axis, time axis and pointing."""

    path: Path
    fch1: float  # MHz, centre of stored channel 0
    foff: float  # MHz per channel (signed)
    nchans: int
    n_ints: int
    tsamp: float  # s per integration
    tstart: float  # MJD of the first integration
    source_name: str
    nifs: int

    @property
    def panel_s(self) -> float:
        """Seconds one file covers (its integrations x their length)."""
        return self.n_ints * self.tsamp

    def freq_mhz(self, channel: np.ndarray | float) -> np.ndarray | float:
        """Centre frequency of stored channel(s)."""
        return self.fch1 + np.asarray(channel, dtype=np.float64) * self.foff


def _quiet_blimpy():
    """blimpy imports pkg_resources (a deprecation warning) and logs every read at INFO: keep both quiet."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from blimpy.io.file_wrapper import open_file
    for name in ("blimpy", "blimpy.io.base_reader", "blimpy.io.hdf_reader", "blimpy.io.fil_reader", "blimpy.waterfall"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return open_file


def open_reader(path: Path):
    """blimpy's reader for ``path`` with no data loaded; any failure becomes a ScanError naming the file."""
    open_file = _quiet_blimpy()
    if not path.is_file():
        raise ScanError(f"{path}: no such file; pass six existing .h5 or .fil files in cadence=[...]")
    if path.suffix.lower() not in SUFFIXES:
        raise ScanError(f"{path}: not a filterbank file (suffix {path.suffix!r}); pass .h5 or .fil files")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return open_file(str(path), load_data=False)
    except Exception as err:  # noqa: BLE001 - h5py/blimpy raise OSError, KeyError, ValueError, ... on bad files
        raise ScanError(
            f"{path}: cannot be read as a {path.suffix} filterbank file ({type(err).__name__}: {str(err)[:200]}); "
            "it is corrupt, truncated or not a filterbank file: re-download or regenerate it"
        ) from err


def read_header(path: str | Path) -> Header:
    """The header of one file, checked for the values a scan relies on (and that the data is all there)."""
    path = Path(path)
    reader = open_reader(path)
    h = reader.header
    try:
        source = h.get("source_name", "")
        header = Header(
            path=path,
            fch1=float(h["fch1"]),
            foff=float(h["foff"]),
            nchans=int(h["nchans"]),
            n_ints=int(reader.n_ints_in_file),
            tsamp=float(h["tsamp"]),
            tstart=float(h["tstart"]),
            source_name=source.decode() if isinstance(source, bytes) else str(source),
            nifs=int(h.get("nifs", 1)),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ScanError(
            f"{path}: its header lacks or garbles {err}; it is not a Breakthrough Listen filterbank file"
        ) from err
    finally:
        _close(reader)
    if header.nchans < 1 or header.n_ints < 1 or header.foff == 0 or header.tsamp <= 0:
        raise ScanError(
            f"{path}: empty or invalid axes (nchans={header.nchans}, integrations={header.n_ints}, "
            f"foff={header.foff}, tsamp={header.tsamp}); the file is truncated or its header is wrong"
        )
    if path.suffix.lower() == ".fil":  # a truncated .fil still opens: blimpy counts integrations from its size
        spectrum = header.nchans * header.nifs * int(h.get("nbits", 32)) // 8
        if (path.stat().st_size - int(reader.idx_data)) % spectrum:
            raise ScanError(
                f"{path}: truncated (it ends inside an integration: {path.stat().st_size} bytes is not a header plus "
                f"whole spectra of {spectrum} bytes); re-download or regenerate it"
            )
    return header


def _close(reader) -> None:
    h5 = getattr(reader, "h5", None)
    if h5 is not None:
        h5.close()


@dataclass(frozen=True)
class CadenceChecks:
    """The switches of :func:`check_cadence` (conf/scan.yaml ``checks``); each names the real-data case that needs it."""

    source_names: bool = True  # ON panels share a source name, OFF panels differ from it
    start_order: bool = True  # start times increase panel by panel
    same_n_ints: bool = False  # all six files have the same number of integrations
    min_ints: int = 2  # fewer integrations than this cannot show a drift


def check_cadence(paths: Sequence[str | Path], checks: CadenceChecks = CadenceChecks()) -> list[Header]:
    """Every check a cadence must pass before anything is scanned or written; the first failure is raised
    as a ScanError naming the file and the fix."""
    paths = [Path(p) for p in paths]
    if len(paths) != N_FILES:
        raise ScanError(
            f"cadence has {len(paths)} file(s), a cadence needs exactly {N_FILES} in observation order "
            "(A1 B A2 C A3 D): cadence=[A1.h5,B.h5,A2.h5,C.h5,A3.h5,D.h5]"
        )
    headers = [read_header(p) for p in paths]
    first = headers[0]
    for h in headers:
        if h.nifs != 1:
            raise ScanError(f"{h.path}: {h.nifs} IFs (polarisations); the scan reads total-intensity files (nifs=1)")
        if h.n_ints < checks.min_ints:
            raise ScanError(
                f"{h.path}: {h.n_ints} integration(s), fewer than checks.min_ints={checks.min_ints}: "
                "too short to show a drift (or truncated)"
            )
    for h in headers[1:]:
        if h.nchans != first.nchans or not math.isclose(h.foff, first.foff, rel_tol=1e-9):
            raise ScanError(
                f"{h.path}: frequency axis (nchans={h.nchans}, foff={h.foff} MHz) differs from {first.path} "
                f"(nchans={first.nchans}, foff={first.foff} MHz); the six files must be the same product of one "
                "cadence (e.g. all 0000.h5)"
            )
        if not math.isclose(h.fch1, first.fch1, rel_tol=0, abs_tol=abs(first.foff) * 1e-3):
            raise ScanError(
                f"{h.path}: fch1={h.fch1!r} MHz differs from {first.path}'s {first.fch1!r} MHz; the six files must "
                "cover the same band (same compute node / product of one cadence)"
            )
    if checks.same_n_ints and len({h.n_ints for h in headers}) > 1:
        raise ScanError(
            f"integrations differ across the cadence ({[h.n_ints for h in headers]}); set checks.same_n_ints=false "
            "to scan it anyway (each panel is resampled on its own)"
        )
    if checks.start_order:
        for before, after in zip(headers, headers[1:]):
            if not after.tstart > before.tstart:
                raise ScanError(
                    f"{after.path}: starts at MJD {after.tstart} , not after {before.path} (MJD {before.tstart}); "
                    "list the files in observation order, or set checks.start_order=false if the headers are wrong"
                )
    if checks.source_names:
        on = {headers[i].source_name for i in ON_PANELS}
        if len(on) != 1:
            bad = next(headers[i] for i in ON_PANELS if headers[i].source_name != headers[ON_PANELS[0]].source_name)
            raise ScanError(
                f"{bad.path}: ON panel source {bad.source_name!r} differs from panel 0's "
                f"{headers[0].source_name!r}; panels 0, 2, 4 must point at the target (order A1 B A2 C A3 D), "
                "or set checks.source_names=false"
            )
        target = on.pop()
        for i in OFF_PANELS:
            if headers[i].source_name == target:
                raise ScanError(
                    f"{headers[i].path}: OFF panel {i} has the target's source name {target!r}; panels 1, 3, 5 must "
                    "point away from it (order A1 B A2 C A3 D), or set checks.source_names=false"
                )
    return headers


def check_range(header: Header, start: int, stop: int, what: str) -> None:
    """A channel range [start, stop) must lie inside the file and hold at least one channel."""
    if not 0 <= start < stop <= header.nchans:
        lo, hi = sorted((float(header.freq_mhz(0)), float(header.freq_mhz(header.nchans - 1))))
        raise ScanError(
            f"{header.path}: {what} selects channels [{start}, {stop}) but the file has 0..{header.nchans}; "
            f"choose a range inside its band {lo:.6f}-{hi:.6f} MHz"
        )


def channel_range(header: Header, f_start: float | None, f_stop: float | None) -> tuple[int, int]:
    """``scan.f_start``/``f_stop`` (MHz, either order, null = the band's edge) -> stored channels [start, stop)."""
    if f_start is None and f_stop is None:
        return 0, header.nchans
    lo_edge, hi_edge = sorted((float(header.freq_mhz(-0.5)), float(header.freq_mhz(header.nchans - 0.5))))
    lo = lo_edge if f_start is None else float(f_start)
    hi = hi_edge if f_stop is None else float(f_stop)
    lo, hi = sorted((lo, hi))
    if hi <= lo_edge or lo >= hi_edge or hi - lo < abs(header.foff):
        raise ScanError(
            f"{header.path}: frequency range {lo}-{hi} MHz lies outside the file's band "
            f"{lo_edge:.6f}-{hi_edge:.6f} MHz or is empty; set scan.f_start/scan.f_stop inside it (or null for all)"
        )
    # channel i covers [f(i) - |foff|/2, f(i) + |foff|/2]: keep the channels whose centre lies in [lo, hi]
    a = (lo - header.fch1) / header.foff
    b = (hi - header.fch1) / header.foff
    start = max(0, math.ceil(min(a, b) - 1e-9))
    stop = min(header.nchans, math.floor(max(a, b) + 1e-9) + 1)
    check_range(header, start, stop, f"scan.f_start={f_start}/scan.f_stop={f_stop}")
    return start, stop


def read_block(header: Header, start: int, stop: int) -> np.ndarray:
    """Stored channels [start, stop) of every integration: float32 (n_ints, stop - start), read through
    blimpy's reader, which touches only that slice of the file."""
    check_range(header, start, stop, "a block read")
    reader = open_reader(header.path)
    try:
        # blimpy selects by frequency and rounds (f - fch1) / foff to channel indices: the centres of channels
        # start and stop map back to exactly [start, stop)
        f_edges = sorted((float(header.freq_mhz(start)), float(header.freq_mhz(stop))))
        lo_file, hi_file = reader.f_begin, reader.f_end
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader.read_data(f_start=max(f_edges[0], lo_file), f_stop=min(f_edges[1], hi_file))
        data = np.asarray(reader.data)
    except ScanError:
        raise
    except Exception as err:  # noqa: BLE001 - a file truncated after its header fails here
        raise ScanError(
            f"{header.path}: reading channels [{start}, {stop}) failed ({type(err).__name__}: {str(err)[:200]}); "
            "the file is corrupt or truncated: re-download or regenerate it"
        ) from err
    finally:
        _close(reader)
    if data.ndim != 3 or data.shape[0] != header.n_ints or data.shape[2] != stop - start:
        raise ScanError(
            f"{header.path}: reading channels [{start}, {stop}) returned shape {data.shape}, expected "
            f"({header.n_ints}, 1, {stop - start}); the file is truncated or its header is wrong"
        )
    block = data[:, 0, :].astype(np.float32, copy=False)
    if not np.isfinite(block).all():
        raise ScanError(f"{header.path}: channels [{start}, {stop}) hold NaN or inf; the file is corrupt")
    return block
