"""The trainer every plugin shares, in modules by job.

- :mod:`~genplug._training.config`: :class:`TrainConfig` and how a model's defaults fill it;
- :mod:`~genplug._training.checkpoint`: checkpoints (weights, EMA, optimizers, random
  states) written as safetensors and JSON, swapped in atomically;
- :mod:`~genplug._training.batches`: which examples each step and each process trains on;
- :mod:`~genplug._training.distributed`: the process group under ``torchrun``;
- :mod:`~genplug._training.steps`: micro-batches, autocast, loss scaling, the gradient sum
  over processes and clipping, around the model's own ``training_step``;
- :mod:`~genplug._training.outdir`: the run's folder (lock, leftovers, metrics, previews);
- :mod:`~genplug._training.loop`: :func:`train`, the loop, from a model object or an
  architecture name (what ``genplug train`` calls).
"""
