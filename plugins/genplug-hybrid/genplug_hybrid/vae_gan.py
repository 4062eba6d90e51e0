"""The ``vae-gan`` architecture: a VAE whose decoder is also trained against a discriminator.

A VAE (genplug-vae) trained on its ELBO alone decodes a latent to the average of the
digits it could be: its decoder mean is blurred, and its draws x ~ p(x | z) are grainy.
Larsen et al. train the same decoder, in addition, against a GAN discriminator
(genplug-gan's :class:`genplug_gan.model.Discriminator`) that tells data from the decoder's
outputs, both on reconstructions of data and on decodings of prior draws z ~ N(0, I), so
the decoder learns to make sharp digits everywhere the prior puts mass, and the encoder
keeps the latent space structured.

=================  ===========================================================================
``x``, ``y``       a batch of data ``(B, *data_shape)`` and, for a conditional VAE, its labels
``z``              a posterior draw z ~ q(z | x), ``(B, latent_dim)``
``z_p``            a prior draw z_p ~ N(0, I), ``(B, latent_dim)``
``x_rec``, ``x_p`` the decoder mean E[x | z] at ``z`` and at ``z_p`` (the VAE's ``decode``)
``D(x, y)``        the discriminator's logit; ``phi(x)`` its features ``(B, F)``
=================  ===========================================================================

One trainer step (:meth:`VAEGAN.training_step`):

1. decode ``x_rec`` and ``x_p``; the discriminator takes one step on
   L_D = loss_D(D(x), [D(x_rec), D(x_p)]) (genplug-gan's ``discriminator_loss``; hinge by
   default), the decodings detached;
2. the VAE (encoder and decoder) takes one step on

       L = -ELBO_beta(x) + adversarial_weight * loss_G([D(x_rec), D(x_p)])
                         + feature_weight * |phi(x) - phi(x_rec)|^2

   with the discriminator held fixed: the VAE's own loss (KL warm-up and label dropout
   included), the generator loss of genplug-gan (``generator_loss``), and Larsen et al.'s
   reconstruction error in the discriminator's features (section 2.2, a Gaussian in
   ``phi``-space). ``z`` is detached in the last two terms: as in Larsen et al., the
   adversarial signal trains the decoder, not the encoder.

With ``augment`` (genplug-gan's DiffAugment, e.g. ``"translation,color"``) the
discriminator sees the data and both decodings in 1 and 2 only through random,
differentiable augmentations (fresh for each call), as a GAN's discriminator does with
the same option, so that it cannot memorise 1,497 digits. The feature term compares
``phi`` of the images themselves. On digits it made the FD worse, so it is off by
default (the README has the figures).

The composite has two roles: ``vae`` (a genplug-vae ``vae``, the Encoder; it is also what
samples) and ``gan`` (a genplug-gan ``gan`` whose ``discriminator`` is trained; its
generator is not used and is frozen). It samples z ~ N(0, I) and decodes it with the
VAE's decoder: the decoder mean (``output="mean"``, the default: what the discriminator
trained) or a draw from p(x | z) (``output="draw"``). ``log_prob`` is the VAE's ELBO or
IWAE bound: still a lower bound on log p(x) of the VAE's model (decode to draws), which the
adversarial terms trade for sharper means.

References:
    Larsen, Sønderby, Larochelle, Winther. Autoencoding beyond pixels using a learned
    similarity metric. ICML 2016. arXiv:1512.09300.
    Kingma, Welling. Auto-Encoding Variational Bayes. ICLR 2014. arXiv:1312.6114.
    Goodfellow et al. Generative Adversarial Nets. NeurIPS 2014. arXiv:1406.2661.
    Miyato et al. Spectral Normalization for Generative Adversarial Networks. ICLR 2018.
    arXiv:1802.05957.

Example:
    >>> import genplug, torch
    >>> vae = genplug.create("vae", data_shape=(1, 8, 8), latent_dim=4, hidden=4, mlp_hidden=16)
    >>> gan = genplug.create("gan", data_shape=(1, 8, 8), latent_dim=1, hidden=4)
    >>> model = VAEGAN(VAEGANConfig(), vae=vae, gan=gan)
    >>> model.sample(3, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([3, 1, 8, 8])
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import torch
from genplug_gan.augment import check_policy, view
from genplug_gan.model import LOSSES, GANConfig, discriminator_loss, generator_loss
from genplug_vae.model import OUTPUTS, VAEConfig

import genplug
from genplug import ConfigError, IncompatibleError
from genplug import validators as v

__all__ = ["DEFAULT_GAN", "DEFAULT_VAE", "VAEGAN", "VAEGANConfig", "VAEGANTrainOptions", "check_vae_gan"]

#: The VAE built when none is given: genplug-vae's packaged recipe (a conditional VAE on
#: the digits' labels, latent 8, KL warm-up over 1000 steps), its data_shape from the config.
DEFAULT_VAE: dict[str, Any] = {"latent_dim": 8, "warmup_steps": 1000, "classes": 10, "label_dropout": 0.1}
#: The GAN whose discriminator is built when none is given: genplug-gan's packaged
#: discriminator (32 channels, spectral norm, minibatch std; a projection on the label when
#: the VAE is conditional). Its generator is unused: latent 1 and no batch norm keep it small.
DEFAULT_GAN: dict[str, Any] = {
    "hidden": 32,
    "spectral_norm": True,
    "minibatch_std": True,
    "batch_norm": False,
    "latent_dim": 1,
}


def _fields_of(config_class: type, *, set_here: tuple[str, ...]) -> Any:
    """A validator: the dict holds fields of ``config_class``, except ``set_here``, which
    the composite sets itself."""

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        where = f"VAEGANConfig.{attribute.name}"
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a dict of {config_class.__name__} fields, got {type(value).__name__}")
        known = set(attrs.fields_dict(config_class)) - set(set_here)
        unknown = sorted(set(value) - known)
        if unknown:
            raise ConfigError(
                f"{where} has unknown field(s) {', '.join(map(repr, unknown))}; {config_class.__name__} takes "
                f"{', '.join(sorted(known))} here ({' and '.join(set_here)}: set by the composite)"
            )

    return check


@attrs.frozen(kw_only=True)
class VAEGANConfig:
    """The configuration of a :class:`VAEGAN`; every field is saved in ``config.json``."""

    # (C, H, W) images or (D,) vectors; both parts are built for it (genplug train fills it in)
    data_shape: tuple[int, ...] = attrs.field(default=(1, 8, 8), converter=tuple, validator=v.shape)
    # VAEConfig fields of the VAE built when none is passed
    vae: dict[str, Any] = attrs.field(
        factory=lambda: dict(DEFAULT_VAE), validator=_fields_of(VAEConfig, set_here=("data_shape",))
    )
    # GANConfig fields of the GAN built when none is passed; its classes follow the VAE's
    gan: dict[str, Any] = attrs.field(
        factory=lambda: dict(DEFAULT_GAN), validator=_fields_of(GANConfig, set_here=("data_shape", "classes"))
    )
    output: str = attrs.field(default="mean", validator=v.one_of(*OUTPUTS))  # sample(): E[x | z] or x ~ p(x | z)


@attrs.frozen(kw_only=True)
class VAEGANTrainOptions:
    """The training options of a :class:`VAEGAN`: ``genplug train vae-gan -t adversarial_weight=0``
    trains the plain VAE (the discriminator is then not trained)."""

    adversarial_weight: float = attrs.field(default=10.0, validator=v.in_range(0.0, 1e6))  # of loss_G, in ELBO nats
    feature_weight: float = attrs.field(default=0.0, validator=v.in_range(0.0, 1e6))  # of the phi-space error
    loss: str = attrs.field(default="hinge", validator=v.one_of(*LOSSES[:2]))  # the adversarial loss (genplug-gan)
    d_lr_ratio: float = attrs.field(default=2.0, validator=v.in_range(1e-3, 1e3))  # the discriminator's lr / lr
    beta1: float = attrs.field(default=0.5, validator=v.in_range(0.0, 1.0, open_high=True))  # Adam's first beta
    beta2: float = attrs.field(default=0.999, validator=v.in_range(0.0, 1.0, open_high=True))  # Adam's second beta
    augment: str = attrs.field(  # DiffAugment on what D sees (genplug_gan.augment), e.g. "translation,color"; "": off
        default="", validator=check_policy
    )


def _name(obj: Any) -> str:
    return getattr(obj, "architecture", None) or type(obj).__name__


def check_vae_gan(vae: Any, gan: Any) -> None:
    """Raise :class:`genplug.IncompatibleError`, naming both parts, unless ``gan``'s
    discriminator can judge ``vae``'s decodings: the same data shape and the same classes."""
    if not isinstance(vae, genplug.Encoder) or not isinstance(vae, genplug.Generator):
        raise IncompatibleError(
            f"the vae {_name(vae)!r} is not an Encoder and a Generator (encode, decode, latent_shape, sample, "
            f"event_shape), so the gan {_name(gan)!r} has nothing to judge; use genplug-vae's 'vae'"
        )
    discriminator = getattr(gan, "discriminator", None)
    if not isinstance(discriminator, torch.nn.Module):
        raise IncompatibleError(
            f"the gan {_name(gan)!r} has no discriminator module to train against the vae {_name(vae)!r}; use "
            "genplug-gan's 'gan'"
        )
    if tuple(gan.event_shape) != tuple(vae.event_shape):
        raise IncompatibleError(
            f"the discriminator of the gan {_name(gan)!r} judges examples of shape {tuple(gan.event_shape)}, but the "
            f"vae {_name(vae)!r} decodes to {tuple(vae.event_shape)}; build the gan with "
            f"data_shape={tuple(vae.event_shape)}"
        )
    vae_classes = getattr(getattr(vae, "config", None), "classes", 0)
    gan_classes = getattr(getattr(gan, "config", None), "classes", 0)
    if vae_classes != gan_classes:
        raise IncompatibleError(
            f"the vae {_name(vae)!r} has {vae_classes} classes, but the discriminator of the gan {_name(gan)!r} "
            f"has {gan_classes}; build the gan with classes={vae_classes}"
        )


