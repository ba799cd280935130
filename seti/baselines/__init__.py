"""Non-learned baselines every trained model should beat (classical radio-astronomy searches)."""

from seti.baselines.dedoppler import DedopplerScorer, dedoppler_scores

__all__ = ["DedopplerScorer", "dedoppler_scores"]
