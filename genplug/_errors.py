"""The few exception types genplug raises, and how untrusted text is shown in their messages.

Every message says what was given, what is allowed, and how to fix it; the CLI shows
the message as one line and exits non-zero.
"""

from __future__ import annotations

__all__ = ["ConfigError", "GenplugError", "IncompatibleError", "ModelFileError", "PluginError", "shown"]


class GenplugError(Exception):
    """Base class of every error genplug raises on purpose."""


class PluginError(GenplugError):
    """A plugin failed to load or registered something that breaks a rule."""


class ModelFileError(GenplugError):
    """A model folder or file is missing, corrupt, or does not fit its architecture."""


class IncompatibleError(GenplugError):
    """Two parts do not fit together: a sampler and a model, a prior and an encoder."""


class ConfigError(GenplugError, ValueError):
    """A configuration value is out of its allowed range or of the wrong type.

    Raised by the shared validators (:mod:`genplug.validators`); it is also a
    ``ValueError``, as attrs validators conventionally raise.
    """


def shown(value: object, *, limit: int = 120) -> str:
    r"""``value`` as it may appear in a message: ``repr``-escaped (no raw newlines or
    terminal escape codes from a file someone else wrote) and cut to ``limit`` characters.

    Example:
        >>> print(shown("genplug-x\n\x1b[2J"))
        'genplug-x\n\x1b[2J'
        >>> print(shown("a" * 10_000, limit=40))
        'aaaaaaaaaaaaaaaaaaa... (10002 chars)
    """
    text = repr(value)
    if len(text) > limit:
        suffix = f"... ({len(text)} chars)"
        text = text[: max(0, limit - len(suffix))] + suffix
    return text