class VAEGAN(genplug.Model):
    """A VAE trained with a GAN discriminator on its decodings; a ``Generator`` and an ``Encoder``.

    Arguments:
        config: a :class:`VAEGANConfig`.
        vae: genplug-vae's ``vae`` for ``config.data_shape`` (trained or not); default a fresh
            ``genplug.create("vae", **config.vae)``.
        gan: genplug-gan's ``gan`` whose discriminator is trained; default a fresh
            ``genplug.create("gan", **config.gan)`` with the VAE's classes.

    Raises:
        genplug.IncompatibleError: when the discriminator cannot judge the VAE's decodings.
    """

    architecture = "vae-gan"
    config_class = VAEGANConfig
    #: role -> protocol: each role is an attribute, a constructor keyword and a subfolder.
    roles: ClassVar[dict[str, str]] = {"vae": "encoder", "gan": "generator"}
    train_options_class = VAEGANTrainOptions
    ema_modules = ("vae",)  # average the VAE (what samples), never the discriminator
    #: The recipe of scripts/train_vae_gan.py, for `genplug train vae-gan`.
    train_defaults: ClassVar[dict[str, Any]] = {"lr": 2e-4, "batch_size": 64, "steps": 4000, "ema": 0.999}
    #: Small configs for genplug's conformance kit (one conditional; tests/test_vae_gan.py runs one of vectors).
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {
            "vae": {"latent_dim": 4, "hidden": 4, "mlp_hidden": 16, "likelihood": "bernoulli"},
            "gan": {"hidden": 4, "spectral_norm": True, "batch_norm": False, "latent_dim": 1},
        },
        {
            "vae": {"latent_dim": 4, "hidden": 4, "mlp_hidden": 16, "likelihood": "bernoulli", "classes": 3},
            "gan": {"hidden": 4, "minibatch_std": True, "batch_norm": False, "latent_dim": 1},
            "output": "draw",
        },
    )

    def __init__(self, config: VAEGANConfig, *, vae: Any = None, gan: Any = None) -> None:
        super().__init__(config)
        if vae is None:
            vae = genplug.create("vae", data_shape=config.data_shape, **config.vae)
        if gan is None:
            classes = getattr(getattr(vae, "config", None), "classes", 0)
            gan = genplug.create("gan", data_shape=tuple(vae.event_shape), classes=classes, **config.gan)
        check_vae_gan(vae, gan)
        if tuple(vae.event_shape) != tuple(config.data_shape):
            raise IncompatibleError(
                f"VAEGANConfig.data_shape is {tuple(config.data_shape)}, but the vae {_name(vae)!r} makes "
                f"{tuple(vae.event_shape)}; give data_shape={tuple(vae.event_shape)}"
            )
        self.vae = vae
        self.gan = gan
        if isinstance(getattr(gan, "generator", None), torch.nn.Module):
            gan.generator.requires_grad_(False)  # only the discriminator of the GAN is trained
        self.options = VAEGANTrainOptions()  # replaced by configure_optimizers with the run's options

    # -- what the VAE provides ----------------------------------------------------------

    def conformance_batch(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Test data for genplug.testing: the VAE's (on its likelihood's grid)."""
        return self.vae.conformance_batch(n, generator=generator)

    @property
    def event_shape(self) -> tuple[int, ...]:
        return tuple(self.vae.event_shape)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return tuple(self.vae.latent_shape)

    @property
    def log_prob_kinds(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(self.vae.log_prob_kinds)

    @property
    def log_prob_discrete(self) -> bool:  # type: ignore[override]
        return bool(getattr(self.vae, "log_prob_discrete", False))

    @property
    def conditions(self) -> dict[str, genplug.Condition]:
        """The VAE's conditions: ``label`` for a conditional VAE."""
        return dict(self.vae.conditions)

    def encode(self, x: torch.Tensor, *, generator: torch.Generator | None = None, **condition: Any) -> genplug.Latent:
        """The VAE's posterior q(z | x): its mean, scale and a reparameterised draw."""
        return self.vae.encode(x, generator=generator, **condition)

    def decode(self, z: torch.Tensor, **condition: Any) -> torch.Tensor:
        """The decoder mean E[x | z], ``(B, *data_shape)``: what the discriminator was trained on."""
        return self.vae.decode(z, **condition)

    def decode_sample(
        self, z: torch.Tensor, *, generator: torch.Generator | None = None, **condition: Any
    ) -> torch.Tensor:
        """A draw x ~ p(x | z) from the VAE's likelihood."""
        return self.vae.decode_sample(z, generator=generator, **condition)

    def log_prob(self, x: torch.Tensor, **options: Any) -> torch.Tensor:
        """The VAE's bound on log p(x) (``kind="elbo"`` or ``"iwae"``), per example, in nats."""
        return self.vae.log_prob(x, **options)

    def log_prob_label(self, kind: str | None = None, k: int | None = None) -> str:
        return self.vae.log_prob_label(kind, k)

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        output: str | None = None,
        label: Any = None,
    ) -> torch.Tensor:
        """Decode ``n`` prior draws z ~ N(0, temperature^2 I): the decoder mean (``output="mean"``,
        default ``config.output``) or a draw from p(x | z); ``label`` as the VAE takes it
        (``None``: labels drawn uniformly for a conditional VAE)."""
        output = output or self.config.output
        return self.vae.sample(n, generator=generator, temperature=temperature, output=output, label=label)

    # -- training -----------------------------------------------------------------------

    def configure_optimizers(self, config: genplug.TrainConfig) -> dict[str, torch.optim.Optimizer]:
        """Adam for the VAE (encoder and decoder) and for the discriminator, whose learning
        rate is ``d_lr_ratio`` times ``lr``."""
        if isinstance(config, (int, float)):  # the first contract's learning rate
            config = genplug.TrainConfig(lr=float(config))
        self.options = config.model_options(self)
        betas = (float(self.options.beta1), float(self.options.beta2))
        return {
            "vae": torch.optim.Adam(self.vae.parameters(), lr=config.lr, betas=betas),
            "discriminator": torch.optim.Adam(
                self.gan.discriminator.parameters(), lr=config.lr * self.options.d_lr_ratio, betas=betas
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
        """One discriminator step, then one VAE step on its ELBO and the adversarial terms."""
        o, vae, critic = self.options, self.vae, self.gan.discriminator
        adversarial = o.adversarial_weight > 0 or o.feature_weight > 0
        y = label if getattr(vae.config, "classes", 0) else None
        seen = view(o.augment, batch, generator)  # what the discriminator sees of an image
        figures: dict[str, float] = {}

        # the decodings the discriminator judges: of posterior draws (detached) and of prior draws
        if adversarial:
            with torch.no_grad():
                z = vae.encode(batch, generator=generator, label=y).sample  # (B, L)
            z_p = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)  # (B, L)
            fakes = vae.decode(torch.cat([z, z_p]), label=None if y is None else torch.cat([y, y]))  # (2B, ...)
            y2 = None if y is None else torch.cat([y, y])

            # 1. the discriminator, on the decodings detached
            optimizers["discriminator"].zero_grad(set_to_none=True)
            d_real, d_fake = critic(seen(batch), y), critic(seen(fakes.detach()), y2)
            d_loss = discriminator_loss(o.loss, d_real, d_fake)
            d_loss.backward()
            optimizers["discriminator"].step()
            figures["d_loss"] = float(d_loss.detach())
            figures["d_real"], figures["d_fake"] = float(d_real.detach().mean()), float(d_fake.detach().mean())

        # 2. the VAE: its own loss, and the adversarial terms with the discriminator held fixed
        optimizers["vae"].zero_grad(set_to_none=True)
        loss, vae_figures = vae.loss(batch, generator=generator, step=step, label=y)
        figures.update(vae_figures)
        if adversarial:
            critic.requires_grad_(False)
            try:
                g_loss = generator_loss(o.loss, critic(seen(fakes), y2))
                loss = loss + o.adversarial_weight * g_loss
                figures["g_loss"] = float(g_loss.detach())
                if o.feature_weight > 0:
                    features = _features(critic, torch.cat([batch, fakes[: len(batch)]]))
                    real, rec = features.chunk(2)
                    feature_loss = (real.detach() - rec).pow(2).sum(1).mean()
                    loss = loss + o.feature_weight * feature_loss
                    figures["feature"] = float(feature_loss.detach())
                loss.backward()
            finally:
                critic.requires_grad_(True)
        else:
            loss.backward()
        optimizers["vae"].step()
        if hasattr(vae, "train_step"):
            vae.train_step.fill_(step + 1)  # the VAE's record of the steps taken (its KL warm-up)
        return {"loss": float(loss.detach()), **figures}


def _features(critic: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The discriminator's features phi(x), ``(B, F)``: its body on its own input scaling."""
    h = 2 * x - 1 if getattr(critic, "image", False) else x.flatten(1)  # as Discriminator.forward
    return critic.body(h)
