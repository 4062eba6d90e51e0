"""The ``diffusion`` architecture: a DDPM-style denoising diffusion model.

Training corrupts data x_0 into x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε at a uniformly drawn
timestep and regresses the network's output on ε (``prediction_type="epsilon"``, Ho et
al.'s L_simple) or on v = √ᾱ_t ε - √(1 - ᾱ_t) x_0 (``"v_prediction"``, Salimans & Ho).
Sampling hands the trained denoiser to a sampler (``ddpm``, ``ddim``, ``dpm-solver++``,
``unipc``); the samplers know nothing of the network, only the denoiser interface
documented in :mod:`genplug_diffusion.samplers.base`.

The network is a small UNet for images ``(C, H, W)`` and a residual MLP for vectors; the
data's shape picks one and ``denoiser`` forces it. Images are mapped from [0, 1] to
[-1, 1] before diffusion (``data_center``, ``data_scale``) and back afterwards.

References:
    Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", 2020, arXiv:2006.11239.
    Salimans & Ho, "Progressive Distillation for Fast Sampling of Diffusion Models",
    2022, arXiv:2202.00512.

Example:
    >>> import genplug, torch
    >>> model = genplug.create("diffusion", data_shape=(2,), hidden=32, mlp_blocks=1)
    >>> model.loss(torch.randn(8, 2)).ndim
    0
    >>> model.sample(4, sampler="dpm-solver++", steps=8).shape
    torch.Size([4, 2])
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import attrs
import torch

import genplug
from genplug import ConfigError, GenplugError
from genplug import validators as v
from genplug_diffusion import schedules
from genplug_diffusion.mlp import MLPDenoiser
from genplug_diffusion.samplers.base import randn
from genplug_diffusion.samplers.guidance import Guided
from genplug_diffusion.unet import UNet

__all__ = ["DiffusionConfig", "DiffusionModel", "discretized_gaussian_log_prob"]

DENOISERS = ("auto", "unet", "mlp")
MAX_SIZE = 65_536  # bound on a width, a side or a channel count: far above any real use
MAX_ELEMENTS = 2**24  # bound on the elements of one example (a 4096x4096 image)
MAX_TIMESTEPS = 100_000  # bound on T; the ELBO evaluates the network at every timestep
MAX_BLOCKS = 64  # bound on a count of blocks
MAX_GUIDANCE = 100.0  # bound on the guidance scale: far above the usual 1-10


def _default_mults(config: Any) -> tuple[int, ...]:
    """One level, then one more (twice as wide) per halving while the side stays >= 4."""
    shape = config.data_shape
    if len(shape) != 3 or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        return (1,)  # not an image, or not a shape at all: the validators say which
    side = min(shape[1:])
    levels = 1
    while side % 2**levels == 0 and side // 2**levels >= 4:
        levels += 1
    return (1,) + (2,) * (levels - 1)


def _is_image(config: Any) -> bool:
    return len(config.data_shape) == 3


@attrs.frozen(kw_only=True)
class DiffusionConfig:
    """The configuration of a ``diffusion`` model.

    Sizes are bounded far above any real use (``MAX_SIZE`` and the others above), so
    that a crafted ``config.json`` is refused before anything is allocated.
    """

    # one example: (C, H, W) or (D,); each side at most MAX_SIZE, and at most MAX_ELEMENTS elements in all
    data_shape: tuple[int, ...] = attrs.field(default=(1, 8, 8), converter=tuple, validator=v.shape)
    denoiser: str = attrs.field(default="auto", validator=v.one_of(*DENOISERS))  # auto: unet for (C, H, W), else mlp
    prediction_type: str = attrs.field(default="epsilon", validator=v.one_of(*schedules.PREDICTION_TYPES))  # ε or v
    schedule: str = attrs.field(  # noise schedule of β_t: cosine for images (better at low resolution), else linear
        default=attrs.Factory(lambda c: "cosine" if _is_image(c) else "linear", takes_self=True),
        validator=v.one_of(*schedules.SCHEDULES),
    )
    num_train_timesteps: int = attrs.field(  # T, the diffusion steps, in [2, MAX_TIMESTEPS]
        default=1000, validator=v.in_range(2, MAX_TIMESTEPS, integer=True)
    )
    beta_start: float = attrs.field(  # first β of the linear schedule, in (0, 1)
        default=1e-4, validator=v.in_range(0, 1, open_low=True, open_high=True)
    )
    beta_end: float = attrs.field(  # last β of the linear schedule, in (0, 1): β >= 1 makes NaN samples
        default=0.02, validator=v.in_range(0, 1, open_low=True, open_high=True)
    )
    channels: int = attrs.field(
        default=32, validator=v.in_range(1, MAX_SIZE, integer=True)
    )  # UNet: width of the first level
    # UNet: width multiplier per level; default halves to 4x4; the widest level has at most MAX_SIZE channels
    channel_mults: tuple[int, ...] = attrs.field(
        default=attrs.Factory(_default_mults, takes_self=True), converter=tuple
    )
    res_blocks: int = attrs.field(
        default=1, validator=v.in_range(1, MAX_BLOCKS, integer=True)
    )  # UNet: residual blocks per level
    attention_heads: int = attrs.field(  # UNet: heads of the middle attention; they divide its width
        default=4, validator=v.in_range(1, MAX_SIZE, integer=True)
    )
    dropout: float = attrs.field(default=0.0, validator=v.fraction)  # UNet: dropout in the residual blocks
    hidden: int = attrs.field(
        default=128, validator=v.in_range(1, MAX_SIZE, integer=True)
    )  # MLP: width of the residual stream
    mlp_blocks: int = attrs.field(default=3, validator=v.in_range(1, MAX_BLOCKS, integer=True))  # MLP: residual blocks
    data_center: float = attrs.field(  # subtracted from data before diffusion: 0.5 for images, else 0
        default=attrs.Factory(lambda c: 0.5 if _is_image(c) else 0.0, takes_self=True), validator=v.finite
    )
    data_scale: float = attrs.field(  # then divided by this: 0.5 for images (to [-1, 1]), else 1
        default=attrs.Factory(lambda c: 0.5 if _is_image(c) else 1.0, takes_self=True), validator=v.positive
    )
    clip_sample: float | None = attrs.field(  # samplers clip x̂_0 to ±this by default: 1 for images, else None
        default=attrs.Factory(lambda c: 1.0 if _is_image(c) else None, takes_self=True),
        validator=attrs.validators.optional(v.positive),
    )
    # discrete data: the values k / (levels - 1) in [0, 1] of each dimension (digits: 17), at most MAX_SIZE;
    # log_prob is then a bound on their probability (a discretised decoder). None: continuous data, a density
    levels: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(v.in_range(2, MAX_SIZE, integer=True))
    )
    # > 0: class-conditional, labels 0 … classes-1 (condition `label`; digits: 10); 0: unconditional
    classes: int = attrs.field(default=0, validator=v.in_range(0, MAX_SIZE, integer=True))
    # training: the fraction of labels replaced by the null label, so the model also learns the
    # unconditional prediction that classifier-free guidance needs (0.1-0.2 is usual); needs classes > 0
    label_dropout: float = attrs.field(default=0.0, validator=v.fraction)
    # sampling with a label: the default classifier-free guidance scale (1: none); != 1 needs label_dropout > 0
    guidance: float = attrs.field(default=1.0, validator=v.in_range(0, MAX_GUIDANCE))

    def __attrs_post_init__(self) -> None:
        if self.label_dropout and not self.classes:
            raise ConfigError(
                f"DiffusionConfig.label_dropout={self.label_dropout} needs a class-conditional model; "
                "set classes (10 for digits) or leave label_dropout at 0"
            )
        if self.guidance != 1 and not self.label_dropout:
            raise ConfigError(
                f"DiffusionConfig.guidance={self.guidance} needs label_dropout > 0 (guidance mixes in the "
                "unconditional prediction that label dropout trains); set label_dropout=0.1 or guidance=1"
            )
        if max(self.data_shape) > MAX_SIZE or math.prod(self.data_shape) > MAX_ELEMENTS:
            raise ConfigError(
                f"DiffusionConfig.data_shape={self.data_shape!r} is too large: each side must be at most "
                f"{MAX_SIZE} and one example at most {MAX_ELEMENTS} elements"
            )
        if self.resolved_denoiser == "unet":
            if len(self.data_shape) != 3:
                raise ConfigError(
                    f"DiffusionConfig.denoiser='unet' needs images (C, H, W), but data_shape={self.data_shape}; "
                    "use denoiser='mlp' or 'auto'"
                )
            mults = self.channel_mults
            if not mults or any(isinstance(m, bool) or not isinstance(m, int) or m <= 0 for m in mults):
                raise ConfigError(f"DiffusionConfig.channel_mults={mults!r} must be positive integers")
            if len(mults) > MAX_BLOCKS or self.channels * max(mults) > MAX_SIZE:
                raise ConfigError(
                    f"DiffusionConfig.channel_mults={mults!r} with channels={self.channels} is too wide or too deep: "
                    f"at most {MAX_BLOCKS} levels and channels * max(channel_mults) <= {MAX_SIZE}"
                )
            factor = 2 ** (len(mults) - 1)
            if self.data_shape[1] % factor or self.data_shape[2] % factor:
                raise ConfigError(
                    f"DiffusionConfig.channel_mults: {len(mults)} UNet levels halve the image {factor}x, but "
                    f"{self.data_shape[1]}x{self.data_shape[2]} is not divisible by {factor}; use fewer channel_mults"
                )
            width = self.channels * mults[-1]
            if width % self.attention_heads:
                raise ConfigError(
                    f"DiffusionConfig.attention_heads={self.attention_heads} must divide the lowest level's "
                    f"width channels * channel_mults[-1] = {width}"
                )

    @property
    def resolved_denoiser(self) -> str:
        """``"unet"`` or ``"mlp"``: ``denoiser``, with ``"auto"`` decided by the data's shape."""
        if self.denoiser != "auto":
            return self.denoiser
        return "unet" if len(self.data_shape) == 3 else "mlp"


