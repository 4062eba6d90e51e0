"""genplug: a plugin-based framework for generative models in PyTorch.

The core defines what a generative model is (the :class:`Generator`, :class:`Encoder`
and :class:`Sampler` protocols), how plugins announce themselves (pluggy hooks that
receive a ``register`` callback), the model-folder format, data, metrics, the trainer
and the ``genplug`` CLI. Architectures live in plugins.

Importing ``genplug`` does not import torch; :class:`Model`, :class:`Trainer` and the
other torch-backed names load on first use.
"""

from __future__ import annotations

from genplug import validators
from genplug._api import create, default_weights, get_sampler, load, sample
from genplug._configs import parse_pairs
from genplug._errors import ConfigError, GenplugError, IncompatibleError, ModelFileError, PluginError
from genplug._folder import save as save_model
from genplug._hookspecs import hookimpl
from genplug._lazy import lazy_attributes
from genplug._plugins import API_VERSION, PluginInfo, Registry, registry, reset_registry, use_registry
from genplug._protocols import Bijection, Condition, Encoder, Generator, Latent, NextTokenModel, Sampler, check_protocol
from genplug._specs import ArchitectureSpec, DatasetSpec, MetricSpec, SamplerSpec
from genplug._tokenizer import ByteTokenizer, CharTokenizer, Tokenizer, load_tokenizer
from genplug._training.config import TrainConfig
from genplug._version import __version__

__all__ = [
    "API_VERSION",
    "ArchitectureSpec",
    "Bijection",
    "ByteTokenizer",
    "CharTokenizer",
    "Composite",
    "Condition",
    "CompositeConfig",
    "ConfigError",
    "Data",
    "DatasetSpec",
    "Encoder",
    "Generator",
    "GenplugError",
    "IncompatibleError",
    "Latent",
    "MetricSpec",
    "NextTokenModel",
    "Model",
    "ModelFileError",
    "PluginError",
    "PluginInfo",
    "Registry",
    "Sampler",
    "SamplerSpec",
    "Tokenizer",
    "TrainConfig",
    "__version__",
    "check_protocol",
    "compare",
    "compose",
    "create",
    "default_weights",
    "evaluate",
    "get_sampler",
    "hookimpl",
    "load",
    "load_data",
    "load_tokenizer",
    "parse_pairs",
    "push_folder",
    "registry",
    "reset_registry",
    "sample",
    "save_model",
    "train",
    "save_samples",
    "use_registry",
    "validators",
]

_LAZY = {
    # name: module that defines it (each imports torch, so it loads on first use)
    "Model": "genplug._model",
    "Data": "genplug._data",
    "load_data": "genplug._data",
    "Composite": "genplug._compose",
    "CompositeConfig": "genplug._compose",
    "compare": "genplug._compare",
    "compose": "genplug._compose",
    "evaluate": "genplug._evaluate",
    "push_folder": "genplug._hub.push",
    "save_samples": "genplug._images",
    "train": "genplug._training.loop",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
