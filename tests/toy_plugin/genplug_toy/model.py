"""A diagonal Gaussian: the smallest model with sampling, an exact likelihood and a loss.

It is also a (diagonal affine) flow, so an Encoder too: ``encode`` standardises the data,
``decode`` maps standard normal latents back.
"""

from __future__ import annotations

import math

import attrs
import torch

import genplug
from genplug import ConfigError
from genplug import validators as v

__all__ = ["ToyConfig", "ToyGaussian"]

MAX_SIZE = 65_536  # bound on a side and on hidden, far above any use
MAX_ELEMENTS = 2**24  # bound on the elements of one example


@attrs.frozen
class ToyConfig:
    # shape of one example; each side at most MAX_SIZE, at most MAX_ELEMENTS elements in all
    data_shape: tuple[int, ...] = attrs.field(default=(2,), converter=tuple, validator=v.shape)
    hidden: int = attrs.field(  # size of an unused-by-sampling layer, so that tensors can mis-shape
        default=4, validator=v.in_range(1, MAX_SIZE, integer=True)
    )
    classes: int = attrs.field(  # > 0: class-conditional, a mean per class (condition `label`)
        default=0, validator=v.in_range(0, 1000, integer=True)
    )

    def __attrs_post_init__(self) -> None:
        if max(self.data_shape) > MAX_SIZE or math.prod(self.data_shape) > MAX_ELEMENTS:
            raise ConfigError(
                f"ToyConfig.data_shape={self.data_shape!r} is too large: each side at most {MAX_SIZE}, "
                f"at most {MAX_ELEMENTS} elements"
            )


class ToyGaussian(genplug.Model):
    architecture = "toy-gaussian"
    config_class = ToyConfig
    log_prob_kinds = ("exact",)
    train_defaults = {"lr": 0.05, "batch_size": 64, "steps": 200}

    def __init__(self, config: ToyConfig) -> None:
        super().__init__(config)
        self.mean = torch.nn.Parameter(torch.zeros(config.data_shape))
        self.log_scale = torch.nn.Parameter(torch.zeros(config.data_shape))
        self.extra = torch.nn.Linear(config.hidden, 1)
        if config.classes:
            self.class_mean = torch.nn.Parameter(torch.zeros(config.classes, *config.data_shape))

    @property
    def conditions(self):
        if not self.config.classes:
            return {}
        return {"label": genplug.Condition("class", classes=self.config.classes, description="the class to draw")}

    def _mean(self, label):
        if not self.config.classes:
            return self.mean
        label = torch.as_tensor(label, device=self.device).long()
        if ((label < 0) | (label >= self.config.classes)).any():
            raise genplug.GenplugError(f"label must be in 0..{self.config.classes - 1}, got {label.tolist()}")
        return self.mean + self.class_mean[label]

    def sample(self, n, *, generator=None, temperature: float = 1.0, label=None):
        if self.config.classes and label is None:  # unconditional: the mixture over classes
            label = torch.randint(0, self.config.classes, (n,), generator=generator, device=self.device)
        eps = torch.randn((n, *self.event_shape), generator=generator, device=self.device)
        return self._mean(label) + temperature * self.log_scale.exp() * eps

    @property
    def latent_shape(self):
        return self.event_shape

    def encode(self, x, *, generator=None):
        z = (x - self.mean) / self.log_scale.exp()
        return genplug.Latent(sample=z, mean=z, scale=None)

    def decode(self, z):
        return self.mean + self.log_scale.exp() * z

    def log_prob(self, x, *, kind=None, generator=None, label=None):
        if self.config.classes and label is None:  # the mixture with equal weights over the classes
            every = torch.stack([self.log_prob(x, label=torch.full((len(x),), k)) for k in range(self.config.classes)])
            return every.logsumexp(0) - math.log(self.config.classes)
        z = (x - self._mean(label)) / self.log_scale.exp()
        lp = -0.5 * z**2 - self.log_scale - 0.5 * math.log(2 * math.pi)
        return lp.flatten(1).sum(1)

    def loss(self, batch, *, generator=None, label=None):
        # the unused layer takes part with weight 0, so that gradients reach every parameter
        return -self.log_prob(batch, label=label).mean() + 0.0 * sum(p.sum() for p in self.extra.parameters())
