"""The ``latent-diffusion`` architecture: a diffusion prior in the latent space of a VAE.

A VAE (genplug-vae) maps an 8x8 digit x to a posterior q(z | x) over a small latent z;
its own prior p(z) = N(0, I) is simple, and the aggregate posterior of the data,
q(z) = E_x[q(z | x)], is not: samples z ~ N(0, I) land between the clusters the encoder
uses, and decode to blurred or ambiguous digits. Latent diffusion keeps the VAE's encoder
and decoder, frozen, and replaces p(z) by a diffusion model (genplug-diffusion) trained on
the latents of the data:

==============  ============================================================================
``x``           an example in data space, ``(B, *event_shape)``
``z``           its latent: the posterior mean (``latent="mean"``) or a draw of q(z | x)
``u``           the standardised latent (z - latent_mean) / latent_std that the prior models
``prior``       a ``diffusion`` model with ``data_shape = encoder.latent_shape``
==============  ============================================================================

Training: u = standardise(encode(x)); the prior's loss (L_simple) on u. Sampling: u from
the prior with any diffusion sampler (``ddpm``, ``ddim``, ``dpm-solver++``, ``unipc``),
then z = u * latent_std + latent_mean and a draw x ~ p(x | z) from the VAE's decoder
(``output="draw"``, the encoder's ``decode_sample``, as the VAE's own samples are) or its
mean E[x | z] (``output="mean"``, the encoder's ``decode``; smoother, and blurred where the
decoder is unsure).

Standardisation: a diffusion model's noise schedule assumes data of roughly unit scale
(x_T ~ N(0, I) must drown the signal). A VAE's posterior means are near that scale in the
dimensions it uses and much smaller in the ones the KL term switched off, and another
encoder's latents may have any scale. So :meth:`LatentDiffusion.prepare`, which the trainer
calls once before a fresh run's first step (``fit`` and ``genplug train`` alike), measures
the mean and standard deviation of every latent dimension on the whole training split, and
stores them in the config (``latent_mean``, ``latent_std``), which is saved in the
hybrid folder's index ``config.json``. Nothing is learned from them: they are an affine
change of coordinates fixed before the prior's first step.

This is the composition of :func:`genplug.compose` (see :class:`genplug.Composite`) under
its own architecture name, so ``genplug run latent-diffusion`` finds packaged weights and
``genplug.create("latent-diffusion")`` builds one from the packaged VAE.

References:
    Rombach, Blattmann, Lorenz, Esser, Ommer. High-Resolution Image Synthesis with Latent
    Diffusion Models. CVPR 2022. arXiv:2112.10752.
    Vahdat, Kreis, Kautz. Score-based Generative Modeling in Latent Space. NeurIPS 2021.
    arXiv:2106.05931.
    Ho, Jain, Abbeel. Denoising Diffusion Probabilistic Models. NeurIPS 2020.
    arXiv:2006.11239.

Example:
    >>> import genplug, torch
    >>> vae = genplug.create("vae", data_shape=(2,), latent_dim=2)
    >>> prior = genplug.create("diffusion", data_shape=vae.latent_shape, hidden=16, mlp_blocks=1)
    >>> model = LatentDiffusion(LatentDiffusionConfig(steps=4), encoder=vae, prior=prior)
    >>> model.sample(3, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([3, 2])
"""

from __future__ import annotations

import math
import reprlib
from pathlib import Path
from typing import Any, ClassVar

import attrs
import torch

import genplug
from genplug import ConfigError, GenplugError, IncompatibleError
from genplug import validators as v

__all__ = ["DEFAULT_PRIOR", "OUTPUTS", "LatentDiffusion", "LatentDiffusionConfig"]


OUTPUTS = ("draw", "mean")
#: The prior built when none is given: a residual MLP denoiser with v-prediction on the cosine
#: schedule. (ε-prediction on the linear schedule sampled latents with outliers under the
#: ODE samplers; see the README.)
DEFAULT_PRIOR: dict[str, Any] = {
    "hidden": 256,
    "mlp_blocks": 4,
    "prediction_type": "v_prediction",
    "schedule": "cosine",
}


