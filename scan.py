"""Scan a Breakthrough Listen cadence (six .h5/.fil files) with trained checkpoints: hits, events, plots.

    python scan.py ckpt=<run|sweep|ckpt> cadence=[A1.h5,B.h5,A2.h5,C.h5,A3.h5,D.h5] output=scans/<name>
    python scan.py -m ckpt=<run> table=cadences.csv row=0,1,2 output=scans launcher=slurm   # many, on a cluster

See conf/scan.yaml for every key, docs/scan.md for the method, and seti/scan/ for the logic.
"""

import sys

import hydra
from omegaconf import DictConfig

from seti.training.resolvers import register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="scan")
def main(cfg: DictConfig) -> None:
    from seti.inference import PredictError
    from seti.scan.job import scan
    from seti.scan.observation import ScanError

    try:
        summary = scan(cfg)
    except (ScanError, PredictError) as err:  # bad input: the message names it and the fix; no traceback
        print(f"scan.py: error: {err}", file=sys.stderr)
        sys.exit(2)
    print(
        f"wrote {summary['output']}: {summary['hits']} hit(s), {summary['events']} event(s) from "
        f"{summary['windows']} window(s) at {summary['windows_per_s'] or float('nan'):.1f} windows/s"
    )


if __name__ == "__main__":
    main()
