"""``genplug.Model``: the base class first-party architectures build on.

It adds what every model shares to ``torch.nn.Module``: a frozen attrs config, the
model-folder format (``save_pretrained`` / ``from_pretrained``), Hub upload, and the
training contract the shared trainer calls. Subclassing it is a convenience, not a
requirement: the protocols are what composition and sampling check.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

import torch

from genplug import _files


class Model(torch.nn.Module):
    """Base class of genplug models.

    Subclasses set ``architecture`` (the registered name) and ``config_class`` (a frozen
    attrs class), take the config as the only argument of ``__init__``, and implement
    ``sample`` and ``loss``. A model with two optimizers (a GAN) overrides
    ``configure_optimizers`` and ``training_step``.

    Class attributes:
        architecture: the name it is registered under.
        config_class: its frozen attrs config class.
        log_prob_kinds: the likelihood kinds ``log_prob`` computes, default first
            (``"exact"``, ``"elbo"``, ``"iwae"``); ``()`` when it has none.
    """

    architecture: ClassVar[str] = ""
    config_class: ClassVar[type]
    log_prob_kinds: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any) -> None:
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} takes a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config

    # -- shape and place ---------------------------------------------------------

    @property
    def event_shape(self) -> tuple[int, ...]:
        """The shape of one sample; by default the config's ``data_shape``."""
        return tuple(self.config.data_shape)

    @property
    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        for tensor in self.buffers():
            return tensor.device
        return torch.device("cpu")

    # -- generation ----------------------------------------------------------------

    def sample(self, n: int, *, generator: torch.Generator | None = None, **condition: Any) -> torch.Tensor:
        """``n`` samples of shape ``(n, *event_shape)`` in data space."""
        raise NotImplementedError(f"{type(self).__name__} does not implement sample()")

    # -- training contract ---------------------------------------------------------

    def loss(self, batch: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """The scalar training loss on one batch (used by the default ``training_step``)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement loss()")

    def configure_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        """The optimizers by name; the default is one AdamW over every parameter."""
        return {"model": torch.optim.AdamW(self.parameters(), lr=lr)}

    def training_step(
        self,
        batch: torch.Tensor,
        optimizers: dict[str, torch.optim.Optimizer],
        *,
        generator: torch.Generator | None = None,
    ) -> dict[str, float]:
        """One optimisation step; returns the figures the progress bar shows.

        Override it for several optimizers (a GAN's generator and discriminator).
        """
        (optimizer,) = optimizers.values()
        optimizer.zero_grad(set_to_none=True)
        loss = self.loss(batch, generator=generator)
        loss.backward()
        optimizer.step()
        return {"loss": float(loss.detach())}

    # -- files -----------------------------------------------------------------------

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json`` and ``model.safetensors`` to ``directory`` atomically."""
        return save_model(self, directory)

    @classmethod
    def from_pretrained(cls, ref: str | Path, *, device: str | torch.device | None = None) -> Model:
        """Load a model folder, Hub id or packaged default (see :func:`genplug.load`)."""
        from genplug._api import load

        model = load(ref, device=device)
        if not isinstance(model, cls):
            raise _files.ModelFileError(
                f"{ref} holds a {type(model).__name__} ({model.architecture!r}), not a {cls.__name__}; "
                "load it with genplug.load instead."
            )
        return model

    def push_to_hub(self, repo_id: str, **options: Any) -> str:
        """Upload this model to the Hub with a generated model card; returns the commit."""
        from genplug._hub import push_model

        return push_model(self, repo_id, **options)

    def extra_repr(self) -> str:
        return f"architecture={self.architecture!r}"


def plugin_of(architecture: str) -> dict[str, str | None]:
    """The distribution (name, version) that registered ``architecture``, if any."""
    from genplug._plugins import registry

    reg = registry()
    spec = reg.architectures.get(architecture)
    if spec is None:
        return {"name": None, "version": None}
    info = reg.plugins.get(spec.plugin)
    return {"name": spec.plugin, "version": info.version if info else None}


def model_config_document(model: Any) -> dict[str, Any]:
    """The ``config.json`` content for ``model``."""
    from genplug import __version__

    return {
        "format_version": _files.FORMAT_VERSION,
        "architecture": model.architecture,
        "plugin": plugin_of(model.architecture),
        "genplug_version": __version__,
        "config": _files.config_to_dict(model.config),
    }


def save_model(model: Any, directory: str | Path) -> Path:
    """Save any model with ``architecture``, ``config`` and ``state_dict`` as a model folder.

    The weights are written before ``config.json``, each file atomically, so a crash
    while saving leaves the previous files in place.
    """
    if not re.match(r"^[a-z0-9][a-z0-9._+-]*$", getattr(model, "architecture", "") or ""):
        raise _files.ModelFileError(
            f"{type(model).__name__}.architecture is {getattr(model, 'architecture', None)!r}; "
            "set it to the registered architecture name before saving."
        )
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _files.save_tensors(
        directory / _files.WEIGHTS_NAME,
        model.state_dict(),
        metadata={"format": "pt", "genplug_architecture": model.architecture},
    )
    _files.atomic_write_json(directory / _files.CONFIG_NAME, model_config_document(model))
    return directory
