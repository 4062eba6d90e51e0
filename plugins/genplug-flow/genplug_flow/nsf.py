"""The neural spline flow (``nsf``) for vectors and 2-D points.

A stack of ``transforms`` autoregressive layers. Layer t maps x to y one feature at a
time, in an order that alternates between ascending and descending from layer to layer:

    y_i = RQS(x_i; theta_i(x_<i)),

where RQS is a monotonic rational-quadratic spline on [-B, B] (:mod:`genplug_flow.splines`)
and theta_i, its 3K - 1 raw parameters, come from a MADE: an MLP whose weight masks make
output i see only the features before i in the layer's order. The Jacobian of each layer
is triangular, so log|det| is the sum of the K-bin splines' log-slopes; one pass of the
MADE gives every theta_i from x, so ``log_prob`` costs one network pass per layer, while
``sample`` inverts each layer in D passes (feature i needs x_<i first).

Notation:

===========  ==================================================================
``x``        data, ``(B, D)``
``z``        the base variable, ``(B, D)``; z ~ N(0, I)
``forward``  data -> base: ``forward_and_log_det(x) = (z, log|det dz/dx|)``
``inverse``  base -> data: ``inverse_and_log_det(z) = (x, log|det dx/dz|)``
===========  ==================================================================

log p(x) = log N(z; 0, I) + log|det dz/dx| (the change of variables), exactly.

References:
    Durkan, Bekasov, Murray, Papamakarios. Neural Spline Flows. NeurIPS 2019. arXiv:1906.04032.
    Papamakarios, Pavlakou, Murray. Masked Autoregressive Flow for Density Estimation.
    NeurIPS 2017. arXiv:1705.07057.
    Germain, Gregor, Murray, Larochelle. MADE: Masked Autoencoder for Distribution
    Estimation. ICML 2015. arXiv:1502.03509.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import torch
from torch import nn

import genplug
from genplug import ConfigError, GenplugError
from genplug import validators as v
from genplug_flow.splines import rqs_forward, rqs_inverse

__all__ = ["MADE", "NSF", "NSFConfig"]

MAX_FEATURES = 4096  # bound on D: a crafted config.json is refused before allocation
MAX_SIZE = 65_536  # bound on a width
INITS = ("identity", "random")


@attrs.frozen(kw_only=True)
class NSFConfig:
    """The configuration of an :class:`NSF`; every field is saved in ``config.json``."""

    data_shape: tuple[int, ...] = attrs.field(default=(2,), converter=tuple, validator=v.shape)  # (D,) vectors
    transforms: int = attrs.field(default=3, validator=v.in_range(1, 64, integer=True))  # autoregressive layers
    # the defaults: zuko's NSF design (3 layers, MADE of two hidden layers, splines on [-5, 5])
    # with 12 bins and a MADE of 56 (zuko: 8 and 64; the same parameters for D = 2, 22,050 vs
    # 22,026) and the identity start; better than zuko's defaults on 2-D densities (README)
    hidden: int = attrs.field(default=56, validator=v.in_range(1, MAX_SIZE, integer=True))  # MADE hidden width
    depth: int = attrs.field(default=2, validator=v.in_range(1, 16, integer=True))  # MADE hidden layers
    bins: int = attrs.field(default=12, validator=v.in_range(2, 256, integer=True))  # spline bins K
    bound: float = attrs.field(default=5.0, validator=v.positive)  # splines act on [-bound, bound]; identity outside
    # the smallest slope of a spline (zuko's default since 1.5)
    min_slope: float = attrs.field(default=1e-3, validator=v.in_range(1e-8, 0.5, open_high=True))
    # "identity": each MADE's last layer starts at zero, so every spline starts as the identity
    # (raw parameters 0: equal bins, slopes 1) and the flow as N(0, I); "random": PyTorch's
    # initialisation of that layer too, as zuko's NSF. (Configs saved before this field
    # existed load with the default; the weights they load do not depend on it.)
    init: str = attrs.field(default="identity", validator=v.one_of(*INITS))

    def __attrs_post_init__(self) -> None:
        if len(self.data_shape) != 1 or self.data_shape[0] > MAX_FEATURES:
            raise ConfigError(
                f"NSFConfig.data_shape={self.data_shape!r}: the spline flow takes vectors (D,) with D <= "
                f"{MAX_FEATURES}; for images use the 'glow' architecture"
            )


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask ``(out, in)``."""

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.float(), persistent=False)  # rebuilt from the config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Sequential):
    """An MLP whose output block i depends only on the inputs before feature i in ``order``.

    Arguments:
        features: D.
        hidden, depth: the width and number of the hidden layers (ReLU).
        per_feature: outputs per feature; the output is ``(B, D * per_feature)``, feature-major.
        order: the rank of each feature, a permutation of ``range(D)``.
    """

    def __init__(self, features: int, hidden: int, depth: int, per_feature: int, order: torch.Tensor) -> None:
        # degrees (Germain et al. sec. 4): input i has degree order[i]; a hidden unit of
        # degree m sees inputs of degree <= m; output i sees hidden units of degree < order[i]
        hidden_degrees = torch.arange(hidden) % max(1, features - 1)
        layers: list[nn.Module] = [MaskedLinear(hidden_degrees[:, None] >= order[None, :]), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [MaskedLinear(hidden_degrees[:, None] >= hidden_degrees[None, :]), nn.ReLU()]
        out = order.repeat_interleave(per_feature)[:, None] > hidden_degrees[None, :]
        layers.append(MaskedLinear(out))
        super().__init__(*layers)
        self.by_rank = order.argsort().tolist()  # the features in the order they are generated
        self.per_feature = per_feature

    def feature_params(self, x: torch.Tensor, feature: int) -> torch.Tensor:
        """The outputs of one feature only, ``(B, per_feature)``: the hidden layers and a
        slice of the last (what sampling needs at each pass)."""
        h = x
        for layer in list(self)[:-1]:
            h = layer(h)
        last = self[-1]
        rows = slice(feature * self.per_feature, (feature + 1) * self.per_feature)
        return nn.functional.linear(h, last.weight[rows] * last.mask[rows], last.bias[rows])


class NSF(genplug.Model):
    """A masked autoregressive neural spline flow; a ``Generator``, an ``Encoder`` and a ``Bijection``.

    Arguments:
        config: an :class:`NSFConfig`.

    Example:
        >>> model = NSF(NSFConfig(data_shape=(2,), hidden=16))
        >>> x = model.sample(3, generator=torch.Generator().manual_seed(0))
        >>> x.shape, model.log_prob(x).shape
        (torch.Size([3, 2]), torch.Size([3]))
        >>> z, log_det = model.forward_and_log_det(x)
        >>> torch.allclose(model.inverse_and_log_det(z)[0], x, atol=1e-5)
        True
    """

    architecture = "nsf"
    config_class = NSFConfig
    log_prob_kinds = ("exact",)
    train_defaults = {"lr": 1e-3, "batch_size": 256, "steps": 2000}
    conformance_configs = (
        {"data_shape": (2,), "hidden": 8, "transforms": 2, "bins": 4},
        {"data_shape": (5,), "hidden": 16, "transforms": 2, "depth": 1},
    )

    def __init__(self, config: NSFConfig) -> None:
        super().__init__(config)
        c = config
        (features,) = c.data_shape
        self.per_feature = 3 * c.bins - 1  # widths K, heights K, inner derivatives K - 1
        ascending = torch.arange(features)
        self.layers = nn.ModuleList(
            MADE(features, c.hidden, c.depth, self.per_feature, ascending if t % 2 == 0 else ascending.flip(0))
            for t in range(c.transforms)
        )
        if c.init == "identity":
            for made in self.layers:
                nn.init.zeros_(made[-1].weight)
                nn.init.zeros_(made[-1].bias)
        self.register_buffer("base_loc", torch.zeros(()), persistent=False)  # follows .to(): device and dtype

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """The base space has the data's shape."""
        return tuple(self.config.data_shape)

    # -- the bijection -------------------------------------------------------------

    def _spline(self, theta: torch.Tensor, target: torch.Tensor, inverse: bool) -> tuple[torch.Tensor, ...]:
        """Apply the splines of raw parameters ``theta`` ``(..., 3K - 1)`` to ``target`` ``(...)``."""
        k = self.config.bins
        widths, heights, derivatives = theta[..., :k], theta[..., k : 2 * k], theta[..., 2 * k :]
        transform = rqs_inverse if inverse else rqs_forward
        return transform(target, widths, heights, derivatives, bound=self.config.bound, slope=self.config.min_slope)

    def forward_and_log_det(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data to base: ``(z, log|det dz/dx|)``, one MADE pass per layer."""
        self._check(x, "forward_and_log_det")
        log_det = x.new_zeros(x.shape[0])
        for made in self.layers:
            x, ld = self._spline(made(x).view(*x.shape, self.per_feature), x, inverse=False)  # (B, D, 3K - 1)
            log_det = log_det + ld.sum(-1)
        return x, log_det

    def inverse_and_log_det(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Base to data: ``(x, log|det dx/dz|)``; each layer takes D passes (feature i needs x_<i).

        Pass j computes only the parameters and the spline of the feature of rank j: the
        ones before it are final, the ones after it do not yet matter.
        """
        self._check(z, "inverse_and_log_det")
        log_det = z.new_zeros(z.shape[0])
        columns = torch.arange(z.shape[1], device=z.device)
        for made in reversed(self.layers):
            x = torch.zeros_like(z)
            for i in made.by_rank:
                xi, ld = self._spline(made.feature_params(x, i), z[:, i], inverse=True)
                x = torch.where(columns == i, xi[:, None], x)  # not in place: autograd may need x
                log_det = log_det + ld
            z = x
        return z, log_det

    def _check(self, x: torch.Tensor, method: str) -> None:
        if x.ndim != 2 or tuple(x.shape[1:]) != self.event_shape:
            raise GenplugError(f"{method} takes (B, {self.event_shape[0]}) vectors, got shape {tuple(x.shape)}")

    # -- generator and encoder -------------------------------------------------------

    def base_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z; 0, I) per example."""
        return -0.5 * (z**2).sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)

    def log_prob(self, x: torch.Tensor, *, kind: str | None = None, generator: Any = None) -> torch.Tensor:
        """The exact log-density log p(x) per example, in nats, ``(B,)``."""
        if kind not in (None, "exact"):
            raise GenplugError(f"the spline flow computes log_prob kind 'exact'; got kind={kind!r}")
        z, log_det = self.forward_and_log_det(x)
        return self.base_log_prob(z) + log_det

    def sample(self, n: int, *, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """Draw z ~ N(0, temperature^2 I) and map it to data space: ``(n, D)``."""
        z = temperature * torch.randn(
            (n, *self.event_shape), generator=generator, device=self.base_loc.device, dtype=self.base_loc.dtype
        )
        return self.inverse_and_log_det(z)[0]

    def encode(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> genplug.Latent:
        """The base point z of ``x`` (deterministic: ``sample`` and ``mean`` are the same)."""
        z, _ = self.forward_and_log_det(x)
        return genplug.Latent(sample=z, mean=z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The data point of base point ``z``: the inverse map."""
        return self.inverse_and_log_det(z)[0]

    # -- training ----------------------------------------------------------------------

    def loss(self, batch: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """The negative log-likelihood in nats per example."""
        return -self.log_prob(batch).mean()
