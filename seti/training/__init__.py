"""Training: config checks, loggers, checkpoints, DDP/GPU plumbing and the run pipeline behind train.py."""
