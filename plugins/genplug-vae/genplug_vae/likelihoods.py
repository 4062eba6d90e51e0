"""Decoder likelihoods p(x | z): Bernoulli, Gaussian with a learned scale, discretized logistic.

The decoder network outputs ``n_params`` tensors per data channel, stacked along dimension
1: ``params`` is ``(B, n_params * C, ...)`` for images ``(B, C, H, W)`` and
``(B, n_params * D)`` for vectors ``(B, D)``. Each likelihood turns them into

- ``log_prob(x, params) -> (B,)``: log p(x | z) in nats, summed over every dimension;
- ``mean(params)``: E[x | z] in data space;
- ``sample(params, generator=None)``: a draw x ~ p(x | z).

Which one fits which data:

=================  ==========================  ===========================================
likelihood         data                        log_prob is
=================  ==========================  ===========================================
``bernoulli``      binary, or grey in [0, 1]   a log-probability for binary data; for grey
                                               values a cross-entropy, not a likelihood
``gaussian``       continuous vectors          a log-density (not comparable to discrete
                                               NLLs)
``logistic``       ``levels`` discrete values  a log-probability of the discrete value: a
                   k / (levels - 1) in [0, 1]  proper discrete NLL (digits: 17 levels)
=================  ==========================  ===========================================

References:
    Salimans, Karpathy, Chen, Kingma. PixelCNN++: Improving the PixelCNN with Discretized
    Logistic Mixture Likelihood and Other Modifications. ICLR 2017. arXiv:1701.05517.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from genplug import GenplugError

__all__ = ["NAMES", "Bernoulli", "DiscretizedLogistic", "Gaussian", "Likelihood", "make_likelihood"]

NAMES = ("bernoulli", "gaussian", "logistic")


def _sum_event(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).sum(1)  # (B, ...) -> (B,)


class Bernoulli:
    """Independent Bernoulli per dimension; ``params`` are the logits.

    Example:
        >>> lik = Bernoulli()
        >>> lik.log_prob(torch.ones(2, 3), torch.zeros(2, 3))  # p = 0.5 each
        tensor([-2.0794, -2.0794])
    """

    name = "bernoulli"
    n_params = 1

    def log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        return -_sum_event(F.binary_cross_entropy_with_logits(params, x, reduction="none"))

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(params)

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.bernoulli(torch.sigmoid(params), generator=generator)


class Gaussian:
    """Independent Gaussian per dimension with a mean and a learned standard deviation.

    ``params`` stacks the mean and a raw scale along dimension 1; the standard deviation is
    ``min_scale + softplus(raw)``, so it can never shrink to zero on constant dimensions
    (the border pixels of digits are always 0, where an unbounded density would diverge).

    Arguments:
        min_scale: the floor on the standard deviation.
    """

    name = "gaussian"
    n_params = 2

    def __init__(self, min_scale: float = 1e-3) -> None:
        self.min_scale = min_scale

    def split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, raw = params.chunk(2, dim=1)
        return mean, self.min_scale + F.softplus(raw)

    def log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        mean, scale = self.split(params)
        z = (x - mean) / scale
        return _sum_event(-0.5 * z**2 - scale.log() - 0.5 * math.log(2 * math.pi))

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return self.split(params)[0]

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        mean, scale = self.split(params)
        return mean + scale * torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)


class DiscretizedLogistic:
    """A logistic distribution discretized to ``levels`` values k / (levels - 1) in [0, 1].

    Value k gets the logistic mass of its bin [x_k - h, x_k + h] with h = 1 / (2 (levels - 1));
    the lowest bin extends to -inf and the highest to +inf, so the masses sum to one and
    ``log_prob`` is the log-probability of discrete data. ``params`` stacks the location
    mu and the log-scale log s along dimension 1.

    Arguments:
        levels: the number of discrete values: 17 for digits (values k / 16), 256 for 8-bit
            images.

    Example:
        >>> lik = DiscretizedLogistic(levels=2)
        >>> lik.log_prob(torch.zeros(1, 1), torch.tensor([[0.5, 0.0]])).exp()  # mu = 0.5: a fair coin
        tensor([0.5000])
    """

    name = "logistic"
    n_params = 2

    def __init__(self, levels: int = 17) -> None:
        self.levels = levels
        self.half_width = 0.5 / (levels - 1)

    def split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loc, log_scale = params.chunk(2, dim=1)
        return loc, log_scale.clamp(min=-7.0)  # s >= 1e-3: keeps the bin masses finite

    def _level(self, x: torch.Tensor) -> torch.Tensor:
        """The index k of each value; refuses data that is not on the grid k / (levels - 1)."""
        scaled = x * (self.levels - 1)
        k = scaled.round()
        off = (scaled - k).abs().max() if x.numel() else torch.zeros(())
        if off > 1e-3 or (x.numel() and (k.min() < 0 or k.max() > self.levels - 1)):
            raise GenplugError(
                f"the discretized logistic likelihood with levels={self.levels} needs data whose values are "
                f"k/{self.levels - 1} in [0, 1]; got values in [{float(x.min()):.4g}, {float(x.max()):.4g}] "
                f"up to {float(off) / (self.levels - 1):.3g} off that grid. Set levels=256 for 8-bit images, "
                "or likelihood='gaussian' for continuous data."
            )
        return k

    def log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        loc, log_scale = self.split(params)
        k = self._level(x)
        inv_s = torch.exp(-log_scale)
        centre = k / (self.levels - 1) - loc
        upper = inv_s * (centre + self.half_width)  # logistic CDF argument at the bin's upper edge
        lower = inv_s * (centre - self.half_width)  # ... and at its lower edge
        # log(sigmoid(a) - sigmoid(b)) = log sigmoid(a) + log sigmoid(-b) + log(1 - exp(b - a)),
        # stable for every a > b (a - b = 2 h / s > 0).
        inner = F.logsigmoid(upper) + F.logsigmoid(-lower) + torch.log(-torch.expm1(lower - upper))
        first = F.logsigmoid(upper)  # k = 0: mass of (-inf, x_0 + h]
        last = F.logsigmoid(-lower)  # k = levels - 1: mass of [x_last - h, inf)
        lp = torch.where(k <= 0, first, torch.where(k >= self.levels - 1, last, inner))
        return _sum_event(lp)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        # E[x] = sum_{k >= 1} P(x >= x_k) (x_k - x_{k-1}), and P(x >= x_k) = 1 - F(x_k - h).
        loc, log_scale = self.split(params)
        inv_s = torch.exp(-log_scale)
        total = torch.zeros_like(loc)
        for k in range(1, self.levels):
            total += torch.sigmoid(-inv_s * (k / (self.levels - 1) - self.half_width - loc))
        return total / (self.levels - 1)

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        loc, log_scale = self.split(params)
        u = torch.rand(loc.shape, generator=generator, device=loc.device, dtype=loc.dtype).clamp(1e-6, 1 - 1e-6)
        y = loc + log_scale.exp() * (torch.log(u) - torch.log1p(-u))  # a logistic draw
        return (y * (self.levels - 1)).round().clamp(0, self.levels - 1) / (self.levels - 1)


Likelihood = Bernoulli | Gaussian | DiscretizedLogistic


def make_likelihood(name: str, *, levels: int = 17, min_scale: float = 1e-3) -> Likelihood:
    """The likelihood called ``name`` (one of :data:`NAMES`)."""
    if name == "bernoulli":
        return Bernoulli()
    if name == "gaussian":
        return Gaussian(min_scale)
    if name == "logistic":
        return DiscretizedLogistic(levels)
    raise GenplugError(f"unknown likelihood {name!r}; choose one of {', '.join(NAMES)}")
