"""Scanning Breakthrough Listen observation files (.h5 / .fil) with trained models: scan.py's package.

- :mod:`~seti.scan.observation`: headers, the cadence checks, block reads through blimpy (bounded memory).
- :mod:`~seti.scan.windows`: the observation's geometry mapped to the training data's; six-panel windows.
- :mod:`~seti.scan.models`: the one adapter to seti.inference (members, batched scoring, blend).
- :mod:`~seti.scan.drift`: each hit's drift rate and S/N from the dedoppler baseline.
- :mod:`~seti.scan.hits`: hits and events tables. :mod:`~seti.scan.plots`: hit waterfalls.
- :mod:`~seti.scan.settings`: conf/scan.yaml validated. :mod:`~seti.scan.job`: the job (check, stream, resume, write).
- :mod:`~seti.scan.synthetic`: synthetic cadences with a truth table. :mod:`~seti.scan.benchmark`: speed and memory.
"""

from seti.scan.observation import ScanError

__all__ = ["ScanError"]
