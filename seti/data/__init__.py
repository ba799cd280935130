"""Cadence data: the Kaggle file layout, synthetic generation, preprocessing, augmentation, DataModule."""