MAX_LATENT = 65_536  # bound on the latent statistics' length, as on a VAE's latent_dim
MAX_STEPS = 100_000  # bound on the default sampler steps, as on a diffusion model's timesteps


def _prior_fields(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """A dict of diffusion config fields without data_shape; the prior's own config checks the values."""
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ConfigError(
            f"LatentDiffusionConfig.prior must be a dict of diffusion config fields, got {reprlib.repr(value)}"
        )
    if "data_shape" in value:
        raise ConfigError(
            "LatentDiffusionConfig.prior must not set data_shape: the prior's data shape is the encoder's "
            f"latent shape; remove data_shape={reprlib.repr(value['data_shape'])}"
        )


def _statistics(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """None, or one finite number per latent dimension (at most MAX_LATENT); latent_std's positive."""
    if value is None:
        return
    where = f"LatentDiffusionConfig.{attribute.name}"
    numbers = isinstance(value, tuple) and all(isinstance(x, float) and math.isfinite(x) for x in value)
    if not numbers or not 1 <= len(value) <= MAX_LATENT:
        raise ConfigError(
            f"{where} must be None or 1 to {MAX_LATENT} finite numbers (one per latent dimension), "
            f"got {reprlib.repr(value)}"
        )
    if attribute.name == "latent_std" and min(value) <= 0:
        raise ConfigError(f"{where} must be positive, got {reprlib.repr(value)}")


def _optional_tuple(value: Any) -> Any:
    """A list of numbers as a tuple of floats; anything else is left for :func:`_statistics` to name."""
    if isinstance(value, (list, tuple)) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
        return tuple(float(x) for x in value)
    return value


@attrs.frozen(kw_only=True)
class LatentDiffusionConfig(genplug.CompositeConfig):
    """The configuration of a :class:`LatentDiffusion` (the composite's fields, and these)."""

    encoder: str = "vae"  # the encoder loaded when none is passed: a reference for genplug.load ("vae": packaged)
    prior: dict[str, Any] = attrs.field(  # diffusion config fields of the prior built when none is passed
        factory=lambda: dict(DEFAULT_PRIOR), validator=_prior_fields
    )
    latent: str = attrs.field(default="sample", validator=v.one_of("sample", "mean"))  # what the prior models:
    # a posterior draw z ~ q(z | x), fresh each batch (the latents the decoder was trained on), or its mean
    output: str = attrs.field(default="draw", validator=v.one_of(*OUTPUTS))  # decode to x ~ p(x | z), or E[x | z]
    sampler: str | None = "unipc"  # the prior's default sampler
    steps: int | None = attrs.field(  # the default number of sampler steps, at most MAX_STEPS
        default=20, validator=attrs.validators.optional(v.in_range(1, MAX_STEPS, integer=True))
    )
    standardize: bool = True  # prepare() measures latent_mean and latent_std on the data when they are unset
    latent_mean: tuple[float, ...] | None = attrs.field(  # per-dimension shift of the latents; None: 0
        default=None, converter=_optional_tuple, validator=_statistics
    )
    latent_std: tuple[float, ...] | None = attrs.field(  # per-dimension scale of the latents; None: 1
        default=None, converter=_optional_tuple, validator=_statistics
    )

    def __attrs_post_init__(self) -> None:
        if (self.latent_mean is None) != (self.latent_std is None):
            raise ConfigError("LatentDiffusionConfig.latent_mean and latent_std: set both together, or neither")
        if self.latent_mean is not None and len(self.latent_mean) != len(self.latent_std or ()):
            raise ConfigError(
                f"LatentDiffusionConfig.latent_mean has {len(self.latent_mean)} values but latent_std has "
                f"{len(self.latent_std or ())}; give one of each per latent dimension"
            )


class LatentDiffusion(genplug.Composite):
    """A frozen encoder (a VAE) and a diffusion prior on its standardised latents.

    Arguments:
        config: a :class:`LatentDiffusionConfig`.
        encoder: an :class:`genplug.Encoder`; default ``genplug.load(config.encoder)``, the
            packaged ``vae``.
        prior: a :class:`genplug.Generator` on the encoder's latents; default a fresh
            ``genplug.create("diffusion", data_shape=encoder.latent_shape, **config.prior)``.

    Raises:
        genplug.IncompatibleError: when the prior's event shape is not the encoder's latent
            shape, or ``config.sampler`` cannot run the prior.
    """

    architecture = "latent-diffusion"
    config_class = LatentDiffusionConfig
    #: The recipe of the packaged weights (scripts/train_default.py), for `genplug train`.
    train_defaults: ClassVar[dict[str, Any]] = {"lr": 1e-3, "batch_size": 128, "steps": 30000, "ema": 0.999}
    #: Small configs for genplug's conformance kit: the packaged VAE and a tiny prior (one of them conditional).
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {"prior": {"hidden": 16, "mlp_blocks": 1, "num_train_timesteps": 100}, "steps": 4},
        {
            "prior": {"hidden": 16, "mlp_blocks": 1, "num_train_timesteps": 100, "prediction_type": "v_prediction"},
            "latent": "mean",
            "output": "mean",
            "sampler": "ddim",
            "steps": 4,
            "latent_mean": (0.0,) * 8,
            "latent_std": (2.0,) * 8,
        },
        {  # a class-conditional prior, with guidance
            "prior": {"hidden": 16, "mlp_blocks": 1, "num_train_timesteps": 100, "classes": 3, "label_dropout": 0.1},
            "steps": 4,
        },
    )

    def __init__(self, config: LatentDiffusionConfig, *, encoder: Any = None, prior: Any = None) -> None:
        if encoder is None:
            encoder = genplug.load(config.encoder)
        if prior is None and hasattr(encoder, "latent_shape"):  # otherwise the composite names what is missing
            prior = genplug.create("diffusion", data_shape=tuple(encoder.latent_shape), **config.prior)
        super().__init__(config, encoder=encoder, prior=prior)
        if config.output == "draw" and not _can_draw(self.encoder):
            raise IncompatibleError(
                f"output='draw' draws x ~ p(x | z) with the encoder's decode_sample(z, generator=...), as "
                f"genplug-vae's VAE has it; the encoder {_name(self.encoder)!r} has not. Use output='mean' "
                "(its decode(z))."
            )
        shape = tuple(self.encoder.latent_shape)
        if config.latent_mean is not None and len(config.latent_mean) != _size(shape):
            raise IncompatibleError(
                f"LatentDiffusionConfig has {len(config.latent_mean)} latent statistics, but the encoder "
                f"{_name(self.encoder)!r} has latents of shape {shape}; measure them again with measure_latents()"
            )
        # Mirrors of the config's statistics that follow the model's device and dtype, set
        # anew whenever the config is (see the config property). Not saved with the weights:
        # the config is where they are stored.
        self.register_buffer("latent_shift", torch.zeros(shape), persistent=False)
        self.register_buffer("latent_scale", torch.ones(shape), persistent=False)
        self._mirror_statistics()

    @property
    def config(self) -> LatentDiffusionConfig:
        """The config; setting it (:meth:`measure_latents`, a resumed ``fit``) sets the
        latent statistics the model applies."""
        return self._config

    @config.setter
    def config(self, value: LatentDiffusionConfig) -> None:
        self._config = value
        if "latent_shift" in self._buffers:  # not yet during __init__
            self._mirror_statistics()

    def _mirror_statistics(self) -> None:
        c, shape = self._config, self.latent_shift.shape
        size = self.latent_shift.numel()
        mean = c.latent_mean if c.latent_mean is not None else (0.0,) * size
        std = c.latent_std if c.latent_std is not None else (1.0,) * size
        self.latent_shift.copy_(torch.tensor(mean).view(shape))
        self.latent_scale.copy_(torch.tensor(std).view(shape))

    # -- the change of coordinates -----------------------------------------------------

    def latent(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """The encoder's latent of ``x`` (``config.latent``: posterior mean or draw), not standardised."""
        return super().encode(x, generator=generator)

    def encode(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """The standardised latent the prior models, ``(B, *latent_shape)``."""
        return (self.latent(x, generator=generator) - self.latent_shift) / self.latent_scale

    def decode(
        self, u: torch.Tensor, *, generator: torch.Generator | None = None, output: str | None = None
    ) -> torch.Tensor:
        """Data from standardised latents ``u``, decoded at z = u * latent_std + latent_mean.

        Arguments:
            u: ``(B, *latent_shape)``.
            generator: seeds the draw from p(x | z).
            output: ``"draw"`` (x ~ p(x | z)) or ``"mean"`` (E[x | z], the encoder's
                ``decode``); default ``config.output``.
        """
        z = u * self.latent_scale + self.latent_shift
        output = output or self.config.output
        if output not in OUTPUTS:
            raise GenplugError(f"output={output!r}; choose 'draw' (x ~ p(x | z)) or 'mean' (E[x | z])")
        if output == "mean":
            return self.encoder.decode(z)
        return self.encoder.decode_sample(z, generator=generator)

    @torch.no_grad()
    def measure_latents(
        self, data: genplug.Data | torch.Tensor | str | Path, *, batch_size: int = 512, seed: int = 0
    ) -> dict[str, tuple[float, ...]]:
        """Set ``latent_mean`` and ``latent_std`` from the latents of ``data``'s train split.

        Arguments:
            data: a dataset name, a path, a :class:`genplug.Data` or a tensor of examples.
            batch_size: examples encoded at once.
            seed: seeds the posterior draws when ``config.latent == "sample"``.

        Returns:
            ``{"latent_mean": ..., "latent_std": ...}``, one value per latent dimension; the
            config and the model now hold them.
        """
        if isinstance(data, torch.Tensor):
            x = data
        else:
            x = (data if isinstance(data, genplug.Data) else genplug.load_data(data, "train")).x
        generator = torch.Generator(self.device).manual_seed(seed)
        was_training = self.encoder.training
        self.encoder.eval()
        try:
            z = torch.cat([self.latent(chunk.to(self.device), generator=generator) for chunk in x.split(batch_size)])
        finally:
            self.encoder.train(was_training)
        z = z.double().flatten(1)  # (N, latent size)
        stats = {
            "latent_mean": tuple(z.mean(0).tolist()),
            "latent_std": tuple(z.std(0).clamp_min(1e-6).tolist()),
        }
        self.config = attrs.evolve(self.config, **stats)  # and the model's mirrors of them
        return stats

    # -- sampling ------------------------------------------------------------------------

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        sampler: str | Any | None = None,
        steps: int | None = None,
        sampler_options: dict[str, Any] | None = None,
        output: str | None = None,
        **condition: Any,
    ) -> torch.Tensor:
        """Draw ``n`` latents from the prior and decode them to ``(n, *event_shape)``.

        Arguments:
            n: the number of samples.
            generator: seeds the prior's sampler, then the draw from p(x | z).
            sampler: a diffusion sampler by name (``ddpm``, ``ddim``, ``dpm-solver++``,
                ``unipc``) or object; default ``config.sampler``.
            steps: sampler steps; default ``config.steps``.
            sampler_options: the sampler's options, e.g. ``{"eta": 0.5}``, and ``guidance``
                (the classifier-free guidance scale) for a class-conditional prior.
            output: ``"draw"`` or ``"mean"``; default ``config.output`` (see :meth:`decode`).
            condition: the prior's conditions: ``label=3`` for a class-conditional prior
                (``prior={"classes": 10, ...}``); the encoder decodes without one.
        """
        u = self.sample_latents(
            n, generator=generator, sampler=sampler, steps=steps, sampler_options=sampler_options, **condition
        )
        return self.decode(u, generator=generator, output=output)

    # -- training ------------------------------------------------------------------------

    def prepare(self, data: genplug.Data) -> None:
        """Measure the latent statistics on the whole training split (when ``standardize`` and
        unset); the trainer calls this once before a fresh run's first step."""
        if self.config.standardize and self.config.latent_mean is None:
            self.measure_latents(data)


def _can_draw(encoder: Any) -> bool:
    return callable(getattr(encoder, "decode_sample", None))


def _size(shape: tuple[int, ...]) -> int:
    size = 1
    for d in shape:
        size *= d
    return size


def _name(obj: Any) -> str:
    return getattr(obj, "architecture", None) or type(obj).__name__
