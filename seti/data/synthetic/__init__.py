"""Synthetic SETI cadences in the exact Kaggle "E.T. Signal Search" layout.

Why: the real training set is 60,000 cadences we may not have, and small real subsets are too small to
learn from (a from-scratch CNN on 2,000 realistic cadences learns little). This package makes as many labelled cadences
as wanted, with backgrounds that look like the Green Bank ones (chi-square radiometer noise, bandpass shape,
bright/dim channel stripes, per-row gain drift, terrestrial interference in every panel) and needles drawn
with setigen, Breakthrough Listen's own signal generator, the way the competition made its positives.

Conventions (the same as the Kaggle files):

* a cadence is float16 ``(6, 273, 256)`` in order A B A C A D; panels 0, 2, 4 are ON target, 1, 3, 5 OFF;
* a panel is ~5 minutes (``DT_S`` = 300/273 s per row) and 256 channels of ``DF_HZ`` = 2.79 Hz;
* a positive holds a needle only in ON panels (all three, or 1-2 of them), whose frequency drifts
  continuously through the whole cadence time (it keeps moving during the OFF panels, just isn't drawn);
* every panel is z-scored after injection (mean 0, std 1), so brightness cannot leak the label.

Layout: :mod:`.params` (:class:`SyntheticParams`, validated), :mod:`.needles` (:class:`NeedleSpec`, its sampling,
the setigen and numpy renderers), :mod:`.backgrounds` (noise, bandpass, gain, RFI, z-scoring,
:func:`generate_cadence`), :mod:`.real` (label-0 cadences of a Kaggle folder as varied backgrounds),
:mod:`.writer` (ids, labels, manifest, the parallel and
locked :func:`write_dataset` / :func:`ensure_dataset`).

Public API: :class:`SyntheticParams`, :func:`generate_cadence`,
:func:`sample_on_panels`, :func:`synthetic_id`, :func:`write_dataset`, :func:`ensure_dataset`.
"""

from seti.data.layout import TEST_LABELS_CSV
from seti.data.synthetic.backgrounds import generate_cadence
from seti.data.synthetic.needles import (
    DF_HZ,
    DT_S,
    FCH1_HZ,
    FCHANS,
    N_PANELS,
    PANEL_S,
    TCHANS,
    NeedleSpec,
    make_frame,
    render_numpy,
    render_setigen,
    sample_needle,
    sample_on_panels,
    sigma_clipped_std,
)
from seti.data.synthetic.params import PROFILES, SyntheticParams
from seti.data.synthetic.real import (
    BACKGROUND_MODES,
    BACKGROUNDS_CSV,
    BackgroundDataError,
    BackgroundSource,
    describe_backgrounds,
    vary_background,
)
from seti.data.synthetic.writer import (
    LOCK_NAME,
    MANIFEST_NAME,
    PARTIAL_MANIFEST_NAME,
    SYNTHETIC_VERSION,
    ensure_dataset,
    synthetic_id,
    write_dataset,
)

__all__ = [
    "BACKGROUND_MODES",
    "BACKGROUNDS_CSV",
    "BackgroundDataError",
    "BackgroundSource",
    "describe_backgrounds",
    "vary_background",
    "DF_HZ",
    "DT_S",
    "FCH1_HZ",
    "FCHANS",
    "LOCK_NAME",
    "MANIFEST_NAME",
    "N_PANELS",
    "NeedleSpec",
    "PANEL_S",
    "PARTIAL_MANIFEST_NAME",
    "PROFILES",
    "SYNTHETIC_VERSION",
    "SyntheticParams",
    "TCHANS",
    "TEST_LABELS_CSV",
    "ensure_dataset",
    "generate_cadence",
    "make_frame",
    "render_numpy",
    "render_setigen",
    "sample_needle",
    "sample_on_panels",
    "sigma_clipped_std",
    "synthetic_id",
    "write_dataset",
]
