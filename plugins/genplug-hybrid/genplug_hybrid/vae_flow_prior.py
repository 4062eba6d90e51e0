"""The ``vae-flow-prior`` architecture: a VAE whose prior p(z) is a normalizing flow, trained jointly.

A VAE (genplug-vae) bounds log p(x) by the ELBO, E_q[log p(x | z)] - KL(q(z | x) || p(z)),
with the prior p(z) = N(0, I) fixed. The encoder must then map the data into a standard
normal ball, and the data's aggregate posterior q(z) = E_x[q(z | x)] never fills it
exactly: the KL term pays for every mismatch, and samples z ~ N(0, I) land where no digit
was encoded. Here p(z) is a neural spline flow (genplug-flow's ``nsf``) over the latent
vector, trained with the encoder and the decoder on the same bound, so the prior learns
the shape of the aggregate posterior while the encoder learns to fill it (Chen et al.'s
"VLAE" prior; Tomczak and Welling's VampPrior argue the same point with a mixture):

==============  ============================================================================
``x``           an example in data space, ``(B, *event_shape)``
``z``           a latent vector, ``(B, latent_dim)``; z = mean + scale * eps, eps ~ N(0, I)
``q(z | x)``    the VAE's posterior N(mean, diag(scale^2))
``p(x | z)``    the VAE's decoder likelihood (digits: the discretized logistic)
``p_flow(z)``   the flow's exact density: log N(f(z); 0, I) + log|det df/dz|
``H[q]``        the posterior's entropy, sum_i (1/2 log(2 pi e) + log scale_i), in closed form
==============  ============================================================================

The bound (nats per example)::

    ELBO = E_q[log p(x | z)] + E_q[log p_flow(z)] - E_q[log q(z | x)]
         = E_q[log p(x | z)] + E_q[log p_flow(z)] + H[q(z | x)]

The KL is no longer in closed form. The first two expectations are Monte-Carlo estimates
at the same reparameterised draws z (one per example when training, ``k`` in ``log_prob``);
the entropy is exact, which removes the noise of log q(z | x) from the estimate. Training
minimises -(E_q[log p(x | z)] - beta_t (-E_q[log p_flow(z)] - H[q])) with the VAE's own KL
weight beta_t (its warm-up), so gradients reach the encoder and decoder as in the VAE and
the flow through its cross-entropy term. With beta_t = 1 this is the negative ELBO.

``log_prob`` reports the ELBO (``kind="elbo"``) and the importance-weighted bound
(``kind="iwae"``, log (1/k) sum_i p(x | z_i) p_flow(z_i) / q(z_i | x)), like the VAE; they
bound a discrete probability when the VAE's likelihood is the discretized logistic
(``log_prob_discrete``), a density otherwise. ``sample`` draws z from the flow and x from
the VAE's p(x | z) (or its mean). ``encode`` and ``decode`` are the VAE's.

This is a :class:`genplug.Composite` with the VAE as its ``encoder`` and the flow as its
``prior``, so it saves as a hybrid folder (``encoder/``, ``prior/``) and loads back with
both plugins' parts.

References:
    Kingma, Welling. Auto-Encoding Variational Bayes. ICLR 2014. arXiv:1312.6114.
    Chen, Kingma, Salimans, Duan, Dhariwal, Schulman, Sutskever, Abbeel. Variational Lossy
    Autoencoder. ICLR 2017. arXiv:1611.02731 (an autoregressive-flow prior).
    Tomczak, Welling. VAE with a VampPrior. AISTATS 2018. arXiv:1705.07120.
    Durkan, Bekasov, Murray, Papamakarios. Neural Spline Flows. NeurIPS 2019. arXiv:1906.04032.
    Burda, Grosse, Salakhutdinov. Importance Weighted Autoencoders. ICLR 2016. arXiv:1509.00519.

Example:
    >>> import genplug, torch
    >>> model = genplug.create("vae-flow-prior", vae={"data_shape": (2,), "latent_dim": 2}, flow={"hidden": 8})
    >>> model.sample(3, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([3, 2])
    >>> model.log_prob(torch.zeros(3, 2), kind="iwae", k=4).shape
    torch.Size([3])
"""

