"""The few exception types genplug raises.

Every message says what was given, what is allowed, and how to fix it; the CLI shows
the message as one line and exits non-zero.
"""

from __future__ import annotations


class GenplugError(Exception):
    """Base class of every error genplug raises on purpose."""


class PluginError(GenplugError):
    """A plugin failed to load or registered something that breaks a rule."""


class ModelFileError(GenplugError):
    """A model folder or file is missing, corrupt, or does not fit its architecture."""


class IncompatibleError(GenplugError):
    """Two parts do not fit together: a sampler and a model, a prior and an encoder."""
