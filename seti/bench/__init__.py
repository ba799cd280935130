"""Benchmarks behind ``scripts/benchmark.py``, one module per measurement, every figure a ratio against a
baseline measured in the same run (the machines here are noisy).

- ``common``: conf/ composed one way, the default dataset, :class:`~seti.bench.common.Settings`, the time
  budget, and :func:`~seti.bench.common.measure` (an out-of-memory is a result).
- ``data``: the per-worker data path vs a bare ``np.load``.
- ``train``: the one bare loop (the ceiling) and the one train.py path (``pipeline.train``), same batch.
- ``memory``: peak memory of two training steps, one process per model (``python -m seti.bench.memory``).
- ``predict``: the one predict-speed measurement (``predict_ids``) and its two baselines.
- ``study``: the founding study and experiment=augmentation_study projected from measured rates.
- ``gpu``: the time-boxed GPU run that orders all of the above; ``docs``: its section of docs/benchmarks.md.

A new measurement is a module here with a function returning a JSON-able dict, and one entry in
``scripts/benchmark.py``'s ``SUBCOMMANDS``.
"""
