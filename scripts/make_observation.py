"""Write a synthetic six-file ABACAD cadence (.h5 and/or .fil) with setigen, and its truth.csv.

    python scripts/make_observation.py --out data/observation [--fchans 65536] [--formats h5 fil] [--seed 0]

ON-only drifting signals (to find), RFI in all six panels and OFF-only signals (not to flag), at known
frequencies; see seti/scan/synthetic.py for the headers, noise and signal model.
"""

from __future__ import annotations

import argparse
import logging

from seti.scan.synthetic import ObservationSpec, write_observation


def main() -> None:
    d = ObservationSpec()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for A1 B A2 C A3 D files, truth.csv, observation.json")
    parser.add_argument("--formats", nargs="+", choices=["h5", "fil"], default=["h5"], help="file formats to write")
    parser.add_argument("--fchans", type=int, default=d.fchans, help="fine channels per file (2.79 Hz each)")
    parser.add_argument("--tchans", type=int, default=d.tchans, help="integrations per file (18.25 s each)")
    parser.add_argument("--n-on", type=int, default=d.n_on, help="ON-only (ET-like) signals")
    parser.add_argument("--n-rfi", type=int, default=d.n_rfi, help="signals in all six panels (RFI)")
    parser.add_argument("--n-off", type=int, default=d.n_off, help="OFF-only signals")
    parser.add_argument(
        "--snr", type=float, nargs=2, default=d.snr_range, metavar=("LOW", "HIGH"), help="setigen S/N range"
    )
    parser.add_argument(
        "--drift", type=float, nargs=2, default=d.drift_range_hz_s, metavar=("LOW", "HIGH"), help="|drift| range, Hz/s"
    )
    parser.add_argument("--seed", type=int, default=d.seed)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    spec = ObservationSpec(
        fchans=args.fchans,
        tchans=args.tchans,
        n_on=args.n_on,
        n_rfi=args.n_rfi,
        n_off=args.n_off,
        snr_range=tuple(args.snr),
        drift_range_hz_s=tuple(args.drift),
        seed=args.seed,
    )
    written = write_observation(args.out, spec, tuple(args.formats))
    for fmt, paths in written.items():
        print(f"{fmt}: cadence=[{','.join(str(p) for p in paths)}]")
    print(f"truth: {args.out}/truth.csv")


if __name__ == "__main__":
    main()