from __future__ import annotations

import math
import reprlib
from typing import Any, ClassVar

import attrs
import torch

import genplug
from genplug import ConfigError, GenplugError, IncompatibleError
from genplug import validators as v

__all__ = ["DEFAULT_FLOW", "DEFAULT_VAE", "VAEFlowPrior", "VAEFlowPriorConfig"]

#: The VAE built when none is given: genplug-vae's unconditional digits recipe (8-d latents,
#: small conv networks, the discretized logistic over 17 grey levels, 1000 warm-up steps).
DEFAULT_VAE: dict[str, Any] = {"data_shape": (1, 8, 8), "latent_dim": 8, "warmup_steps": 1000}
#: The flow built when none is given: four autoregressive spline layers over the latent vector,
#: started at random as the packaged weights were (genplug-flow's default now starts at the identity).
DEFAULT_FLOW: dict[str, Any] = {"transforms": 4, "hidden": 64, "depth": 2, "bins": 8, "init": "random"}

OUTPUTS = ("draw", "mean")
#: What the encoder role must have beyond an Encoder's members: genplug-vae's VAE parts.
_VAE_MEMBERS = ("posterior", "decoder_params", "likelihood", "decode_sample", "kl_weight")


def _fields(what: str, forbidden: str | None) -> Any:
    """A validator: a dict of ``what`` config fields by name, without ``forbidden``."""

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        where = f"VAEFlowPriorConfig.{attribute.name}"
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{where} must be a dict of {what} config fields, got {reprlib.repr(value)}")
        if forbidden is not None and forbidden in value:
            raise ConfigError(
                f"{where} must not set {forbidden}: the flow's data shape is the VAE's latent shape; remove "
                f"{forbidden}={reprlib.repr(value[forbidden])}"
            )

    return check


@attrs.frozen(kw_only=True)
class VAEFlowPriorConfig:
    """The configuration of a :class:`VAEFlowPrior`; every field is saved in ``config.json``."""

    vae: dict[str, Any] = attrs.field(  # VAE config fields of the VAE built when none is passed (unconditional)
        factory=lambda: dict(DEFAULT_VAE), validator=_fields("vae", None)
    )
    flow: dict[str, Any] = attrs.field(  # nsf config fields of the flow built when none is passed
        factory=lambda: dict(DEFAULT_FLOW), validator=_fields("nsf", "data_shape")
    )
    train_encoder: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    # True: the VAE and the flow train jointly on the ELBO; False: the VAE is frozen and the flow alone learns
    output: str = attrs.field(default="draw", validator=v.one_of(*OUTPUTS))  # sample(): x ~ p(x | z), or E[x | z]
    iwae_k: int = attrs.field(  # importance samples of log_prob(kind="iwae"), at most 100_000
        default=100, validator=v.in_range(1, 100_000, integer=True)
    )

    # What genplug.Composite reads of its config: the flow has one sampling procedure, and
    # it models the latent vector as it is.
    sampler: ClassVar[None] = None
    steps: ClassVar[None] = None
    adapter: ClassVar[str] = "identity"


