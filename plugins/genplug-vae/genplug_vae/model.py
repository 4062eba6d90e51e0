"""The variational autoencoder (``vae``): a diagonal-Gaussian posterior q(z | x), a standard
normal prior p(z) and a decoder likelihood p(x | z) chosen in the config.

Notation:

==============  ==============================================================
``x``           an example in data space, ``(B, *data_shape)``
``z``           a latent vector, ``(B, latent_dim)``
``mean, scale`` the posterior q(z | x) = N(mean, diag(scale^2))
``log_px``      log p(x | z), the decoder likelihood, summed over dimensions
``kl``          KL(q(z | x) || N(0, I)), in closed form
``log_w``       an importance weight log p(x | z) + log p(z) - log q(z | x)
==============  ==============================================================

A conditional VAE (``classes`` > 0; Sohn et al.) gives both networks the class label y as
a one-hot vector: q(z | x, y) and p(x | z, y), so ``sample(n, label=3)`` draws threes.
``label_dropout`` replaces a fraction of the training labels by the null label (all zeros),
so the same networks also work without a label: ``encode(x)`` and ``decode(z)`` without
one use the null label (as a hybrid's frozen encoder does). Without a label, ``sample``
draws the labels uniformly from the classes, stratified (``genplug.Condition.draw_labels``:
every class equally often, shuffled), to sample the model's marginal p(x) = Σ_y p(y) p(x | y)
and ``log_prob`` bounds that mixture: log Σ_y p(y) exp(bound_y) ≤ log p(x).

Training maximises the beta-weighted ELBO, E_q[log p(x | z)] - beta_t KL, where beta_t
grows linearly from 0 to ``beta`` over ``warmup_steps`` (KL warm-up). ``log_prob`` reports
two lower bounds on log p(x): the ELBO (eq. 3 of Kingma & Welling) and the k-sample
importance-weighted bound (eq. 8 of Burda et al.), which is never looser in expectation
and tightens as k grows.

References:
    Kingma, Welling. Auto-Encoding Variational Bayes. ICLR 2014. arXiv:1312.6114.
    Rezende, Mohamed, Wierstra. Stochastic Backpropagation and Approximate Inference in
    Deep Generative Models. ICML 2014. arXiv:1401.4082.
    Burda, Grosse, Salakhutdinov. Importance Weighted Autoencoders. ICLR 2016.
    arXiv:1509.00519.
    Higgins et al. beta-VAE: Learning Basic Visual Concepts with a Constrained Variational
    Framework. ICLR 2017.
    Bowman et al. Generating Sentences from a Continuous Space. CoNLL 2016.
    arXiv:1511.06349 (KL warm-up).
    Sohn, Lee, Yan. Learning Structured Output Representation using Deep Conditional
    Generative Models. NeurIPS 2015 (the conditional VAE).
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import torch
import torch.nn.functional as F

import genplug
from genplug import ConfigError, GenplugError
from genplug import validators as v
from genplug_vae.likelihoods import NAMES as LIKELIHOODS
from genplug_vae.likelihoods import make_likelihood
from genplug_vae.networks import MLP, ConvDecoder, ConvEncoder

__all__ = ["OUTPUTS", "VAE", "VAEConfig"]

MIN_POSTERIOR_SCALE = 1e-4  # keeps log q(z | x) finite
OUTPUTS = ("draw", "mean")
MAX_SIZE = 65_536  # bound on a width, a side or a latent size: far above any real use
MAX_ELEMENTS = 2**24  # bound on the elements of one example (a 4096x4096 image)
MAX_DEPTH = 64  # bound on a count of layers
MAX_DOWNSAMPLES = 16  # 2**16 = MAX_SIZE: more halvings than any side allows


@attrs.frozen(kw_only=True)
class VAEConfig:
    """The configuration of a :class:`VAE`; every field is saved in ``config.json``.

    Sizes are bounded far above any real use (``MAX_SIZE`` and the others above), so
    that a crafted ``config.json`` is refused before anything is allocated.
    """

    # (C, H, W) images or (D,) vectors; each side at most MAX_SIZE, at most MAX_ELEMENTS elements in all
    data_shape: tuple[int, ...] = attrs.field(default=(1, 8, 8), converter=tuple, validator=v.shape)
    latent_dim: int = attrs.field(
        default=8, validator=v.in_range(1, MAX_SIZE, integer=True)
    )  # size of the latent vector z
    network: str = attrs.field(default="auto", validator=v.one_of("auto", "conv", "mlp"))  # auto: conv for (C, H, W)
    hidden: int = attrs.field(  # conv: first-stage channels (doubled per downsample); the last stage's <= MAX_SIZE
        default=8, validator=v.in_range(1, MAX_SIZE, integer=True)
    )
    downsamples: int = attrs.field(
        default=2, validator=v.in_range(0, MAX_DOWNSAMPLES, integer=True)
    )  # conv: stride-2 stages
    mlp_hidden: int = attrs.field(
        default=64, validator=v.in_range(1, MAX_SIZE, integer=True)
    )  # width of the fully connected layers
    mlp_depth: int = attrs.field(  # mlp network: hidden layers in encoder and decoder
        default=2, validator=v.in_range(1, MAX_DEPTH, integer=True)
    )
    dropout: float = attrs.field(default=0.0, validator=v.fraction)  # dropout on the fully connected hidden layers
    likelihood: str = attrs.field(default="auto", validator=v.one_of("auto", *LIKELIHOODS))  # auto: see likelihood_name
    levels: int = attrs.field(  # logistic: values k/(levels-1); 8-bit: 256; at most MAX_SIZE (16-bit)
        default=17, validator=v.in_range(2, MAX_SIZE, integer=True)
    )
    min_scale: float = attrs.field(default=1e-3, validator=v.positive)  # gaussian: floor on the decoder's std
    beta: float = attrs.field(default=1.0, validator=v.positive)  # weight of the KL term in the training loss
    warmup_steps: int = attrs.field(default=0, validator=v.at_least(0))  # KL weight rises 0 -> beta over these
    output: str = attrs.field(default="draw", validator=v.one_of(*OUTPUTS))  # sample(): a draw or the decoder mean
    iwae_k: int = attrs.field(  # importance samples of log_prob(kind="iwae"), at most 100_000
        default=100, validator=v.in_range(1, 100_000)
    )
    # > 0: conditional, labels 0 … classes-1 into encoder and decoder (condition `label`; digits: 10)
    classes: int = attrs.field(default=0, validator=v.in_range(0, MAX_SIZE, integer=True))
    # training: the fraction of labels replaced by the null label, so encode/decode also work without one
    label_dropout: float = attrs.field(default=0.0, validator=v.fraction)

    def __attrs_post_init__(self) -> None:
        if self.label_dropout and not self.classes:
            raise ConfigError(
                f"VAEConfig.label_dropout={self.label_dropout} needs a conditional VAE; set classes (10 for "
                "digits) or leave label_dropout at 0"
            )
        if max(self.data_shape) > MAX_SIZE or math.prod(self.data_shape) > MAX_ELEMENTS:
            raise ConfigError(
                f"VAEConfig.data_shape={self.data_shape!r} is too large: each side must be at most {MAX_SIZE} "
                f"and one example at most {MAX_ELEMENTS} elements"
            )
        if self.network_name == "conv":
            if len(self.data_shape) != 3:
                raise ConfigError(
                    f"VAEConfig.network='conv' needs images (C, H, W), got data_shape={self.data_shape}; "
                    "use network='mlp'"
                )
            factor = 2**self.downsamples
            if self.data_shape[1] % factor or self.data_shape[2] % factor:
                raise ConfigError(
                    f"VAEConfig.downsamples={self.downsamples} needs H and W divisible by {factor}, got "
                    f"data_shape={self.data_shape}; lower downsamples"
                )
            if self.hidden * factor > MAX_SIZE:
                raise ConfigError(
                    f"VAEConfig.hidden={self.hidden} doubled over {self.downsamples} downsamples is "
                    f"{self.hidden * factor} channels, more than {MAX_SIZE}; lower hidden or downsamples"
                )

    @property
    def is_image(self) -> bool:
        return len(self.data_shape) == 3

    @property
    def network_name(self) -> str:
        """``conv`` for images, ``mlp`` for everything else, unless ``network`` says otherwise."""
        if self.network != "auto":
            return self.network
        return "conv" if self.is_image else "mlp"

    @property
    def likelihood_name(self) -> str:
        """``logistic`` (discrete values in [0, 1]) for images, ``gaussian`` for vectors, unless set."""
        if self.likelihood != "auto":
            return self.likelihood
        return "logistic" if self.is_image else "gaussian"


class VAE(genplug.Model):
    """A VAE with a diagonal-Gaussian posterior; a ``Generator`` and an ``Encoder``.

    Arguments:
        config: a :class:`VAEConfig`.

    Example:
        >>> model = VAE(VAEConfig(data_shape=(2,), latent_dim=2))
        >>> model.sample(3, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([3, 2])
        >>> model.encode(torch.zeros(3, 2)).mean.shape
        torch.Size([3, 2])
    """

    architecture = "vae"
    config_class = VAEConfig
    log_prob_kinds = ("elbo", "iwae")
    train_defaults = {"lr": 1e-3, "batch_size": 128, "steps": 6000, "ema": 0.999}
    # Small configs for genplug.testing's contract; conformance_batch gives it data on the
    # discretized logistic's grid.
    conformance_configs = (
        {"data_shape": (1, 8, 8), "latent_dim": 4, "hidden": 4, "mlp_hidden": 16},
        {"data_shape": (1, 8, 8), "latent_dim": 4, "hidden": 4, "mlp_hidden": 16, "likelihood": "bernoulli"},
        {"data_shape": (1, 8, 8), "latent_dim": 4, "network": "mlp", "mlp_hidden": 16, "likelihood": "gaussian"},
        {"data_shape": (2,), "latent_dim": 2, "mlp_hidden": 16},
        {"data_shape": (1, 8, 8), "latent_dim": 4, "hidden": 4, "mlp_hidden": 16, "classes": 3, "label_dropout": 0.1},
    )

    def conformance_batch(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Test data for genplug.testing: uniform values on the likelihood's grid k / (levels - 1)."""
        shape = (n, *self.config.data_shape)
        if self.config.likelihood_name == "logistic":
            steps = self.config.levels - 1
            return torch.randint(0, steps + 1, shape, generator=generator).float() / steps
        return torch.rand(shape, generator=generator)

    def __init__(self, config: VAEConfig) -> None:
        super().__init__(config)
        c = config
        self.likelihood = make_likelihood(c.likelihood_name, levels=c.levels, min_scale=c.min_scale)
        n_params = self.likelihood.n_params
        if c.network_name == "conv":
            channels, height, width = c.data_shape
            self.encoder = ConvEncoder(
                channels, height, width, c.hidden, c.downsamples, c.mlp_hidden, 2 * c.latent_dim, c.dropout, c.classes
            )
            self.decoder = ConvDecoder(
                c.latent_dim,
                height,
                width,
                c.hidden,
                c.downsamples,
                c.mlp_hidden,
                n_params * channels,
                c.dropout,
                c.classes,
            )
        else:
            size = math.prod(c.data_shape)
            self.encoder = MLP(size, c.mlp_hidden, c.mlp_depth, 2 * c.latent_dim, c.dropout, c.classes)
            self.decoder = MLP(c.latent_dim, c.mlp_hidden, c.mlp_depth, n_params * size, c.dropout, c.classes)
        # The training steps taken: the KL warm-up's step when none is given (a loss computed
        # outside the trainer). training_step sets it to the trainer's step + 1; it is saved
        # with the weights (the packaged model.safetensors has it).
        self.register_buffer("train_step", torch.zeros((), dtype=torch.long))

    @property
    def log_prob_discrete(self) -> bool:  # type: ignore[override]
        """``True`` with the discretized logistic likelihood (digits' default): the ELBO and
        IWAE bounds are then bounds on the probability of the discrete data, not a density."""
        return self.config.likelihood_name == "logistic"

    @property
    def conditions(self) -> dict[str, genplug.Condition]:
        """``{"label": ...}`` for a conditional VAE (``classes`` > 0), else ``{}``."""
        if not self.config.classes:
            return {}
        return {"label": genplug.Condition("class", classes=self.config.classes, description="the class to draw")}

    def labels(self, label: Any, n: int) -> torch.Tensor | None:
        """``label`` (one int, or one per example) as ``(n,)`` int64 on the model's device, checked."""
        if label is None:
            return None
        if not self.config.classes:
            raise GenplugError(
                "model 'vae' is unconditional; it takes no label (train one with --config classes=10 on labelled data)"
            )
        label = torch.as_tensor(label, device=self.device).long().flatten()
        label = label.expand(n) if label.numel() == 1 else label
        if label.shape != (n,):
            raise GenplugError(f"label: {label.numel()} labels for {n} examples; give one label, or one per example")
        bad = label[(label < 0) | (label >= self.config.classes)]
        if bad.numel():
            raise GenplugError(
                f"label={int(bad[0])} is out of range: model 'vae' takes labels 0 to {self.config.classes - 1}"
            )
        return label

    def _cond(self, label: torch.Tensor | None, n: int) -> torch.Tensor | None:
        """The networks' extra input: the one-hot label ``(n, classes)``, all zeros for the null
        label (``None``); nothing for an unconditional VAE."""
        if not self.config.classes:
            return None
        dtype = next(self.parameters()).dtype
        if label is None:
            return torch.zeros(n, self.config.classes, device=self.device, dtype=dtype)
        return F.one_hot(label, self.config.classes).to(dtype)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """The shape of one latent: ``(latent_dim,)``."""
        return (self.config.latent_dim,)

    # -- encoder and decoder -------------------------------------------------------

    def posterior(self, x: torch.Tensor, label: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean and scale of q(z | x) (q(z | x, y) given ``label``), each ``(B, latent_dim)``."""
        return self._posterior(x, self._cond(self.labels(label, x.shape[0]), x.shape[0]))

    def _posterior(self, x: torch.Tensor, cond: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        mean, raw = self.encoder(x, cond).chunk(2, dim=1)
        return mean, F.softplus(raw) + MIN_POSTERIOR_SCALE

    def encode(self, x: torch.Tensor, *, generator: torch.Generator | None = None, label: Any = None) -> genplug.Latent:
        """The posterior q(z | x): its mean, scale and a reparameterised sample (gradients flow).
        A conditional VAE takes the examples' ``label``; without one, the null label."""
        self._check_input(x)
        mean, scale = self.posterior(x, label)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return genplug.Latent(sample=mean + scale * eps, mean=mean, scale=scale)

    def decoder_params(self, z: torch.Tensor, label: Any = None) -> torch.Tensor:
        """The likelihood's parameters for latents ``z`` (and ``label``): ``(B, n_params * C, ...)``."""
        return self._decoder_params(z, self._cond(self.labels(label, z.shape[0]), z.shape[0]))

    def _decoder_params(self, z: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        shape = self.config.data_shape
        out = self.decoder(z, cond)
        return out.view(z.shape[0], self.likelihood.n_params * shape[0], *shape[1:])

    def decode(self, z: torch.Tensor, *, label: Any = None) -> torch.Tensor:
        """The decoder mean E[x | z] (E[x | z, y] given ``label``), ``(B, *data_shape)``; images
        are floats in [0, 1]."""
        self._check_latent(z, "decode")
        return self._to_data(self.likelihood.mean(self.decoder_params(z, label)))

    def decode_sample(
        self, z: torch.Tensor, *, generator: torch.Generator | None = None, label: Any = None
    ) -> torch.Tensor:
        """A draw x ~ p(x | z) (p(x | z, y) given ``label``), ``(B, *data_shape)``; images are
        clamped to [0, 1] (a no-op for the discretized logistic, whose draws are values
        k / (levels - 1))."""
        self._check_latent(z, "decode_sample")
        return self._to_data(self.likelihood.sample(self.decoder_params(z, label), generator=generator))

    def _check_latent(self, z: torch.Tensor, method: str) -> None:
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise GenplugError(f"{method} takes latents of shape (B, {self.config.latent_dim}), got {tuple(z.shape)}")

    def _to_data(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(0, 1) if self.config.is_image else x

    def _check_input(self, x: torch.Tensor) -> None:
        if tuple(x.shape[1:]) != self.event_shape:
            raise GenplugError(
                f"the VAE takes examples of shape (B, {', '.join(map(str, self.event_shape))}), got {tuple(x.shape)}"
            )

    # -- generation ------------------------------------------------------------------

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        output: str | None = None,
        label: Any = None,
    ) -> torch.Tensor:
        """Draw z ~ N(0, temperature^2 I) and decode it.

        Arguments:
            n: the number of samples.
            generator: seeds the latents (and the draws when ``output="draw"``).
            temperature: scales the prior's standard deviation.
            output: ``"draw"`` returns a draw x ~ p(x | z), a sample of the model whose
                likelihood ``log_prob`` bounds; ``"mean"`` the decoder mean E[x | z], smoother
                but, on digits, with a much higher FD (see the README). ``None`` uses
                ``config.output`` (``"draw"`` by default).
            label: a conditional VAE's class (one int, or one per sample); ``None`` draws
                every class equally often in a shuffled order (after z, from ``generator``).

        Returns:
            ``(n, *data_shape)`` in data space.
        """
        output = output or self.config.output
        if output not in OUTPUTS:
            raise GenplugError(f"output={output!r}; choose 'mean' (the decoder mean) or 'draw' (a draw from p(x | z))")
        label = self.labels(label, n)
        dtype = next(self.parameters()).dtype
        z = temperature * torch.randn((n, self.config.latent_dim), generator=generator, device=self.device, dtype=dtype)
        if self.config.classes and label is None:  # the marginal: y uniform over the classes, stratified
            label = self.conditions["label"].draw_labels(n, generator=generator, device=self.device)
        if output == "mean":
            return self.decode(z, label=label)
        return self.decode_sample(z, generator=generator, label=label)

    def interpolate(
        self,
        x0: torch.Tensor,
        x1: torch.Tensor,
        steps: int,
        *,
        generator: torch.Generator | None = None,
        **options: Any,
    ) -> torch.Tensor:
        """Decode ``steps`` latents on the path between ``x0`` and ``x1``; see
        :func:`genplug_vae.interpolate` for the options."""
        from genplug_vae.latent import interpolate

        return interpolate(self, x0, x1, steps, generator=generator, **options)

    # -- training ----------------------------------------------------------------------

    def kl_weight(self, step: int | None = None) -> float:
        """beta_t at training step ``step`` (0-based; default ``train_step``, the steps taken):
        rises linearly from beta / warmup_steps to beta over the warm-up."""
        c = self.config
        if c.warmup_steps == 0:
            return c.beta
        step = int(self.train_step) if step is None else step
        return c.beta * min(1.0, (step + 1) / c.warmup_steps)

    def elbo_terms(
        self,
        x: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        label: Any = None,
        label_dropout: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One-sample log p(x | z) with z ~ q(z | x), and the closed-form KL; each ``(B,)``
        (given ``label``, of the conditional VAE; ``None``: the null label). ``label_dropout``
        of the labels, drawn from ``generator`` first, are replaced by the null label."""
        self._check_input(x)
        batch = x.shape[0]
        label = self.labels(label, batch)
        cond = self._cond(label, batch)
        if label is not None and label_dropout:
            source = generator.device if generator is not None else x.device
            kept = torch.rand(batch, generator=generator, device=source).to(x.device) >= label_dropout
            cond = cond * kept[:, None].to(cond.dtype)  # dropped rows: all zeros, the null label
        mean, scale = self._posterior(x, cond)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        log_px = self.likelihood.log_prob(x, self._decoder_params(mean + scale * eps, cond))
        kl = 0.5 * (mean**2 + scale**2 - 1.0 - 2.0 * scale.log()).sum(1)  # KL(N(mean, scale^2) || N(0, 1))
        return log_px, kl

    def loss(
        self,
        batch: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        step: int | None = None,
        label: Any = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The negative beta-weighted ELBO in nats per example, at the KL weight of training
        step ``step`` (default ``train_step``), and its figures: the ELBO, the KL term (each a
        mean over the batch) and that weight. A composite training the VAE jointly passes
        the trainer's step here. A conditional VAE takes the batch's labels (the trainer
        passes the data's); ``label_dropout`` of them become the null label."""
        weight = self.kl_weight(step)
        log_px, kl = self.elbo_terms(batch, generator=generator, label=label, label_dropout=self.config.label_dropout)
        loss = -(log_px - weight * kl).mean()
        elbo = (log_px - kl).mean().detach()
        return loss, {"elbo": float(elbo), "kl": float(kl.mean().detach()), "beta": weight}

    def training_step(
        self,
        batch: torch.Tensor,
        optimizers: dict[str, torch.optim.Optimizer],
        *,
        generator: torch.Generator | None = None,
        step: int | None = None,
        total: int | None = None,
        label: Any = None,
    ) -> dict[str, float]:
        """One step on :meth:`loss` at the KL weight of the trainer's ``step`` (0-based;
        without one, ``train_step``); ``train_step`` then records ``step + 1``."""
        step = int(self.train_step) if step is None else step
        (optimizer,) = optimizers.values()
        optimizer.zero_grad(set_to_none=True)
        loss, figures = self.loss(batch, generator=generator, step=step, label=label)
        loss.backward()
        optimizer.step()
        self.train_step.fill_(step + 1)
        return {"loss": float(loss.detach()), **figures}

    # -- likelihood bounds ----------------------------------------------------------

    def log_prob(
        self,
        x: torch.Tensor,
        *,
        kind: str | None = None,
        k: int | None = None,
        generator: torch.Generator | None = None,
        label: Any = None,
    ) -> torch.Tensor:
        """A lower bound on log p(x) per example, in nats.

        Arguments:
            x: ``(B, *data_shape)``.
            kind: ``"elbo"`` (the default) or ``"iwae"``.
            k: posterior samples: the ELBO averages log p(x | z) over ``k`` (default 1) and
                subtracts the closed-form KL; the IWAE bound uses ``k`` importance samples
                (default ``config.iwae_k``). :meth:`log_prob_label` names the result.
            generator: seeds the posterior samples.
            label: a conditional VAE's labels of ``x``: the bound on log p(x | y). ``None``:
                the bound on the marginal log p(x) = log Σ_y p(y) p(x | y), y uniform,
                as log Σ_y exp(bound_y) - log(classes) (every class's bound, from one seed).

        Returns:
            ``(B,)``; for the discretized logistic likelihood a bound on the log-probability
            of the discrete data, for the Gaussian a bound on a log-density.
        """
        kind = kind or self.log_prob_kinds[0]
        if kind not in self.log_prob_kinds:
            raise GenplugError(f"the VAE computes log_prob kinds {', '.join(self.log_prob_kinds)}; got kind={kind!r}")
        k = k if k is not None else (1 if kind == "elbo" else self.config.iwae_k)
        if not self.config.classes or label is not None:
            return self.bounds(x, k=k, generator=generator, label=label)[kind]
        classes = range(self.config.classes)
        per_class = torch.stack([self.bounds(x, k=k, generator=generator, label=y)[kind] for y in classes])
        return torch.logsumexp(per_class, 0) - math.log(self.config.classes)

    def log_prob_label(self, kind: str | None = None, k: int | None = None) -> str:
        """How to report ``log_prob(kind=kind, k=k)``: ``"elbo"`` or ``"iwae-100"``."""
        kind = kind or self.log_prob_kinds[0]
        if kind == "iwae":
            return f"iwae-{k if k is not None else self.config.iwae_k}"
        return kind

    def bounds(
        self,
        x: torch.Tensor,
        *,
        k: int,
        generator: torch.Generator | None = None,
        chunk: int = 8192,
        label: Any = None,
    ) -> dict[str, torch.Tensor]:
        """The ELBO and the IWAE-``k`` bound from the same ``k`` posterior samples, each ``(B,)``
        (of the conditional VAE given ``label``; ``None``: the null label).

        ``chunk`` bounds how many (sample, example) pairs are decoded at once.
        """
        if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
            raise GenplugError(f"k is the number of posterior samples, a positive integer; got {k!r}")
        self._check_input(x)
        batch = x.shape[0]
        cond = self._cond(self.labels(label, batch), batch)
        mean, scale = self._posterior(x, cond)  # (B, L) each
        per_chunk = max(1, chunk // batch)
        log_px_all, log_w_all = [], []
        for start in range(0, k, per_chunk):
            c = min(per_chunk, k - start)
            eps = torch.randn((c, *mean.shape), generator=generator, device=mean.device, dtype=mean.dtype)
            z = mean + scale * eps  # (c, B, L)
            params = self._decoder_params(z.flatten(0, 1), None if cond is None else cond.repeat(c, 1))
            log_px = self.likelihood.log_prob(x.expand(c, *x.shape).flatten(0, 1), params).view(c, batch)
            log_pz = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
            log_qz = (-0.5 * (eps**2 + math.log(2 * math.pi)) - scale.log()).sum(-1)
            log_px_all.append(log_px)
            log_w_all.append(log_px + log_pz - log_qz)
        log_px = torch.cat(log_px_all)  # (k, B)
        log_w = torch.cat(log_w_all)  # (k, B)
        kl = 0.5 * (mean**2 + scale**2 - 1.0 - 2.0 * scale.log()).sum(1)
        return {"elbo": log_px.mean(0) - kl, "iwae": torch.logsumexp(log_w, 0) - math.log(k)}
