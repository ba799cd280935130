"""Inference: batched probabilities from a trained classifier, outside the Trainer."""