class VAEFlowPrior(genplug.Composite):
    """A VAE (the ``encoder``) with a flow (the ``prior``) as its prior p(z), trained jointly.

    Arguments:
        config: a :class:`VAEFlowPriorConfig`.
        encoder: a VAE from genplug-vae (unconditional; its posterior, decoder and
            likelihood are used); default a fresh ``genplug.create("vae", **config.vae)``.
        prior: a flow over its latent vectors with an exact ``log_prob``; default a fresh
            ``genplug.create("nsf", data_shape=encoder.latent_shape, **config.flow)``.

    Raises:
        genplug.IncompatibleError: naming both parts, when the flow's dimension is not the
            VAE's latent size, the prior has no exact density, or the encoder is not a VAE.
    """

    architecture = "vae-flow-prior"
    config_class = VAEFlowPriorConfig
    log_prob_kinds = ("elbo", "iwae")
    #: The recipe of the packaged weights (scripts/train_vae_flow_prior.py), for `genplug train`.
    train_defaults: ClassVar[dict[str, Any]] = {"lr": 1e-3, "batch_size": 128, "steps": 6000, "ema": 0.999}
    #: One loss trains both parts: none of the flow's own training options apply, and EMA
    #: averages the whole model (the composite's defaults would take the prior's).
    train_options_class: ClassVar[type | None] = None
    ema_modules: ClassVar[tuple[str, ...] | None] = None
    #: Small configs for genplug's conformance kit: digits with the discrete likelihood, and 2-D points.
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {
            "vae": {"data_shape": (1, 8, 8), "latent_dim": 3, "hidden": 4, "downsamples": 1, "mlp_hidden": 16},
            "flow": {"transforms": 2, "hidden": 8, "bins": 4},
        },
        {"vae": {"data_shape": (2,), "latent_dim": 2, "mlp_hidden": 16}, "flow": {"hidden": 8}, "output": "mean"},
    )

    def __init__(self, config: VAEFlowPriorConfig, *, encoder: Any = None, prior: Any = None) -> None:
        if encoder is None:
            encoder = genplug.create("vae", **config.vae)
        if prior is None and hasattr(encoder, "latent_shape"):  # otherwise the composite names what is missing
            prior = genplug.create("nsf", data_shape=tuple(encoder.latent_shape), **config.flow)
        super().__init__(config, encoder=encoder, prior=prior)  # roles and shapes, both parts named
        _check_parts(self.encoder, self.prior)

    @property
    def log_prob_discrete(self) -> bool:  # type: ignore[override]
        """The VAE's: ``True`` with the discretized logistic likelihood (digits' default)."""
        return bool(getattr(self.encoder, "log_prob_discrete", False))

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """The VAE's latent shape ``(latent_dim,)``, which is the flow's event shape."""
        return tuple(self.encoder.latent_shape)

    def conformance_batch(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Test data for genplug.testing: the VAE's (values on its likelihood's grid)."""
        return self.encoder.conformance_batch(n, generator=generator)

    # -- encoder and generator ------------------------------------------------------------

    def encode(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> genplug.Latent:
        """The VAE's posterior q(z | x): mean, scale and a reparameterised draw."""
        return self.encoder.encode(x, generator=generator)

    def decode(self, z: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """The VAE's decoder mean E[x | z], ``(B, *event_shape)``."""
        return self.encoder.decode(z)

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        output: str | None = None,
    ) -> torch.Tensor:
        """Draw z from the flow and decode it.

        Arguments:
            n: the number of samples.
            generator: seeds the flow's base draw, then the draw from p(x | z).
            temperature: scales the flow's base standard deviation.
            output: ``"draw"`` (x ~ p(x | z), the model whose likelihood ``log_prob``
                bounds) or ``"mean"`` (E[x | z]); default ``config.output``.

        Returns:
            ``(n, *event_shape)`` in data space.
        """
        output = output or self.config.output
        if output not in OUTPUTS:
            raise GenplugError(f"output={output!r}; choose 'draw' (x ~ p(x | z)) or 'mean' (E[x | z])")
        z = self.prior.sample(n, generator=generator, temperature=temperature)  # (n, latent_dim)
        if output == "mean":
            return self.encoder.decode(z)
        return self.encoder.decode_sample(z, generator=generator)

    # -- the bound ------------------------------------------------------------------------

    def elbo_terms(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One-sample log p(x | z) and log p_flow(z) at z ~ q(z | x), and the exact entropy
        H[q(z | x)]; each ``(B,)`` in nats. The ELBO is their sum."""
        self._check_input(x)
        mean, scale = self.encoder.posterior(x)  # (B, L) each
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + scale * eps  # reparameterised: gradients reach the encoder through z
        log_px = self.encoder.likelihood.log_prob(x, self.encoder.decoder_params(z))
        log_pz = self.prior.log_prob(z)  # the flow's exact density; its parameters learn from this term
        return log_px, log_pz, _entropy(scale)

    def bounds(
        self, x: torch.Tensor, *, k: int, generator: torch.Generator | None = None, chunk: int = 8192
    ) -> dict[str, torch.Tensor]:
        """The ELBO and the IWAE-``k`` bound from the same ``k`` posterior draws, each ``(B,)``.

        The ELBO averages log p(x | z) + log p_flow(z) over the draws and adds the exact
        entropy; the IWAE bound weighs each draw by p(x | z) p_flow(z) / q(z | x). The draws
        are taken as the VAE's ``bounds`` takes them, so with a flow that is the identity
        map both give the VAE's figures up to the Monte-Carlo estimate of its KL.
        ``chunk`` bounds how many (draw, example) pairs are decoded at once.
        """
        if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
            raise GenplugError(f"k is the number of posterior samples, a positive integer; got {k!r}")
        self._check_input(x)
        batch = x.shape[0]
        mean, scale = self.encoder.posterior(x)  # (B, L) each
        per_chunk = max(1, chunk // batch)
        log_joint_all, log_w_all = [], []
        for start in range(0, k, per_chunk):
            c = min(per_chunk, k - start)
            eps = torch.randn((c, *mean.shape), generator=generator, device=mean.device, dtype=mean.dtype)
            z = (mean + scale * eps).flatten(0, 1)  # (c * B, L)
            xs = x.expand(c, *x.shape).flatten(0, 1)  # (c * B, *event_shape)
            log_px = self.encoder.likelihood.log_prob(xs, self.encoder.decoder_params(z))
            log_joint = (log_px + self.prior.log_prob(z)).view(c, batch)  # log p(x | z) + log p_flow(z)
            log_qz = (-0.5 * (eps**2 + math.log(2 * math.pi)) - scale.log()).sum(-1)  # (c, B)
            log_joint_all.append(log_joint)
            log_w_all.append(log_joint - log_qz)
        log_joint, log_w = torch.cat(log_joint_all), torch.cat(log_w_all)  # (k, B) each
        return {"elbo": log_joint.mean(0) + _entropy(scale), "iwae": torch.logsumexp(log_w, 0) - math.log(k)}

    def log_prob(
        self,
        x: torch.Tensor,
        *,
        kind: str | None = None,
        k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """A lower bound on log p(x) per example, in nats, ``(B,)``.

        Arguments:
            x: ``(B, *event_shape)``.
            kind: ``"elbo"`` (the default) or ``"iwae"``.
            k: posterior draws: the ELBO's Monte-Carlo terms average over ``k`` (default 1,
                as the VAE's log p(x | z)); the IWAE bound uses ``k`` importance samples
                (default ``config.iwae_k``). :meth:`log_prob_label` names the result.
            generator: seeds the posterior draws.
        """
        kind = kind or self.log_prob_kinds[0]
        if kind not in self.log_prob_kinds:
            raise GenplugError(f"vae-flow-prior computes log_prob kinds elbo, iwae; got kind={kind!r}")
        k = k if k is not None else (1 if kind == "elbo" else self.config.iwae_k)
        return self.bounds(x, k=k, generator=generator)[kind]

    def log_prob_label(self, kind: str | None = None, k: int | None = None) -> str:
        """How to report ``log_prob(kind=kind, k=k)``: ``"elbo"`` or ``"iwae-100"``."""
        kind = kind or self.log_prob_kinds[0]
        return f"iwae-{k if k is not None else self.config.iwae_k}" if kind == "iwae" else kind

    def _check_input(self, x: torch.Tensor) -> None:
        if tuple(x.shape[1:]) != self.event_shape:
            raise GenplugError(
                f"vae-flow-prior takes examples of shape (B, {', '.join(map(str, self.event_shape))}), got "
                f"{tuple(x.shape)}"
            )

    # -- training ---------------------------------------------------------------------------

    def loss(
        self, batch: torch.Tensor, *, generator: torch.Generator | None = None, step: int | None = None, total: int = 1
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The negative ELBO in nats per example, its KL term weighted by the VAE's beta_t at
        training step ``step`` (its warm-up), and the figures: the ELBO, the KL estimate
        -log p_flow(z) - H[q], the prior's log-density and the weight."""
        weight = self.encoder.kl_weight(step)
        log_px, log_pz, entropy = self.elbo_terms(batch, generator=generator)
        kl = -log_pz - entropy  # a one-draw estimate of KL(q(z | x) || p_flow(z))
        loss = -(log_px - weight * kl).mean()
        figures = {
            "elbo": float((log_px - kl).mean().detach()),
            "kl": float(kl.mean().detach()),
            "log_pz": float(log_pz.mean().detach()),
            "beta": weight,
        }
        return loss, figures

    def configure_optimizers(self, config: Any) -> dict[str, torch.optim.Optimizer]:
        """One AdamW over the flow and, with ``train_encoder``, the VAE (a float is the learning rate)."""
        lr = config if isinstance(config, (int, float)) else config.lr
        return {"model": torch.optim.AdamW([p for p in self.parameters() if p.requires_grad], lr=lr)}

    def training_step(
        self,
        batch: torch.Tensor,
        optimizers: dict[str, torch.optim.Optimizer],
        *,
        generator: torch.Generator | None = None,
        step: int = 0,
        total: int = 1,
        **condition: Any,
    ) -> dict[str, float]:
        """One step on :meth:`loss` at the trainer's ``step``; the VAE's ``train_step`` then
        records ``step + 1``, as the VAE's own steps do."""
        (optimizer,) = optimizers.values()
        optimizer.zero_grad(set_to_none=True)
        loss, figures = self.loss(batch, generator=generator, step=step, total=total)
        loss.backward()
        optimizer.step()
        if self.config.train_encoder and isinstance(getattr(self.encoder, "train_step", None), torch.Tensor):
            self.encoder.train_step.fill_(step + 1)
        return {"loss": float(loss.detach()), **figures}


def _entropy(scale: torch.Tensor) -> torch.Tensor:
    """H[N(mean, diag(scale^2))] per example, ``(B,)``: sum_i 1/2 log(2 pi e) + log scale_i."""
    return (0.5 * math.log(2 * math.pi * math.e) + scale.log()).sum(-1)


def _check_parts(encoder: Any, prior: Any) -> None:
    """Raise :class:`IncompatibleError` naming both parts unless the encoder is an unconditional
    VAE and the prior a flow with an exact density (the shapes are checked by the composite)."""
    vae, flow = _name(encoder), _name(prior)
    missing = [m for m in _VAE_MEMBERS if not hasattr(encoder, m)]
    if missing:
        raise IncompatibleError(
            f"the encoder {vae!r} is not a VAE (it lacks {', '.join(missing)}), so the flow {flow!r} cannot be its "
            "prior; give a genplug-vae 'vae' as the encoder"
        )
    if getattr(getattr(encoder, "config", None), "classes", 0):
        raise IncompatibleError(
            f"the encoder {vae!r} is class-conditional (classes={encoder.config.classes}), but the flow {flow!r} is "
            "an unconditional prior; give a VAE with classes=0"
        )
    if not hasattr(prior, "log_prob") or "exact" not in tuple(getattr(prior, "log_prob_kinds", ()) or ()):
        raise IncompatibleError(
            f"the prior {flow!r} has no exact log_prob, which the ELBO of the VAE {vae!r} needs "
            "(E_q[log p(z)]); give a flow such as genplug-flow's 'nsf'"
        )


def _name(obj: Any) -> str:
    return getattr(obj, "architecture", None) or type(obj).__name__
