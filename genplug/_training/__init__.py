"""The trainer every plugin shares, in three modules by job.

- :mod:`~genplug._training.config`: :class:`TrainConfig` and how a model's defaults fill it;
- :mod:`~genplug._training.checkpoint`: checkpoints (weights, EMA, optimizers, random
  states) written as safetensors and JSON, swapped in atomically;
- :mod:`~genplug._training.loop`: :func:`train`, the loop, from a model object or an
  architecture name (what ``genplug train`` calls).
"""