class DiffusionModel(genplug.Model):
    """A denoising diffusion model: the network, its noise schedule, loss, sampling and ELBO.

    It is also a *denoiser* (``prediction_type``, ``time``, ``num_train_timesteps``,
    ``alphas_cumprod``, ``predict``), which is all a sampler needs.
    """

    architecture = "diffusion"
    config_class = DiffusionConfig
    log_prob_kinds = ("elbo",)
    time: ClassVar[str] = "discrete"  # predict takes integer timesteps 0 … T-1
    train_defaults: ClassVar[dict[str, Any]] = {"lr": 1e-3, "batch_size": 128, "steps": 6000, "ema": 0.999}
    #: Small configs for genplug's conformance kit: a UNet with ε on discrete images, an MLP with v and the
    #: cosine schedule on continuous points, and a class-conditional UNet with label dropout.
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {
            "data_shape": (1, 8, 8),
            "channels": 8,
            "res_blocks": 1,
            "attention_heads": 2,
            "num_train_timesteps": 100,
            "levels": 17,
        },
        {
            "data_shape": (2,),
            "hidden": 16,
            "mlp_blocks": 1,
            "prediction_type": "v_prediction",
            "schedule": "cosine",
            "num_train_timesteps": 100,
        },
        {
            "data_shape": (1, 8, 8),
            "channels": 8,
            "attention_heads": 2,
            "num_train_timesteps": 100,
            "levels": 17,
            "classes": 3,
            "label_dropout": 0.1,
            "guidance": 2.0,
        },
    )

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__(config)
        betas = schedules.betas(config.schedule, config.num_train_timesteps, config.beta_start, config.beta_end)
        # derived from the config, so not saved with the weights
        self.register_buffer("alphas_cumprod", schedules.alphas_cumprod(betas), persistent=False)
        self.net = self.build_net(config)

    def build_net(self, config: DiffusionConfig) -> torch.nn.Module:
        """The network behind :meth:`predict`: ``net(x_t, t)`` or ``net(x_t, t, label)`` gives
        ε or v of ``x_t``'s shape, the label ``classes`` being the null label. A subclass
        composes another network in by overriding this (genplug-hybrid's ``dit``: a transformer)."""
        if config.resolved_denoiser == "unet":
            return UNet(
                in_channels=config.data_shape[0],
                channels=config.channels,
                mults=config.channel_mults,
                blocks=config.res_blocks,
                heads=config.attention_heads,
                dropout=config.dropout,
                classes=config.classes,
            )
        return MLPDenoiser(math.prod(config.data_shape), config.hidden, config.mlp_blocks, config.classes)

    @property
    def conditions(self) -> dict[str, genplug.Condition]:
        """``{"label": ...}`` for a class-conditional model (``classes`` > 0), else ``{}``."""
        if not self.config.classes:
            return {}
        return {"label": genplug.Condition("class", classes=self.config.classes, description="the class to draw")}

    @property
    def log_prob_discrete(self) -> bool:  # type: ignore[override]
        """Whether :meth:`log_prob` bounds a probability of discrete data (``levels`` set), not a density."""
        return self.config.levels is not None

    def conformance_batch(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Test data for genplug.testing: values on the grid k / (levels - 1) when ``levels`` is set."""
        shape = (n, *self.config.data_shape)
        if self.config.levels is None:
            return torch.rand(shape, generator=generator)
        steps = self.config.levels - 1
        return torch.randint(0, steps + 1, shape, generator=generator).float() / steps

    # -- the denoiser interface ------------------------------------------------------

    @property
    def prediction_type(self) -> str:
        """``"epsilon"`` or ``"v_prediction"``: what :meth:`predict` returns."""
        return self.config.prediction_type

    @property
    def num_train_timesteps(self) -> int:
        """T, the number of diffusion steps the model was trained with."""
        return self.config.num_train_timesteps

    @property
    def clip_sample(self) -> float | None:
        """The bound samplers clip x̂_0 to unless told otherwise (``None``: no clipping)."""
        return self.config.clip_sample

    @property
    def dtype(self) -> torch.dtype:
        """The floating dtype of the weights; samplers draw x_T in it."""
        for tensor in self.parameters():
            return tensor.dtype
        return torch.float32

    def predict(self, x_t: torch.Tensor, t: torch.Tensor | int, label: torch.Tensor | None = None) -> torch.Tensor:
        """The network's prediction (ε or v) for ``x_t`` at integer timesteps ``t`` (``()`` or ``(B,)``).

        ``label`` (``(B,)`` int64, checked by the caller) conditions a class-conditional
        model; ``None`` is its null label, the unconditional prediction.
        """
        t = torch.as_tensor(t, device=x_t.device)
        if t.ndim == 0:
            t = t.expand(x_t.shape[0])
        if label is None:
            return self.net(x_t, t)
        return self.net(x_t, t, label)

    # -- data space <-> diffusion space ------------------------------------------------

    def to_diffusion_space(self, x: torch.Tensor) -> torch.Tensor:
        """Data -> the space the diffusion runs in (images: [0, 1] -> [-1, 1])."""
        return (x - self.config.data_center) / self.config.data_scale

    def to_data_space(self, z: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`to_diffusion_space`; images are clamped to [0, 1]."""
        x = z * self.config.data_scale + self.config.data_center
        return x.clamp(0.0, 1.0) if len(self.event_shape) == 3 else x

    # -- training ------------------------------------------------------------------------

    def loss(
        self, batch: torch.Tensor, *, generator: torch.Generator | None = None, label: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The mean squared error of the prediction at uniformly drawn timesteps (L_simple).

        A class-conditional model takes the batch's labels (``(B,)``; the trainer passes
        the data's); ``label_dropout`` of them, drawn from ``generator``, become the null
        label. Without labels it trains the unconditional prediction only.
        """
        label = self.labels(label, batch.shape[0])
        x0 = self.to_diffusion_space(batch)
        t = torch.randint(
            0,
            self.num_train_timesteps,
            (x0.shape[0],),
            generator=generator,
            device=generator.device if generator is not None else x0.device,
        ).to(x0.device)
        noise = randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        a = schedules.append_dims(self.alphas_cumprod[t], x0.ndim)
        alpha, sigma = a.sqrt(), (1 - a).sqrt()
        x_t = alpha * x0 + sigma * noise
        target = schedules.training_target(self.prediction_type, x0, noise, alpha, sigma)
        if label is not None and self.config.label_dropout:
            source = generator.device if generator is not None else x0.device
            dropped = torch.rand(x0.shape[0], generator=generator, device=source).to(x0.device)
            label = torch.where(dropped < self.config.label_dropout, self.config.classes, label)  # the null label
        prediction = self.predict(x_t, t) if label is None else self.predict(x_t, t, label)
        return torch.nn.functional.mse_loss(prediction, target)

    # -- conditions ----------------------------------------------------------------------

    def labels(self, label: Any, n: int) -> torch.Tensor | None:
        """``label`` (one int, or one per example) as ``(n,)`` int64 on the model's device, checked."""
        if label is None:
            return None
        if not self.config.classes:
            raise GenplugError(
                f"model {self.architecture!r} is unconditional; it takes no label (train one with "
                "--config classes=10 label_dropout=0.1 on labelled data)"
            )
        label = torch.as_tensor(label, device=self.device).long().flatten()
        label = label.expand(n) if label.numel() == 1 else label
        if label.shape != (n,):
            raise GenplugError(f"label: {label.numel()} labels for {n} samples; give one label, or one per sample")
        if ((label < 0) | (label >= self.config.classes)).any():
            bad = int(label[(label < 0) | (label >= self.config.classes)][0])
            raise GenplugError(
                f"label={bad} is out of range: model {self.architecture!r} takes labels 0 to {self.config.classes - 1}"
            )
        return label

    def guided(self, label: Any, n: int, guidance: Any = None) -> Any:
        """The denoiser to sample ``n`` examples of class ``label`` with guidance scale ``guidance``:
        the model itself for unconditional sampling (``label=None``), else a :class:`Guided`
        around it (``guidance`` ``None``: the config's default scale). Bad combinations are
        refused with one line: a label out of range or for an unconditional model, guidance
        without a label, guidance != 1 on a model trained without label dropout.
        """
        labels = self.labels(label, n)
        if guidance is not None:
            number = isinstance(guidance, (int, float)) and not isinstance(guidance, bool)
            if not number or not 0 <= guidance <= MAX_GUIDANCE:
                raise GenplugError(f"guidance={guidance!r}: the guidance scale is a number from 0 to {MAX_GUIDANCE:g}")
            if not self.config.classes:
                raise GenplugError(
                    f"guidance: model {self.architecture!r} is unconditional; classifier-free guidance needs a "
                    "class-conditional model trained with label dropout"
                )
            if guidance != 1 and not self.config.label_dropout:
                raise GenplugError(
                    f"guidance={guidance:g}: model {self.architecture!r} was trained without label dropout "
                    "(label_dropout=0), so it has no unconditional prediction to guide with; leave guidance out "
                    "(or 1), or train with --config label_dropout=0.1"
                )
            if labels is None:
                raise GenplugError(f"guidance={guidance:g} needs a label (--label K): it guides towards a class")
        if labels is None:
            return self
        return Guided(self, labels, self.config.guidance if guidance is None else guidance)

    # -- sampling ------------------------------------------------------------------------

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        sampler: str | Any = "ddim",
        steps: int | None = None,
        sampler_options: dict[str, Any] | None = None,
        label: Any = None,
    ) -> torch.Tensor:
        """``n`` samples ``(n, *event_shape)`` in data space (images in [0, 1]).

        Arguments:
            n: how many samples.
            generator: seeds the initial noise and any noise the sampler adds.
            sampler: a registered sampler name (``ddim``, ``ddpm``, ``dpm-solver++``,
                ``unipc``, ...) or a sampler object.
            steps: the number of sampling steps; the sampler's default if ``None``.
            sampler_options: options of a sampler given by name, e.g. ``{"eta": 0.5}``, and
                ``guidance``, the classifier-free guidance scale, for any sampler.
            label: a class-conditional model's class (one int, or one per sample);
                ``None`` samples unconditionally (the null label).
        """
        options = dict(sampler_options or {})
        denoiser = self.guided(label, n, options.pop("guidance", None))
        chosen = genplug.get_sampler(sampler, self, **options)
        was_training = self.training
        self.eval()
        try:
            z = chosen(denoiser, n, steps=steps, generator=generator)
        finally:
            self.train(was_training)
        return self.to_data_space(z)

    # -- likelihood ----------------------------------------------------------------------

    @torch.no_grad()
    def log_prob(
        self,
        x: torch.Tensor,
        *,
        kind: str | None = None,
        generator: torch.Generator | None = None,
        label: Any = None,
    ) -> torch.Tensor:
        """A lower bound on log p(x) in nats per example: the variational bound (ELBO).

        The bound of Ho et al., eq. 5, for the reverse process with the posterior
        variances β̃_t (the ``ddpm`` sampler's), summed over all T timesteps with one
        draw of x_t per timestep; the draw makes it an unbiased estimate of the bound.
        The decoder p(x_0 | x_1) at the last step has mean x̂_0 and variance β_0:

        - with ``levels`` set (discrete data k / (levels - 1)), it is Ho et al.'s
          discretised Gaussian (their eq. 13): each dimension gets the Gaussian's mass
          of the bin around its value, the outer bins reaching to ±∞, so the bound is on
          the *probability* of the discrete data (at most 0, and no change of variables);
        - with ``levels=None``, it is the Gaussian density N(x_0; x̂_0, β_0), a bound on
          a density, with the change of variables to diffusion space (``data_scale``).

        Arguments:
            x: data ``(B, *event_shape)``.
            kind: ``"elbo"`` (the only kind) or ``None``.
            generator: seeds the draws of x_t.
            label: a class-conditional model's labels of ``x``: the bound on log p(x | y);
                ``None``: the bound of the unconditional model (the null label).
        """
        if kind not in (None, "elbo"):
            raise GenplugError(f"diffusion log_prob computes kind 'elbo' only, got kind={kind!r}")
        was_training = self.training
        self.eval()
        try:
            return self._elbo(x, generator, self.labels(label, x.shape[0]))
        finally:
            self.train(was_training)

    def _elbo(self, x: torch.Tensor, generator: torch.Generator | None, label: torch.Tensor | None) -> torch.Tensor:
        levels = self.config.levels
        if levels is not None:
            _check_on_grid(x, levels)
        x0 = self.to_diffusion_space(x).to(self.dtype)
        B, D = x0.shape[0], x0[0].numel()
        a = self.alphas_cumprod.double()
        a_prev = torch.cat([a.new_ones(1), a[:-1]])
        beta = 1 - a / a_prev
        T = self.num_train_timesteps

        # L_T: KL(q(x_T | x_0) || N(0, I)), in closed form
        aT = a[-1]
        kl_prior = 0.5 * (aT * x0.double().pow(2) + (1 - aT) - 1 - torch.log(1 - aT)).flatten(1).sum(1)

        # L_{t-1} (t >= 1): KL between Gaussians of equal variance β̃_t, ||μ̃(x_0) - μ̃(x̂_0)||² / 2β̃_t;
        # L_0: -log p(x_0 | x_1), the discretised decoder's mass (levels set) or -log N(x_0; x̂_0, β_0),
        # whose quadratic part rides along with the KL terms as timestep 0's weight 1/2β_0.
        # Evaluated in chunks of timesteps to batch the network.
        weight = a_prev.sqrt() * beta / (1 - a)  # μ̃'s coefficient of x_0
        var = (1 - a_prev) / (1 - a) * beta  # β̃_t
        decoder_weight = 0.0 if levels is not None else 1 / (2 * beta[0])
        weight_over_var = torch.where(
            torch.arange(T, device=a.device) > 0, weight**2 / (2 * var.clamp_min(1e-30)), decoder_weight
        )
        total = kl_prior
        if levels is None:
            total = total + 0.5 * D * torch.log(2 * math.pi * beta[0])
        chunk = max(1, 4096 // B)
        for start in range(0, T, chunk):
            t = torch.arange(start, min(start + chunk, T), device=x0.device)
            k = t.shape[0]
            x0_rep = x0.repeat(k, *([1] * (x0.ndim - 1)))  # (k·B, ...), timestep-major
            t_rep = t.repeat_interleave(B)
            noise = randn(x0_rep.shape, generator=generator, device=x0.device, dtype=x0.dtype)
            a_t = schedules.append_dims(self.alphas_cumprod[t_rep], x0.ndim)
            x_t = a_t.sqrt() * x0_rep + (1 - a_t).sqrt() * noise
            x0_x, x0_pred = _x0_coefficients(a_t, self.prediction_type)
            if label is None:
                prediction = self.predict(x_t, t_rep)
            else:
                prediction = self.predict(x_t, t_rep, label.repeat(k))  # timestep-major, as x0_rep
            x0_hat = x0_x * x_t + x0_pred * prediction
            err = (x0_rep - x0_hat).double().pow(2).flatten(1).sum(1).view(k, B)  # (k, B)
            total = total + (weight_over_var[t][:, None] * err).sum(0)
            if levels is not None and start == 0:  # rows 0 … B-1 are timestep 0
                half_width = 1 / (2 * (levels - 1) * self.config.data_scale)  # half a bin, in diffusion space
                index = (x.double() * (levels - 1)).round().long().to(x0.device)
                decoder = discretized_gaussian_log_prob(
                    x0.double(), x0_hat[:B].double(), beta[0].sqrt(), index=index, levels=levels, half_width=half_width
                )
                total = total - decoder.flatten(1).sum(1)
        if levels is not None:
            return (-total).to(x0.dtype)  # a probability: no change of variables
        return (-total - D * math.log(self.config.data_scale)).to(x0.dtype)


def discretized_gaussian_log_prob(
    x: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor | float,
    *,
    index: torch.Tensor,
    levels: int,
    half_width: float,
) -> torch.Tensor:
    """log P(bin of x) under N(mean, std²), element-wise: Ho et al.'s discretised decoder.

    Bin k of ``levels`` is [x - half_width, x + half_width], except that the first
    (``index == 0``) reaches down to -∞ and the last (``index == levels - 1``) up to +∞,
    so the masses of all levels sum to 1. With a = (lower - mean) / std and
    b = (upper - mean) / std the mass is Φ(b) - Φ(a), computed as
    log Φ(b) + log(1 - exp(log Φ(a) - log Φ(b))) with ``log_ndtr``, after reflecting
    (a, b) -> (-b, -a) when the bin lies right of the mean, so that both ends sit in
    the lower tail where log Φ is accurate. The outer bins reduce to log Φ(b) and the
    log-survival log Φ(-a), the tails of Ho et al.'s ``discretized_gaussian_log_likelihood``,
    here without its 1e-12 floor or its tanh approximation of Φ.

    Arguments:
        x: values on the grid, in the space of ``mean`` (e.g. diffusion space [-1, 1]).
        mean: the decoder's mean, broadcastable to ``x``.
        std: the decoder's standard deviation (a scalar).
        index: the level k of each value of ``x``, 0 … levels - 1.
        levels: the number of levels.
        half_width: half a bin in the space of ``x``: 1 / (levels - 1) in [-1, 1].

    References:
        Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", 2020,
        arXiv:2006.11239, eq. 13.
    """
    inf = torch.tensor(math.inf, dtype=x.dtype, device=x.device)
    lower = torch.where(index <= 0, -inf, x - half_width)
    upper = torch.where(index >= levels - 1, inf, x + half_width)
    a, b = (lower - mean) / std, (upper - mean) / std
    right = a + b > 0  # the bin's middle is right of the mean: use the survival function instead
    a, b = torch.where(right, -b, a), torch.where(right, -a, b)
    log_b, log_a = torch.special.log_ndtr(b), torch.special.log_ndtr(a)
    return log_b + torch.log(-torch.expm1(log_a - log_b))


def _check_on_grid(x: torch.Tensor, levels: int) -> None:
    """Refuse data that is not on the grid k / (levels - 1), k = 0 … levels - 1."""
    scaled = x.double() * (levels - 1)
    off = (scaled - scaled.round()).abs().max() if x.numel() else 0.0
    if x.numel() and (off > 1e-3 or scaled.round().min() < 0 or scaled.round().max() > levels - 1):
        raise GenplugError(
            f"diffusion log_prob with levels={levels} needs data whose values are k/{levels - 1} in [0, 1]; got "
            f"values in [{float(x.min()):.4g}, {float(x.max()):.4g}] up to {float(off) / (levels - 1):.3g} off "
            "that grid. Set levels to the data's number of values (256 for 8-bit images), or levels=None for "
            "continuous data"
        )


def _x0_coefficients(a_t: torch.Tensor, prediction_type: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Tensor form of :func:`schedules.prediction_coefficients`' x̂_0 part."""
    alpha, sigma = a_t.sqrt(), (1 - a_t).sqrt()
    if prediction_type == "epsilon":
        return 1 / alpha, -sigma / alpha
    return alpha, -sigma
