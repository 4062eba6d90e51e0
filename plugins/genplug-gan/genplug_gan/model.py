"""The generative adversarial network (``gan``): a generator G(z) trained against a
discriminator D(x) that tells its samples from the data.

Notation:

==============  ==============================================================
``z``           a latent vector, ``(B, latent_dim)``, drawn from N(0, I)
``y``           a class label, ``(B,)``, for a class-conditional model
``G(z, y)``     the generator: a sample in data space, ``(B, *data_shape)``
``phi(x)``      the discriminator's features, ``(B, F)``
``D(x, y)``     the discriminator's logit (the critic's score for WGAN-GP),
                psi(phi(x)) + <embed(y), phi(x)> (the projection, Miyato & Koyama)
``d_real``      D on a batch of data; ``d_fake``: D on a batch of G's samples
==============  ==============================================================

The losses, on logits (``softplus(t) = log(1 + e^t)``):

===================  ==========================================  =====================
``loss``             discriminator                               generator
===================  ==========================================  =====================
``non-saturating``   softplus(-d_real) + softplus(d_fake)        softplus(-d_fake)
``hinge``            relu(1 - d_real) + relu(1 + d_fake)         -d_fake
``wgan-gp``          d_fake - d_real + gp_weight (|grad D(x^)| - 1)^2    -d_fake
===================  ==========================================  =====================

each averaged over the batch. The non-saturating generator loss is Goodfellow et al.'s
-log D(G(z)) (section 3), the hinge pair Lim & Ye's and Miyato et al.'s, and WGAN-GP's
penalty is on points x^ drawn uniformly between real and fake examples (Gulrajani et
al., eq. 3). R1 (Mescheder et al., eq. 9) adds r1_weight / 2 * |grad_x D(x)|^2 on real
data; lazily (Karras et al. 2020, section 4), every ``r1_interval`` steps, multiplied by
``r1_interval`` so that its average weight does not change.

One trainer step is one generator update: ``d_steps`` discriminator updates, each on its
own slice of the batch (``batch_size / d_steps`` real examples, as WGAN-GP's critic
draws a fresh batch per update), then one generator update. The discriminator's learning
rate is ``d_lr_ratio`` times the generator's (the two time-scale update rule, TTUR).
With ``augment`` (DiffAugment, ``genplug_gan/augment.py``), the discriminator sees real
and fake images only through the same random, differentiable augmentations, in its own
updates and in the generator's.

References:
    Goodfellow et al. Generative Adversarial Nets. NeurIPS 2014. arXiv:1406.2661.
    Radford, Metz, Chintala. Unsupervised Representation Learning with Deep Convolutional
    Generative Adversarial Networks (DCGAN). ICLR 2016. arXiv:1511.06434.
    Gulrajani et al. Improved Training of Wasserstein GANs. NeurIPS 2017. arXiv:1704.00028.
    Miyato et al. Spectral Normalization for Generative Adversarial Networks. ICLR 2018.
    arXiv:1802.05957.
    Miyato, Koyama. cGANs with Projection Discriminator. ICLR 2018. arXiv:1802.05637.
    Mescheder, Geiger, Nowozin. Which Training Methods for GANs do actually Converge?
    ICML 2018. arXiv:1801.04406 (R1).
    Heusel et al. GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
    Equilibrium. NeurIPS 2017. arXiv:1706.08500 (TTUR).
    Brock, Donahue, Simonyan. Large Scale GAN Training for High Fidelity Natural Image
    Synthesis (BigGAN). ICLR 2019. arXiv:1809.11096 (truncation).
    Karras et al. Analyzing and Improving the Image Quality of StyleGAN. CVPR 2020.
    arXiv:1912.04958 (lazy regularisation).
    Zhao et al. Differentiable Augmentation for Data-Efficient GAN Training. NeurIPS 2020.
    arXiv:2006.10738 (DiffAugment).
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

from .augment import check_policy, view

__all__ = [
    "GAN",
    "LOSSES",
    "GANConfig",
    "GANTrainOptions",
    "discriminator_loss",
    "generator_loss",
    "gradient_penalty",
    "minibatch_std",
    "mode_seeking_loss",
    "r1_penalty",
    "truncated_normal",
]

LOSSES = ("non-saturating", "hinge", "wgan-gp")
MAX_SIDE = 1024  # bound on an image side
MAX_SIZE = 65_536  # bound on a width, a latent size or the size of a vector
MAX_FEATURES = 2**24  # bound on the elements of one layer's output per example
MAX_DEPTH = 64  # bound on a count of layers
MAX_CLASSES = 100_000
MIN_SIDE = 4  # the conv generator starts from at least 4x4


# -- config ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class GANConfig:
    """The configuration of a :class:`GAN`; every field is saved in ``config.json``.

    Sizes are bounded far above any real use, so that a crafted ``config.json`` is
    refused before anything is allocated.
    """

    # (C, H, W) images (sides up to MAX_SIDE) or (D,) vectors; genplug train fills it in
    data_shape: tuple[int, ...] = attrs.field(default=(1, 8, 8), converter=tuple, validator=v.shape)
    latent_dim: int = attrs.field(default=32, validator=v.in_range(1, MAX_SIZE, integer=True))  # size of z
    network: str = attrs.field(default="auto", validator=v.one_of("auto", "conv", "mlp"))  # auto: conv for (C, H, W)
    hidden: int = attrs.field(  # conv: channels at full resolution, doubled at each stride-2 stage
        default=32, validator=v.in_range(1, MAX_SIZE, integer=True)
    )
    mlp_hidden: int = attrs.field(default=128, validator=v.in_range(1, MAX_SIZE, integer=True))  # mlp: width
    mlp_depth: int = attrs.field(default=3, validator=v.in_range(1, MAX_DEPTH, integer=True))  # mlp: hidden layers
    batch_norm: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))  # conv G: DCGAN's BN
    spectral_norm: bool = attrs.field(  # spectral normalisation of every discriminator layer (Miyato et al.)
        default=False, validator=attrs.validators.instance_of(bool)
    )
    classes: int = attrs.field(  # > 0: class-conditional (condition `label`); 0: unconditional
        default=0, validator=v.in_range(0, MAX_CLASSES, integer=True)
    )
    minibatch_std: bool = attrs.field(  # D sees the spread of its batch's features (Karras et al. 2018)
        default=False, validator=attrs.validators.instance_of(bool)
    )

    def __attrs_post_init__(self) -> None:
        if self.network_name == "conv":
            if len(self.data_shape) != 3:
                raise ConfigError(
                    f"GANConfig.network='conv' needs images (C, H, W), got data_shape={self.data_shape}; "
                    "use network='mlp'"
                )
            if max(self.data_shape[1:]) > MAX_SIDE or self.data_shape[0] > MAX_SIZE:
                raise ConfigError(
                    f"GANConfig.data_shape={self.data_shape!r} is too large: at most {MAX_SIZE} channels and "
                    f"sides of at most {MAX_SIDE}"
                )
            widest = self.hidden * 2**self.stages * max(self.data_shape[1:]) ** 2 // 4**self.stages
            if self.hidden * 2**self.stages > MAX_SIZE or widest > MAX_FEATURES:
                raise ConfigError(
                    f"GANConfig.hidden={self.hidden} gives {self.hidden * 2**self.stages} channels after "
                    f"{self.stages} stages for data_shape={self.data_shape}, too many; lower hidden"
                )
        elif math.prod(self.data_shape) > MAX_SIZE:
            raise ConfigError(
                f"GANConfig.data_shape={self.data_shape!r} has {math.prod(self.data_shape)} values, more than the "
                f"{MAX_SIZE} an mlp network takes; use network='conv' for images"
            )

    @property
    def network_name(self) -> str:
        """``conv`` for images, ``mlp`` for everything else, unless ``network`` says otherwise."""
        if self.network != "auto":
            return self.network
        return "conv" if len(self.data_shape) == 3 else "mlp"

    @property
    def stages(self) -> int:
        """conv: the stride-2 stages, as many as keep H and W whole and at least ``MIN_SIDE``
        (8x8: 1 stage from 4x4; 32x32: 3; 28x28: 2, from 7x7)."""
        height, width = self.data_shape[1:]
        k = 0
        while height % 2 ** (k + 1) == 0 and width % 2 ** (k + 1) == 0 and min(height, width) // 2 ** (k + 1) >= 4:
            k += 1
        return k


@attrs.frozen(kw_only=True)
class GANTrainOptions:
    """The training options of a :class:`GAN`: ``genplug train gan -t loss=hinge -t d_steps=2``."""

    loss: str = attrs.field(default="non-saturating", validator=v.one_of(*LOSSES))  # the adversarial loss (above)
    d_steps: int = attrs.field(default=1, validator=v.in_range(1, 100, integer=True))  # D updates per G update
    d_lr_ratio: float = attrs.field(  # TTUR: the discriminator's lr is this times the generator's
        default=1.0, validator=v.in_range(1e-3, 1e3)
    )
    beta1: float = attrs.field(default=0.5, validator=v.in_range(0.0, 1.0, open_high=True))  # Adam's first beta
    beta2: float = attrs.field(default=0.999, validator=v.in_range(0.0, 1.0, open_high=True))  # Adam's second beta
    gp_weight: float = attrs.field(default=10.0, validator=v.in_range(0.0, 1e6))  # wgan-gp: the penalty's weight
    r1_weight: float = attrs.field(default=0.0, validator=v.in_range(0.0, 1e6))  # R1's gamma; 0: off
    r1_interval: int = attrs.field(default=16, validator=v.in_range(1, 10_000, integer=True))  # lazy R1: every k steps
    mode_seeking: float = attrs.field(  # MSGAN's weight (Mao et al. 2019): G pays for ignoring z; 0: off
        default=0.0, validator=v.in_range(0.0, 1e6)
    )
    augment: str = attrs.field(  # DiffAugment for D, e.g. "translation,color" (genplug_gan.augment); "": off
        default="", validator=check_policy
    )


# -- networks -------------------------------------------------------------------------


def _sn(layer: nn.Module, on: bool) -> nn.Module:
    return nn.utils.parametrizations.spectral_norm(layer) if on else layer


class ConvGeneratorBody(nn.Module):
    """DCGAN's generator: a linear map to (hidden * 2^stages, H / 2^stages, W / 2^stages), then
    ``stages`` transposed convolutions that double the side and halve the channels."""

    def __init__(
        self, inputs: int, channels: int, height: int, width: int, hidden: int, stages: int, batch_norm: bool
    ) -> None:
        super().__init__()
        self.start = (hidden * 2**stages, height // 2**stages, width // 2**stages)
        norm = nn.BatchNorm2d if batch_norm else lambda _: nn.Identity()
        self.project = nn.Linear(inputs, math.prod(self.start))
        layers: list[nn.Module] = [norm(self.start[0]), nn.ReLU()]
        for i in range(stages, 0, -1):
            layers += [nn.ConvTranspose2d(hidden * 2**i, hidden * 2 ** (i - 1), 4, 2, 1), norm(hidden * 2 ** (i - 1))]
            layers.append(nn.ReLU())
        layers.append(nn.Conv2d(hidden, channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(self.project(h).view(-1, *self.start))  # (B, C, H, W), unbounded


class ConvDiscriminatorBody(nn.Module):
    """DCGAN's discriminator without batch norm (WGAN-GP's penalty is per example): a 3x3
    convolution, then ``stages`` stride-2 convolutions that halve the side and double the
    channels; the features are the flattened last map."""

    def __init__(self, channels: int, height: int, width: int, hidden: int, stages: int, spectral: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = [_sn(nn.Conv2d(channels, hidden, 3, padding=1), spectral), nn.LeakyReLU(0.2)]
        for i in range(stages):
            layers += [_sn(nn.Conv2d(hidden * 2**i, hidden * 2 ** (i + 1), 4, 2, 1), spectral), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.features = hidden * 2**stages * (height // 2**stages) * (width // 2**stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, F)


class MLPBody(nn.Module):
    """``depth`` hidden layers of ``hidden`` units; the generator's ends in a linear output,
    the discriminator's in its features (leaky ReLU, optionally spectrally normalised)."""

    def __init__(self, inputs: int, hidden: int, depth: int, outputs: int | None, *, spectral: bool = False) -> None:
        super().__init__()
        act = nn.LeakyReLU(0.2) if outputs is None else nn.ReLU()
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [_sn(nn.Linear(inputs if i == 0 else hidden, hidden), spectral), act]
        if outputs is not None:
            layers.append(nn.Linear(hidden, outputs))
        self.net = nn.Sequential(*layers)
        self.features = hidden

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class Generator(nn.Module):
    """G(z, y): the label's embedding is concatenated to z; images leave through tanh,
    mapped to [0, 1]."""

    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        c = config
        self.shape, self.image = tuple(c.data_shape), c.network_name == "conv"
        self.embed = nn.Embedding(c.classes, c.latent_dim) if c.classes else None
        inputs = c.latent_dim * (2 if c.classes else 1)
        if self.image:
            channels, height, width = c.data_shape
            self.body = ConvGeneratorBody(inputs, channels, height, width, c.hidden, c.stages, c.batch_norm)
        else:
            self.body = MLPBody(inputs, c.mlp_hidden, c.mlp_depth, math.prod(c.data_shape))

    def forward(self, z: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(z, None if self.embed is None else self.embed(label))

    def decode(self, z: torch.Tensor, embedding: torch.Tensor | None = None) -> torch.Tensor:
        """G from z and the label's embedding ``(B, latent_dim)`` (a mix of two labels'
        embeddings interpolates between classes; ``genplug_gan.latents``)."""
        h = z if embedding is None else torch.cat([z, embedding], 1)  # (B, latent_dim [* 2])
        out = self.body(h).view(-1, *self.shape)
        return (torch.tanh(out) + 1) / 2 if self.image else out


def minibatch_std(phi: torch.Tensor, group: int = 4) -> torch.Tensor:
    """``phi`` ``(B, F)`` with one feature appended, ``(B, F + 1)``: the standard deviation of
    each feature over a group of ``group`` examples (consecutive rows; fewer when B is not a
    multiple), averaged over the features (Karras et al. 2018, section 3). A generator
    whose samples vary too little gives itself away by it."""
    b = len(phi)
    g = math.gcd(b, group)
    std = phi.view(g, b // g, -1).var(0, unbiased=False).add(1e-8).sqrt().mean(1)  # (B / g,)
    return torch.cat([phi, std.repeat(g)[:, None]], 1)  # row i's group: i, i + B/g, ...


class Discriminator(nn.Module):
    """D(x, y) = psi(phi(x)) + <embed(y), phi(x)>: a linear head on the features, plus the
    projection of the label's embedding on them (Miyato & Koyama, eq. 3). With
    ``minibatch_std`` the features carry one more: the spread of the batch's features."""

    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        c = config
        self.image = c.network_name == "conv"
        if self.image:
            channels, height, width = c.data_shape
            self.body = ConvDiscriminatorBody(channels, height, width, c.hidden, c.stages, c.spectral_norm)
        else:
            self.body = MLPBody(math.prod(c.data_shape), c.mlp_hidden, c.mlp_depth, None, spectral=c.spectral_norm)
        self.minibatch_std = c.minibatch_std
        features = self.body.features + (1 if c.minibatch_std else 0)
        self.head = _sn(nn.Linear(features, 1), c.spectral_norm)
        self.embed = nn.Embedding(c.classes, features) if c.classes else None

    def forward(self, x: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        x = 2 * x - 1 if self.image else x.flatten(1)  # images in [-1, 1], as G's tanh
        phi = self.body(x)  # (B, F)
        if self.minibatch_std:
            phi = minibatch_std(phi)  # (B, F + 1)
        out = self.head(phi).squeeze(1)  # (B,)
        if self.embed is not None:
            out = out + (self.embed(label) * phi).sum(1)
        return out


# -- losses ---------------------------------------------------------------------------


def discriminator_loss(kind: str, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss on logits (without WGAN-GP's penalty), averaged over the batch.

    Example:
        >>> discriminator_loss("hinge", torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0]))
        tensor(0.7500)
    """
    if kind == "non-saturating":
        return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
    if kind == "hinge":
        return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
    if kind == "wgan-gp":
        return d_fake.mean() - d_real.mean()
    raise GenplugError(f"unknown GAN loss {kind!r}; choose one of {', '.join(LOSSES)}")


def generator_loss(kind: str, d_fake: torch.Tensor) -> torch.Tensor:
    """The generator's loss on the discriminator's logits of its samples.

    Example:
        >>> generator_loss("non-saturating", torch.tensor([0.0]))  # log 2
        tensor(0.6931)
    """
    if kind == "non-saturating":
        return F.softplus(-d_fake).mean()
    if kind in ("hinge", "wgan-gp"):
        return -d_fake.mean()
    raise GenplugError(f"unknown GAN loss {kind!r}; choose one of {', '.join(LOSSES)}")


def mode_seeking_loss(x1: torch.Tensor, x2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """MSGAN's regulariser (Mao et al. 2019, eq. 3): 1 / (mean |G(z1) - G(z2)| / mean |z1 - z2| + eps),
    large when two latents with the same label give nearly the same sample (the generator
    ignores z: mode collapse within a class)."""
    ratio = (x1 - x2).abs().flatten(1).mean(1) / (z1 - z2).abs().mean(1)  # (B,)
    return 1 / (ratio.mean() + 1e-5)


def _input_gradient(critic: Any, x: torch.Tensor, label: torch.Tensor | None) -> torch.Tensor:
    """grad_x of sum(D(x)), kept in the graph so that the penalty trains D; ``(B, *shape)``."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x, label).sum(), x, create_graph=True)
    return grad


def gradient_penalty(
    critic: Any,
    real: torch.Tensor,
    fake: torch.Tensor,
    label: torch.Tensor | None = None,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP's penalty E[(|grad D(x^)| - 1)^2], x^ = e real + (1 - e) fake, e ~ U(0, 1) per example."""
    e = torch.rand(len(real), *[1] * (real.ndim - 1), generator=generator, device=real.device, dtype=real.dtype)
    grad = _input_gradient(critic, e * real + (1 - e) * fake, label)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def r1_penalty(critic: Any, real: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
    """R1: E[|grad_x D(x)|^2] on real data (to be weighted by gamma / 2)."""
    return _input_gradient(critic, real, label).flatten(1).pow(2).sum(1).mean()


def truncated_normal(
    shape: tuple[int, ...], threshold: float, *, generator: torch.Generator | None = None, device: Any = None
) -> torch.Tensor:
    """N(0, I) draws with every value of magnitude above ``threshold`` drawn again (BigGAN's
    truncation trick: fewer, more typical samples as the threshold falls)."""
    z = torch.randn(shape, generator=generator, device=device)
    while (outside := z.abs() > threshold).any():
        z[outside] = torch.randn(int(outside.sum()), generator=generator, device=device)
    return z


# -- the model ------------------------------------------------------------------------


class GAN(genplug.Model):
    """A GAN: a ``Generator`` (no likelihood) trained against a discriminator.

    Arguments:
        config: a :class:`GANConfig`.

    Example:
        >>> model = GAN(GANConfig(data_shape=(2,), latent_dim=4, mlp_hidden=16))
        >>> model.sample(3, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([3, 2])
        >>> model.sample(3, truncation=0.5).shape
        torch.Size([3, 2])
    """

    architecture = "gan"
    config_class = GANConfig
    log_prob_kinds = ()
    train_options_class = GANTrainOptions
    ema_modules = ("generator",)  # average the generator only, never the discriminator
    inference_modules = ("generator",)  # the final model folder holds the generator alone
    train_defaults = {"lr": 2e-4, "batch_size": 64, "steps": 3000, "ema": 0.999}
    conformance_configs = (
        {"data_shape": (1, 8, 8), "latent_dim": 8, "hidden": 4},
        {"data_shape": (3, 16, 16), "latent_dim": 8, "hidden": 4, "spectral_norm": True, "classes": 3},
        {"data_shape": (2,), "latent_dim": 4, "mlp_hidden": 16, "mlp_depth": 2, "classes": 3, "minibatch_std": True},
    )

    def __init__(self, config: GANConfig) -> None:
        super().__init__(config)
        self.generator = Generator(config)
        self.discriminator = Discriminator(config)
        self.options = GANTrainOptions()  # replaced by configure_optimizers with the run's options

    @property
    def conditions(self) -> dict[str, genplug.Condition]:
        if not self.config.classes:
            return {}
        return {"label": genplug.Condition("class", classes=self.config.classes, description="the class to draw")}

    def _labels(self, label: Any, n: int, generator: torch.Generator | None) -> torch.Tensor | None:
        """The labels to draw with: ``None`` for an unconditional model, when none is given
        a balanced, shuffled set (``genplug.Condition.draw_labels``), else the given ones, checked."""
        if not self.config.classes:
            if label is not None:
                raise GenplugError("model 'gan' is unconditional; it takes no label (train it with classes=N)")
            return None
        if label is None:
            return self.conditions["label"].draw_labels(n, generator=generator, device=self.device)
        label = torch.as_tensor(label, device=self.device).long().expand(n)
        if ((label < 0) | (label >= self.config.classes)).any():
            raise GenplugError(f"label must be in 0..{self.config.classes - 1}, got {sorted(set(label.tolist()))}")
        return label

    def _latents(self, n: int, generator: torch.Generator | None, truncation: float | None = None) -> torch.Tensor:
        if truncation is None:
            return torch.randn(n, self.config.latent_dim, generator=generator, device=self.device)
        return truncated_normal((n, self.config.latent_dim), truncation, generator=generator, device=self.device)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        label: Any = None,
        truncation: float | None = None,
        sampler_options: dict[str, Any] | None = None,
    ) -> torch.Tensor:
        """``n`` samples ``(n, *data_shape)``; images in [0, 1].

        Sampler options (``sampler_options={...}``, the CLI's ``--sampler-option K=V``):

        - ``truncation=t`` (also a keyword) redraws latent values beyond ``t``;
        - ``walk=true``: the ``n`` samples lie on a walk between two random latents (the
          great circle through them, ``genplug_gan.latents.slerp``), with one label for
          all of them (the given one, else one drawn at random).

        The generator runs in eval mode (batch norm's running statistics), whatever the
        model's mode, so a sample does not depend on ``n``.
        """
        options = dict(sampler_options or {})
        unknown = sorted(set(options) - {"truncation", "walk"})
        if unknown:
            raise GenplugError(
                f"model 'gan' has the sampler options 'truncation' and 'walk', got {', '.join(map(repr, unknown))}"
            )
        truncation = options.get("truncation", truncation)
        if truncation is not None and (
            isinstance(truncation, bool) or not (isinstance(truncation, (int, float)) and 0 < truncation < math.inf)
        ):
            raise GenplugError(f"truncation must be a positive number (0.5-1 is usual), got {truncation!r}")
        walk = options.get("walk", False)
        if not isinstance(walk, bool):
            raise GenplugError(f"walk is true or false (--sampler-option walk=true), got {walk!r}")
        if walk:
            from genplug_gan.latents import slerp  # latents imports this module

            ends = self._latents(2, generator, truncation)  # (2, latent_dim)
            z = slerp(ends[0], ends[1], torch.linspace(0, 1, n, device=self.device))
            labels = self._labels(label, n if label is not None else 1, generator)  # one random label for all
            labels = None if labels is None else labels.expand(n)
        else:
            labels = self._labels(label, n, generator)
            z = self._latents(n, generator, truncation)
        dtype = next(self.generator.parameters()).dtype
        was_training = self.generator.training
        self.generator.eval()
        try:
            return self.generator(z.to(dtype), labels)
        finally:
            self.generator.train(was_training)

    # -- training --------------------------------------------------------------------

    def configure_optimizers(self, config: genplug.TrainConfig) -> dict[str, torch.optim.Optimizer]:
        """Adam for each network; the discriminator's learning rate is ``d_lr_ratio`` times ``lr``."""
        self.options = config.model_options(self)
        betas = (float(self.options.beta1), float(self.options.beta2))  # -t beta1=0 arrives as an int
        return {
            "generator": torch.optim.Adam(self.generator.parameters(), lr=config.lr, betas=betas),
            "discriminator": torch.optim.Adam(
                self.discriminator.parameters(), lr=config.lr * self.options.d_lr_ratio, betas=betas
            ),
        }

    def training_step(
        self,
        batch: torch.Tensor,
        optimizers: dict[str, torch.optim.Optimizer],
        *,
        generator: torch.Generator | None = None,
        step: int = 0,
        total: int = 1,
        label: torch.Tensor | None = None,
    ) -> dict[str, float]:
        """``d_steps`` discriminator updates, each on a slice of the batch, then one generator update."""
        o = self.options
        if len(batch) < o.d_steps:
            raise GenplugError(f"a batch of {len(batch)} cannot feed d_steps={o.d_steps}; raise --batch-size")
        if self.config.classes and label is None:
            raise GenplugError("a class-conditional GAN trains on labelled data (its batches need labels)")
        seen = view(o.augment, batch, generator)  # what the discriminator sees of an image
        reals = batch.chunk(o.d_steps)
        labels = label.chunk(o.d_steps) if label is not None else (None,) * len(reals)
        figures: dict[str, float] = {}

        # 1. the discriminator: d_steps updates on fresh fakes
        for i, (real, y) in enumerate(zip(reals, labels, strict=True)):
            optimizers["discriminator"].zero_grad(set_to_none=True)
            with torch.no_grad():
                fake = seen(self.generator(self._latents(len(real), generator), y))
            real = seen(real)
            if self.config.minibatch_std:  # real and fake apart: the batch's spread is each one's own
                d_real, d_fake = self.discriminator(real, y), self.discriminator(fake, y)
            else:
                d = self.discriminator(torch.cat([real, fake]), None if y is None else torch.cat([y, y]))
                d_real, d_fake = d[: len(real)], d[len(real) :]
            loss = discriminator_loss(o.loss, d_real, d_fake)
            figures.update(
                d_loss=float(loss.detach()), d_real=float(d_real.detach().mean()), d_fake=float(d_fake.detach().mean())
            )
            if o.loss == "wgan-gp" and o.gp_weight > 0:
                gp = gradient_penalty(self.discriminator, real, fake, y, generator=generator)
                loss = loss + o.gp_weight * gp
                figures["gp"] = float(gp.detach())
            if o.r1_weight > 0 and i == 0 and step % o.r1_interval == 0:  # lazy: every r1_interval steps
                r1 = r1_penalty(self.discriminator, real, y)
                loss = loss + o.r1_weight / 2 * o.r1_interval * r1
                figures["r1"] = float(r1.detach())
            loss.backward()
            optimizers["discriminator"].step()

        # 2. the generator: one update against the discriminator, its weights held fixed
        optimizers["generator"].zero_grad(set_to_none=True)
        self.discriminator.requires_grad_(False)
        try:
            y, z = labels[0], self._latents(len(reals[0]), generator)
            half = len(z) // 2
            if o.mode_seeking > 0 and y is not None:  # pairs (i, i + half) share a label
                y = torch.cat([y[:half], y[:half], y[2 * half :]])
            fake = self.generator(z, y)
            loss = generator_loss(o.loss, self.discriminator(seen(fake), y))
            if o.mode_seeking > 0 and half > 0:
                ms = mode_seeking_loss(fake[:half], fake[half : 2 * half], z[:half], z[half : 2 * half])
                loss = loss + o.mode_seeking * ms
                figures["mode_seeking"] = float(ms.detach())
            loss.backward()
        finally:
            self.discriminator.requires_grad_(True)
        optimizers["generator"].step()
        figures["g_loss"] = float(loss.detach())
        return figures
