"""The image flow (``glow``): RealNVP's couplings and multi-scale architecture with Glow's steps.

From data to base (the ``forward`` direction), an image x of shape (C, H, W):

1. ``levels`` set (discrete data such as digits' 17 grey levels): x is first dequantised,
   v = (k + u) / L with k = x (L - 1) the grey level and u in [0, 1)^D (uniform noise, or a
   draw of the learned dequantiser q(u | x)); then y = logit(alpha + (1 - 2 alpha) v) maps
   (0, 1) onto the real line. Dequantisation is not part of the bijection, the logit is.
2. ``checkerboard`` affine couplings at full resolution (RealNVP, sec. 3.4): pixels of
   one colour of a checkerboard stay, the others are scaled and shifted by a network of
   the ones that stay. Each is preceded by an actnorm.
3. ``scales`` times: squeeze (each 2x2 patch becomes 4 channels, Dinh et al. fig. 3), then
   ``depth`` Glow steps (actnorm, invertible 1x1 convolution, affine coupling of one half
   of the channels on the other; Kingma & Dhariwal fig. 2); after every scale but the
   last, half of the channels are factored out (they are final latents) and the rest go
   on to the next scale.
4. The latents of every scale are put back in place (un-squeezed), so z has x's shape.

Every layer returns its log|det|: a coupling's is the sum of its log-scales, an actnorm's
H W sum(log s), a 1x1 convolution's H W log|det W| (cheap with W = P L (U + diag(s))),
the logit's sum of log(1 - 2 alpha) - log(y' (1 - y')) with y' = alpha + (1 - 2 alpha) v.

Notation:

=============  =================================================================
``x``          data: images ``(B, C, H, W)``, on the grid k / (L - 1) when ``levels`` = L is set
``v``          the dequantised image in [0, 1), the bijection's input when ``levels`` is set
``u``          dequantisation noise in [0, 1)^D; q(u | x) its density (1 when uniform)
``z``          the base variable, ``(B, C, H, W)``; z ~ N(0, I)
``D``          C H W, the dimensions of one image
=============  =================================================================

Likelihood. Without ``levels``, log p(x) = log N(z) + log|det dz/dx| exactly (kind
``exact``, a density). With ``levels`` the data are discrete and the model's probability of
grey levels k is P(k) = integral of p(v) over the cell [k / L, (k + 1) / L)^D, which
Jensen's inequality bounds from below (Theis et al. 2016; Ho et al. 2019, eq. 12):

    log P(k) >= E_q(u | x) [log p(v) - log q(u | x)] - D log L      (kind ``elbo``)

and, with ``iwae_k`` draws, the tighter importance-weighted bound (kind ``iwae``). Their
negatives, in bits per dimension, are upper bounds on the discrete data's code length,
comparable with other families' discrete likelihoods. (With alpha > 0 the flow's v
ranges over (-alpha / (1 - 2 alpha), 1 + alpha / (1 - 2 alpha)); the lowest and highest
cells extend to those ends, which only adds to their P(k), so the bounds still hold and
the cells' probabilities sum to one: ``sample`` draws from exactly this discrete model.)
``log_prob_label`` names the
dequantisation (``elbo-uniform-dequantization``) so ``genplug eval`` says which.

References:
    Dinh, Sohl-Dickstein, Bengio. Density estimation using Real NVP. ICLR 2017. arXiv:1605.08803.
    Kingma, Dhariwal. Glow: Generative Flow with Invertible 1x1 Convolutions. NeurIPS 2018.
    arXiv:1807.03039.
    Theis, van den Oord, Bethge. A note on the evaluation of generative models. ICLR 2016.
    arXiv:1511.01844 (uniform dequantisation bounds the discrete likelihood).
    Ho, Chen, Srinivas, Duan, Abbeel. Flow++. ICML 2019. arXiv:1902.00275 (variational
    dequantisation).
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import torch
import torch.nn.functional as F
from torch import nn

import genplug
from genplug import ConfigError, GenplugError
from genplug import validators as v

__all__ = ["ActNorm", "Glow", "GlowConfig", "InvertibleConv1x1"]

MAX_SIZE = 65_536  # bound on a side or a width: a crafted config.json is refused before allocation
MAX_ELEMENTS = 2**24  # bound on the elements of one image
DEQUANTIZATIONS = ("uniform", "variational")


@attrs.frozen(kw_only=True)
class GlowConfig:
    """The configuration of a :class:`Glow`; every field is saved in ``config.json``."""

    data_shape: tuple[int, ...] = attrs.field(default=(1, 8, 8), converter=tuple, validator=v.shape)  # (C, H, W)
    # discrete data: the values per dimension (digits: 17, filled by `genplug train`); None: continuous data
    levels: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(v.in_range(2, MAX_SIZE, integer=True))
    )
    dequantization: str = attrs.field(default="uniform", validator=v.one_of(*DEQUANTIZATIONS))  # with levels: q(u | x)
    alpha: float = attrs.field(default=0.05, validator=v.in_range(0.0, 0.5, open_low=True, open_high=True))
    # with levels: the logit's margin, y = logit(alpha + (1 - 2 alpha) v) (RealNVP sec. 4.1)
    checkerboard: int = attrs.field(default=2, validator=v.in_range(0, 64, integer=True))  # full-res couplings
    scales: int = attrs.field(default=2, validator=v.in_range(1, 16, integer=True))  # squeezes (H, W: 2**scales | them)
    depth: int = attrs.field(default=4, validator=v.in_range(1, 64, integer=True))  # Glow steps per scale
    hidden: int = attrs.field(default=64, validator=v.in_range(1, 4096, integer=True))  # coupling networks' channels
    iwae_k: int = attrs.field(default=16, validator=v.in_range(1, 100_000, integer=True))  # draws of the iwae bound
    # dropout on the coupling networks' hidden features while training (Flow++ sec. 4 on small data); 0: none
    dropout: float = attrs.field(default=0.0, validator=v.in_range(0.0, 1.0, open_high=True))

    def __attrs_post_init__(self) -> None:
        if len(self.data_shape) != 3 or math.prod(self.data_shape) > MAX_ELEMENTS or max(self.data_shape) > MAX_SIZE:
            raise ConfigError(
                f"GlowConfig.data_shape={self.data_shape!r}: glow takes images (C, H, W) of at most "
                f"{MAX_ELEMENTS} elements; for vectors use the 'nsf' architecture"
            )
        factor = 2**self.scales
        if self.data_shape[1] % factor or self.data_shape[2] % factor:
            raise ConfigError(
                f"GlowConfig.scales={self.scales} squeezes {self.scales} times, so H and W must be divisible by "
                f"{factor}; got data_shape={self.data_shape}. Lower scales"
            )


# -- layers: each maps h to (h', log|det dh'/dh|) and back --------------------------------


class ActNorm(nn.Module):
    """h' = (h + loc) exp(log_scale) per channel; :meth:`initialize` sets it from data (Glow sec. 3.1)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))

    @torch.no_grad()
    def initialize(self, h: torch.Tensor) -> None:
        """Zero mean and unit variance per channel on the batch ``h``."""
        self.loc.copy_(-h.mean((0, 2, 3), keepdim=True))
        self.log_scale.copy_(-(h.std((0, 2, 3), keepdim=True) + 1e-6).log())

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_det = self.log_scale.sum() * h.shape[2] * h.shape[3]
        return (h + self.loc) * self.log_scale.exp(), log_det.expand(h.shape[0])

    def inverse(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_det = -self.log_scale.sum() * h.shape[2] * h.shape[3]
        return h * (-self.log_scale).exp() - self.loc, log_det.expand(h.shape[0])


class InvertibleConv1x1(nn.Module):
    """A 1x1 convolution with W = P L (U + diag(sign exp(log_s))) (Glow sec. 3.2): log|det W| = sum(log_s)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        w = torch.linalg.qr(torch.randn(channels, channels, device="cpu"))[0]  # a random rotation, as Glow
        p, lower, upper = torch.linalg.lu(w)
        s = upper.diagonal()
        self.register_buffer("p", p)
        self.register_buffer("sign_s", s.sign())
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.lower = nn.Parameter(lower)
        self.upper = nn.Parameter(upper.triu(1))
        self.log_s = nn.Parameter(s.abs().log())

    def weight(self) -> torch.Tensor:
        eye = torch.eye(self.p.shape[0], dtype=self.p.dtype, device=self.p.device)
        lower = self.lower * self.lower_mask + eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign_s * self.log_s.exp())
        return self.p @ lower @ upper

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_det = self.log_s.sum() * h.shape[2] * h.shape[3]
        return torch.einsum("ij,bjhw->bihw", self.weight(), h), log_det.expand(h.shape[0])

    def inverse(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_det = -self.log_s.sum() * h.shape[2] * h.shape[3]
        return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(self.weight()), h), log_det.expand(h.shape[0])


def coupling_network(inputs: int, hidden: int, outputs: int, dropout: float = 0.0) -> nn.Sequential:
    """3x3 conv, ReLU, 1x1 conv, ReLU (then dropout, if any), 3x3 conv; the last starts at
    zero so the coupling starts as the identity. (Dropout has no weights, so the weights'
    names are the same with and without it.)"""
    net = nn.Sequential(
        nn.Conv2d(inputs, hidden, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(hidden, hidden, 1),
        nn.Sequential(nn.ReLU(), nn.Dropout(dropout)) if dropout else nn.ReLU(),
        nn.Conv2d(hidden, outputs, 3, padding=1),
    )
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    return net


def _log_scale(raw: torch.Tensor) -> torch.Tensor:
    """A soft clamp to (-2, 2): scales stay in (e^-2, e^2), which keeps deep stacks stable."""
    return 2 * torch.tanh(raw / 2)


class AffineCoupling(nn.Module):
    """h'_b = h_b exp(s(h_a)) + t(h_a), h'_a = h_a, for a fixed 0/1 ``mask`` choosing h_a.

    ``mask`` is ``(1, C, H, W)``-broadcastable: a checkerboard ``(1, 1, H, W)`` at full
    resolution (RealNVP) or a channel mask ``(1, C, 1, 1)`` after a squeeze (Glow). The
    network sees the kept part and the mask, and its log|det| is the sum of s over h_b.
    """

    def __init__(self, channels: int, hidden: int, mask: torch.Tensor, dropout: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("mask", mask)
        self.net = coupling_network(channels + 1, hidden, 2 * channels, dropout)

    def _scale_shift(self, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = self.mask.expand(kept.shape[0], -1, *kept.shape[2:])[:, :1]  # (B, 1, H, W): where h_a is
        raw_s, t = self.net(torch.cat([kept, mask], 1)).chunk(2, 1)
        free = 1 - self.mask
        return _log_scale(raw_s) * free, t * free

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self._scale_shift(h * self.mask)
        return h * s.exp() + t, s.flatten(1).sum(1)

    def inverse(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self._scale_shift(h * self.mask)  # h_a is unchanged, so the same s and t
        return (h - t) * (-s).exp(), -s.flatten(1).sum(1)


def checkerboard(height: int, width: int, parity: int) -> torch.Tensor:
    """``(1, 1, H, W)``: 1 where (i + j + parity) is even."""
    i, j = torch.arange(height)[:, None], torch.arange(width)[None, :]
    return ((i + j + parity) % 2 == 0).float().view(1, 1, height, width)


def channel_mask(channels: int, parity: int) -> torch.Tensor:
    """``(1, C, 1, 1)``: 1 on the first half of the channels (the second for odd parity)."""
    half = torch.arange(channels) < channels // 2
    return (half if parity % 2 == 0 else ~half).float().view(1, channels, 1, 1)


def squeeze(h: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, 4C, H/2, W/2)``: each 2x2 patch becomes 4 channels."""
    b, c, height, width = h.shape
    h = h.view(b, c, height // 2, 2, width // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return h.reshape(b, 4 * c, height // 2, width // 2)


def unsqueeze(h: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`squeeze`."""
    b, c, height, width = h.shape
    h = h.view(b, c // 4, 2, 2, height, width).permute(0, 1, 4, 2, 5, 3)
    return h.reshape(b, c // 4, 2 * height, 2 * width)


class Dequantizer(nn.Module):
    """q(u | x) = the law of u = sigmoid(mu(x) + sigma(x) eps), eps ~ N(0, I): a learned
    dequantiser (a one-layer conditional flow; Flow++ uses a deeper one)."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.net = coupling_network(channels, hidden, 2 * channels)  # starts at mu = 0, sigma = 1

    def forward(self, x: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(u, log q(u | x))`` for the standard-normal draw ``eps``."""
        mu, raw = self.net(x - 0.5).chunk(2, 1)
        log_sigma = _log_scale(raw)
        a = mu + log_sigma.exp() * eps
        u = torch.sigmoid(a)
        # q(u) = N(eps) / |du/deps|, du/deps = sigma u (1 - u); logsigmoid keeps u (1 - u) finite
        log_q = -0.5 * eps**2 - 0.5 * math.log(2 * math.pi) - log_sigma - F.logsigmoid(a) - F.logsigmoid(-a)
        return u, log_q.flatten(1).sum(1)


class Glow(genplug.Model):
    """A multi-scale affine-coupling image flow; a ``Generator``, an ``Encoder`` and a ``Bijection``.

    Arguments:
        config: a :class:`GlowConfig`.

    Example:
        >>> model = Glow(GlowConfig(data_shape=(1, 8, 8), levels=17, depth=1, hidden=8))
        >>> x = model.sample(2, generator=torch.Generator().manual_seed(0))
        >>> x.shape, bool(((x * 16).round() == x * 16).all())  # grey levels k / 16
        (torch.Size([2, 1, 8, 8]), True)
        >>> model.log_prob_kinds, model.log_prob_label("elbo")
        (('elbo', 'iwae'), 'elbo-uniform-dequantization')
    """

    architecture = "glow"
    config_class = GlowConfig
    # every kind the architecture computes (`genplug info`); an instance has those of its
    # config: ("exact",) on continuous data, the bounds ("elbo", "iwae") with levels
    log_prob_kinds = ("exact", "elbo", "iwae")
    train_defaults = {"lr": 1e-3, "batch_size": 64, "steps": 3000}
    conformance_configs = (
        {"data_shape": (1, 8, 8), "levels": 17, "depth": 1, "hidden": 8, "checkerboard": 1},
        {"data_shape": (1, 8, 8), "levels": 17, "dequantization": "variational", "depth": 1, "hidden": 4},
        {"data_shape": (2, 4, 4), "scales": 1, "depth": 2, "hidden": 8, "checkerboard": 0},
    )

    def __init__(self, config: GlowConfig) -> None:
        super().__init__(config)
        c = config
        self.log_prob_kinds = ("exact",) if c.levels is None else ("elbo", "iwae")
        channels, height, width = c.data_shape
        self.pre = nn.ModuleList()
        for i in range(c.checkerboard):
            coupling = AffineCoupling(channels, c.hidden, checkerboard(height, width, i), c.dropout)
            self.pre.extend([ActNorm(channels), coupling])
        self.blocks = nn.ModuleList()
        for s in range(c.scales):
            channels, height, width = 4 * channels, height // 2, width // 2
            block = nn.ModuleList()
            for i in range(c.depth):
                coupling = AffineCoupling(channels, c.hidden, channel_mask(channels, i), c.dropout)
                block.extend([ActNorm(channels), InvertibleConv1x1(channels), coupling])
            self.blocks.append(block)
            if s < c.scales - 1:
                channels //= 2  # half is factored out
        if c.levels is not None and c.dequantization == "variational":
            self.dequantizer = Dequantizer(c.data_shape[0], c.hidden)
        self.register_buffer("base_loc", torch.zeros(()), persistent=False)  # follows .to(): device and dtype

    # -- declared capabilities ------------------------------------------------------------

    @property
    def log_prob_discrete(self) -> bool:  # type: ignore[override]
        """``True`` with ``levels``: the bounds are on the probability of the discrete data."""
        return self.config.levels is not None

    def log_prob_label(self, kind: str | None = None, k: int | None = None) -> str:
        """How ``genplug eval`` names a kind: ``exact``, ``elbo-uniform-dequantization``,
        ``iwae-16-variational-dequantization``."""
        kind = kind or self.log_prob_kinds[0]
        if kind == "exact":
            return kind
        what = f"{self.config.dequantization}-dequantization"
        return f"elbo-{what}" if kind == "elbo" else f"iwae-{k or self.config.iwae_k}-{what}"

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """The base space has the data's shape."""
        return tuple(self.config.data_shape)

    def conformance_batch(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Test data for genplug.testing: grey levels k / (L - 1) with ``levels``, else uniform floats."""
        shape = (n, *self.config.data_shape)
        if self.config.levels is None:
            return torch.rand(shape, generator=generator)
        top = self.config.levels - 1
        return torch.randint(0, top + 1, shape, generator=generator).float() / top

    # -- the bijection ------------------------------------------------------------------

    def _logit(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.config.alpha
        p = a + (1 - 2 * a) * v
        y = p.log() - (-p).log1p()
        log_det = (math.log(1 - 2 * a) - p.log() - (-p).log1p()).flatten(1).sum(1)
        return y, log_det

    def _sigmoid(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.config.alpha
        v = (torch.sigmoid(y) - a) / (1 - 2 * a)
        log_det = (F.logsigmoid(y) + F.logsigmoid(-y) - math.log(1 - 2 * a)).flatten(1).sum(1)
        return v, log_det

    def forward_and_log_det(self, x: torch.Tensor, *, initialize: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Data to base: ``(z, log|det dz/dx|)``. With ``levels``, ``x`` is the continuous v in [0, 1].

        ``initialize`` sets every actnorm from the batch on the way (see :meth:`prepare`).
        """
        self._check(x, "forward_and_log_det")
        h, log_det = x, x.new_zeros(x.shape[0])
        if self.config.levels is not None:
            h, log_det = self._logit(x)

        def run(layers: nn.ModuleList, h: torch.Tensor, log_det: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            for layer in layers:
                if initialize and isinstance(layer, ActNorm):
                    layer.initialize(h)
                h, ld = layer(h)
                log_det = log_det + ld
            return h, log_det

        h, log_det = run(self.pre, h, log_det)
        factored = []
        for s, block in enumerate(self.blocks):
            h, log_det = run(block, squeeze(h), log_det)
            if s < len(self.blocks) - 1:
                out, h = h.chunk(2, 1)  # (B, 2c, H, W) each: the first half is final
                factored.append(out)
        for s in reversed(range(len(self.blocks))):  # put every scale's latents back in place
            if s < len(self.blocks) - 1:
                h = torch.cat([factored[s], h], 1)
            h = unsqueeze(h)
        return h, log_det

    def inverse_and_log_det(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Base to data: ``(x, log|det dx/dz|)``; with ``levels`` the continuous v in (0, 1)."""
        self._check(z, "inverse_and_log_det")
        log_det = z.new_zeros(z.shape[0])
        h, factored = z, []
        for s in range(len(self.blocks)):  # take every scale's latents out, as forward left them
            h = squeeze(h)
            if s < len(self.blocks) - 1:
                out, h = h.chunk(2, 1)
                factored.append(out)
        for s in reversed(range(len(self.blocks))):
            if s < len(self.blocks) - 1:
                h = torch.cat([factored[s], h], 1)
            for layer in reversed(self.blocks[s]):
                h, ld = layer.inverse(h)
                log_det = log_det + ld
            h = unsqueeze(h)
        for layer in reversed(self.pre):
            h, ld = layer.inverse(h)
            log_det = log_det + ld
        if self.config.levels is not None:
            h, ld = self._sigmoid(h)
            log_det = log_det + ld
        return h, log_det

    def _check(self, x: torch.Tensor, method: str) -> None:
        if tuple(x.shape[1:]) != self.event_shape or x.ndim != 4:
            raise GenplugError(
                f"{method} takes images of shape (B, {', '.join(map(str, self.event_shape))}), got {tuple(x.shape)}"
            )

    # -- dequantisation --------------------------------------------------------------------

    def dequantize(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(v, log q(u | x))``: v = (k + u) / L for the grey levels k = x (L - 1), u ~ q(u | x)."""
        levels = self.config.levels
        assert levels is not None
        k = (x * (levels - 1)).round()
        if self.config.dequantization == "uniform":
            u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            log_q = x.new_zeros(x.shape[0])
        else:
            eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            u, log_q = self.dequantizer(x, eps)
        return (k + u) / levels, log_q

    def _quantize(self, v: torch.Tensor) -> torch.Tensor:
        """Continuous v in [0, 1) to its grey level k / (L - 1): the cell v falls in."""
        levels = self.config.levels
        assert levels is not None
        return (v * levels).floor().clamp(0, levels - 1) / (levels - 1)

    def _check_grid(self, x: torch.Tensor) -> None:
        self._check(x, "log_prob")
        top = self.config.levels - 1
        if not torch.allclose(x * top, (x * top).round(), atol=1e-4) or x.min() < 0 or x.max() > 1:
            raise GenplugError(
                f"this glow models discrete data with levels={self.config.levels}: give values k / {top} in [0, 1] "
                "(the digits data), or build a model with levels=None for continuous images"
            )

    # -- likelihood -----------------------------------------------------------------------

    def base_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z; 0, I) per example."""
        return -0.5 * (z**2).flatten(1).sum(1) - 0.5 * z[0].numel() * math.log(2 * math.pi)

    def log_density(self, v: torch.Tensor) -> torch.Tensor:
        """The exact log-density of the flow at ``v`` (the continuous variable), ``(B,)``."""
        z, log_det = self.forward_and_log_det(v)
        return self.base_log_prob(z) + log_det

    def log_prob(
        self,
        x: torch.Tensor,
        *,
        kind: str | None = None,
        k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """log p(x) per example in nats, ``(B,)``: exact without ``levels``, else a lower bound.

        Arguments:
            x: images ``(B, C, H, W)``; with ``levels``, grey levels k / (L - 1).
            kind: ``"exact"`` (continuous data) or, with ``levels``, ``"elbo"`` (the default;
                averaged over ``k`` draws of u, default 1) or ``"iwae"`` (``k`` importance
                draws, default ``config.iwae_k``).
            k: draws of the dequantisation noise.
            generator: seeds the dequantisation noise.
        """
        kind = kind or self.log_prob_kinds[0]
        if kind not in self.log_prob_kinds:
            raise GenplugError(f"this glow computes log_prob kinds {', '.join(self.log_prob_kinds)}; got {kind!r}")
        if kind == "exact":
            return self.log_density(x)
        self._check_grid(x)
        k = k if k is not None else (1 if kind == "elbo" else self.config.iwae_k)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise GenplugError(f"k is the number of dequantisation draws, a positive integer; got {k!r}")
        v, log_q = self.dequantize(x.repeat(k, *(1,) * (x.ndim - 1)), generator=generator)  # k draws in one batch
        log_w = (self.log_density(v) - log_q).view(k, x.shape[0]) - x[0].numel() * math.log(self.config.levels)
        return log_w.mean(0) if kind == "elbo" else torch.logsumexp(log_w, 0) - math.log(k)

    # -- generator and encoder --------------------------------------------------------------

    def sample(self, n: int, *, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """Draw z ~ N(0, temperature^2 I) and invert; with ``levels``, the grey level of the cell
        the continuous draw falls in (a draw of the discrete model the bounds are about)."""
        z = temperature * torch.randn(
            (n, *self.event_shape), generator=generator, device=self.base_loc.device, dtype=self.base_loc.dtype
        )
        return self.decode(z)

    def encode(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> genplug.Latent:
        """The base point of ``x``. With ``levels``: ``sample`` of a dequantised draw, ``mean``
        of the cell's centre (so ``decode(encode(x).mean)`` gives back ``x``)."""
        if self.config.levels is None:
            z, _ = self.forward_and_log_det(x)
            return genplug.Latent(sample=z, mean=z)
        self._check_grid(x)
        v, _ = self.dequantize(x, generator=generator)
        centre = ((x * (self.config.levels - 1)).round() + 0.5) / self.config.levels
        return genplug.Latent(sample=self.forward_and_log_det(v)[0], mean=self.forward_and_log_det(centre)[0])

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The data point of base point ``z``; with ``levels``, quantised to its grey level."""
        v, _ = self.inverse_and_log_det(z)
        return v if self.config.levels is None else self._quantize(v)

    # -- training ---------------------------------------------------------------------------

    def prepare(self, data: Any) -> None:
        """Data-dependent actnorm initialisation (Glow sec. 3.1) on up to 512 training images."""
        x = data.x[:512].to(self.base_loc.device, self.base_loc.dtype)
        with torch.no_grad():
            if self.config.levels is not None:
                x, _ = self.dequantize(x, generator=torch.Generator(x.device).manual_seed(0))
            self.forward_and_log_det(x, initialize=True)

    def loss(
        self, batch: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The negative log-likelihood (or its dequantisation bound) in nats per image, and
        the same in bits per dimension."""
        nll = -self.log_prob(batch, generator=generator).mean()
        return nll, {"bits_per_dim": float(nll.detach()) / (batch[0].numel() * math.log(2))}
