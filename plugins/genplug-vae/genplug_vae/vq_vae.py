"""The vector-quantised VAE (``vq-vae``): an encoder to a grid of vectors, each snapped to
its nearest entry of a learned codebook, and a decoder from the snapped grid back to data.

Notation (van den Oord et al., section 3):

==============  ======================================================================
``x``           an example, ``(B, C, H, W)``
``z_e``         the encoder's output, ``(B, D, h, w)``: one D-vector per cell of the grid
``e``           the codebook, ``(K, D)``: K entries ("codes") of dimension D
``codes``       ``argmin_k ||z_e - e_k||^2`` per cell, ``(B, h, w)`` int64 in ``0 .. K-1``
``z_q``         ``e[codes]``, the quantised grid, ``(B, D, h, w)``
``N_k, m_k``    exponential moving averages of the number of vectors assigned to code k
                and of their sum (buffers ``cluster_size`` and ``embed_sum``)
``gamma``       the EMA decay (``ema_decay``)
==============  ======================================================================

Training minimises, per example (eq. 3 with the codebook term replaced by EMA updates,
appendix A.1)::

    loss = -log p(x | z_q) + commitment * ||z_e - sg[z_q]||^2

1. Quantise: the nearest code of each cell of z_e gives ``codes`` and z_q.
2. Straight-through estimator: the decoder reads ``z_e + sg[z_q - z_e]``, which equals
   z_q, while the gradient it receives passes to z_e unchanged (sg is stop-gradient).
3. Commitment loss: pulls z_e towards its (fixed) code, so the encoder's outputs do not
   drift away from the codebook.
4. EMA codebook update (eqs. 6-8), in training mode only, like batch-norm statistics: with
   n_k the vectors of the batch assigned to code k, N_k <- gamma N_k + (1 - gamma) n_k,
   m_k <- gamma m_k + (1 - gamma) sum_{i: code_i = k} z_e,i, and e_k = m_k / N_k with N_k
   Laplace-smoothed, (N_k + eps) / (N + K eps) * N where N = sum_k N_k, so that no
   division is by zero. The codebook is not a parameter: no optimizer touches it.
5. Dead-code restarts (Dhariwal et al., section 2.2 of Jukebox): every code whose N_k is
   below ``restart_threshold`` (it is assigned fewer than that many vectors per batch, on
   average) is moved onto a random encoder output of the batch, with N_k set to the
   threshold and m_k to the threshold times it. All counts start at zero, so the first
   training step fills the whole codebook with encoder outputs (a data-dependent start).

Codebook usage is measured by the perplexity exp(H(p)) of the code histogram p: K when
every code is used equally often, 1 when one code takes everything. ``loss`` reports it
for each batch; :meth:`VQVAE.usage` for a whole data set.

The model is registered as an encoder. Its own prior is the uniform p(codes) = K^-(h w)
of the paper: its ``sample`` decodes uniformly drawn codes, for inspection, and does not
look like data; a prior learned on the codes (genplug-hybrid's ``vq-transformer``) does. With a point-mass
posterior at the encoder's codes z*, the ELBO is log p(x | z*) + log p(z*) (the posterior's
entropy is 0), a lower bound on log p(x) since p(x) >= p(z*) p(x | z*): ``log_prob``
reports it with the uniform prior, log p(x | z*) - h w log K.

References:
    van den Oord, Vinyals, Kavukcuoglu. Neural Discrete Representation Learning. NeurIPS
    2017. arXiv:1711.00937.
    Razavi, van den Oord, Vinyals. Generating Diverse High-Fidelity Images with VQ-VAE-2.
    NeurIPS 2019. arXiv:1906.00446.
    Dhariwal, Jun, Payne, Kim, Radford, Sutskever. Jukebox: A Generative Model for Music.
    2020. arXiv:2005.00341 (codebook restarts).
    Bengio, Léonard, Courville. Estimating or Propagating Gradients Through Stochastic
    Neurons for Conditional Computation. 2013. arXiv:1308.3432 (straight-through).

Example:
    >>> model = VQVAE(VQVAEConfig(hidden=4, embedding_dim=2, num_codes=8))
    >>> latent = model.encode(torch.zeros(3, 1, 8, 8))
    >>> latent.codes.shape, model.decode_codes(latent.codes).shape
    (torch.Size([3, 4, 4]), torch.Size([3, 1, 8, 8]))
"""

from __future__ import annotations

import math

import attrs
import torch
import torch.nn.functional as F
from torch import nn

import genplug
from genplug import ConfigError, GenplugError
from genplug import validators as v
from genplug_vae.likelihoods import make_likelihood
from genplug_vae.model import MAX_DEPTH, MAX_DOWNSAMPLES, MAX_ELEMENTS, MAX_SIZE, OUTPUTS

__all__ = ["Codebook", "VQVAE", "VQVAEConfig"]


@attrs.frozen(kw_only=True)
class VQVAEConfig:
    """The configuration of a :class:`VQVAE`; every field is saved in ``config.json``."""

    # (C, H, W) images; H and W divisible by 2**downsamples
    data_shape: tuple[int, ...] = attrs.field(default=(1, 8, 8), converter=tuple, validator=v.shape)
    hidden: int = attrs.field(default=32, validator=v.in_range(1, MAX_SIZE, integer=True))  # first-stage channels
    downsamples: int = attrs.field(  # stride-2 stages: the code grid is (H / 2**d, W / 2**d)
        default=1, validator=v.in_range(0, MAX_DOWNSAMPLES, integer=True)
    )
    res_blocks: int = attrs.field(default=1, validator=v.in_range(0, MAX_DEPTH, integer=True))  # at the grid's scale
    embedding_dim: int = attrs.field(default=16, validator=v.in_range(1, MAX_SIZE, integer=True))  # D
    num_codes: int = attrs.field(default=64, validator=v.in_range(2, MAX_SIZE, integer=True))  # K
    commitment: float = attrs.field(default=0.25, validator=v.at_least(0.0))  # beta, the commitment loss's weight
    ema_decay: float = attrs.field(default=0.99, validator=v.fraction)  # gamma of the codebook's EMA
    epsilon: float = attrs.field(default=1e-5, validator=v.positive)  # Laplace smoothing of the EMA counts
    restart_threshold: float = attrs.field(default=1.0, validator=v.at_least(0.0))  # restart codes below; 0: never
    likelihood: str = attrs.field(default="logistic", validator=v.one_of("logistic", "bernoulli", "gaussian"))
    levels: int = attrs.field(default=17, validator=v.in_range(2, MAX_SIZE, integer=True))  # logistic: grey levels
    output: str = attrs.field(default="draw", validator=v.one_of(*OUTPUTS))  # sample(): x ~ p(x | z) or E[x | z]

    def __attrs_post_init__(self) -> None:
        if len(self.data_shape) != 3:
            raise ConfigError(f"VQVAEConfig.data_shape must be images (C, H, W), got {self.data_shape}")
        if max(self.data_shape) > MAX_SIZE or math.prod(self.data_shape) > MAX_ELEMENTS:
            raise ConfigError(
                f"VQVAEConfig.data_shape={self.data_shape!r} is too large: each side at most {MAX_SIZE}, "
                f"one example at most {MAX_ELEMENTS} elements"
            )
        factor = 2**self.downsamples
        if self.data_shape[1] % factor or self.data_shape[2] % factor:
            raise ConfigError(
                f"VQVAEConfig.downsamples={self.downsamples} needs H and W divisible by {factor}, got "
                f"data_shape={self.data_shape}; lower downsamples"
            )
        if self.hidden * factor > MAX_SIZE:
            raise ConfigError(
                f"VQVAEConfig.hidden={self.hidden} doubled over {self.downsamples} downsamples is "
                f"{self.hidden * factor} channels, more than {MAX_SIZE}; lower hidden or downsamples"
            )

    @property
    def code_shape(self) -> tuple[int, int]:
        """The grid of codes of one example, ``(H / 2**downsamples, W / 2**downsamples)``."""
        return (self.data_shape[1] >> self.downsamples, self.data_shape[2] >> self.downsamples)


# -- the networks ------------------------------------------------------------------------


class Residual(nn.Module):
    """x + conv1x1(silu(conv3x3(silu(x)))), at a fixed number of channels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1), nn.SiLU(), nn.Conv2d(channels, channels, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def conv_encoder(channels: int, hidden: int, downsamples: int, res_blocks: int, out: int) -> nn.Sequential:
    """(B, channels, H, W) -> (B, out, H / 2**downsamples, W / 2**downsamples)."""
    layers: list[nn.Module] = [nn.Conv2d(channels, hidden, 3, padding=1)]
    ch = hidden
    for _ in range(downsamples):
        layers += [nn.SiLU(), nn.Conv2d(ch, 2 * ch, 4, stride=2, padding=1)]  # halves H and W
        ch *= 2
    layers += [Residual(ch) for _ in range(res_blocks)]
    layers += [nn.SiLU(), nn.Conv2d(ch, out, 1)]
    return nn.Sequential(*layers)


def conv_decoder(latent: int, hidden: int, downsamples: int, res_blocks: int, out: int) -> nn.Sequential:
    """(B, latent, h, w) -> (B, out, h * 2**downsamples, w * 2**downsamples): the encoder's mirror."""
    ch = hidden * 2**downsamples
    layers: list[nn.Module] = [nn.Conv2d(latent, ch, 3, padding=1)]
    layers += [Residual(ch) for _ in range(res_blocks)]
    for _ in range(downsamples):
        layers += [nn.SiLU(), nn.ConvTranspose2d(ch, ch // 2, 4, stride=2, padding=1)]  # doubles H and W
        ch //= 2
    layers += [nn.SiLU(), nn.Conv2d(ch, out, 3, padding=1)]
    return nn.Sequential(*layers)


# -- the codebook ------------------------------------------------------------------------


class Codebook(nn.Module):
    """K code vectors of dimension D, learned by EMA of the vectors assigned to them.

    Under ``torchrun`` the counts and sums of each step are summed over the processes (the
    global batch's), and restarted codes take rank 0's picks, so every process keeps the
    same codebook (``tests/test_distributed.py``).

    Arguments:
        num_codes: K.
        dim: D.
        decay: gamma, the EMA decay.
        epsilon: the Laplace smoothing of the counts.
        restart_threshold: codes whose EMA count falls below it are restarted; 0: never.
    """

    def __init__(self, num_codes: int, dim: int, decay: float, epsilon: float, restart_threshold: float) -> None:
        super().__init__()
        self.decay, self.epsilon, self.restart_threshold = decay, epsilon, restart_threshold
        self.register_buffer("embedding", torch.randn(num_codes, dim))  # e, (K, D)
        self.register_buffer("cluster_size", torch.zeros(num_codes))  # N, (K,): zero, so step 1 restarts all
        self.register_buffer("embed_sum", torch.zeros(num_codes, dim))  # m, (K, D)

    @property
    def num_codes(self) -> int:
        return self.embedding.shape[0]

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """The index of the nearest code of each row of ``z`` ``(M, D)``: ``(M,)`` int64."""
        e = self.embedding.to(z.dtype)
        distances = z.pow(2).sum(1, keepdim=True) - 2 * z @ e.T + e.pow(2).sum(1)  # (M, K) squared distances
        return distances.argmin(1)

    @torch.no_grad()
    def ema_update(self, z: torch.Tensor, codes: torch.Tensor) -> None:
        """Step 4: move the counts, sums and codes towards the batch's vectors ``z`` ``(M, D)``
        assigned to ``codes`` ``(M,)``."""
        z = z.to(self.embedding.dtype)
        onehot = F.one_hot(codes, self.num_codes).to(z.dtype)  # (M, K)
        counts, sums = onehot.sum(0), onehot.T @ z  # n, (K,); sum z, (K, D)
        if _world() > 1:  # under torchrun: the global batch's, so every process keeps the same codes
            torch.distributed.all_reduce(counts)
            torch.distributed.all_reduce(sums)
        self.cluster_size.lerp_(counts, 1 - self.decay)  # N <- gamma N + (1 - gamma) n
        self.embed_sum.lerp_(sums, 1 - self.decay)  # m <- gamma m + (1 - gamma) sum z
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.epsilon) / (total + self.num_codes * self.epsilon) * total
        self.embedding.copy_(self.embed_sum / smoothed[:, None])

    @torch.no_grad()
    def restart_dead(self, z: torch.Tensor, generator: torch.Generator | None = None) -> int:
        """Step 5: move every code whose count is below the threshold onto a random row of
        ``z`` ``(M, D)`` (drawn with ``generator``); returns how many were restarted."""
        dead = (self.cluster_size < self.restart_threshold).nonzero().flatten()
        if len(dead) == 0 or len(z) == 0:
            return 0
        source = generator.device if generator is not None else z.device
        rows = torch.randint(0, len(z), (len(dead),), generator=generator, device=source).to(z.device)
        picked = z[rows].to(self.embedding.dtype)
        if _world() > 1:  # the same dead codes everywhere (the counts are shared); rank 0's picks
            torch.distributed.broadcast(picked, 0)
        self.embedding[dead] = picked
        self.cluster_size[dead] = self.restart_threshold
        self.embed_sum[dead] = picked * self.restart_threshold
        return len(dead)


def _world() -> int:
    """The number of training processes (1 outside torchrun)."""
    ready = torch.distributed.is_available() and torch.distributed.is_initialized()
    return torch.distributed.get_world_size() if ready else 1


def perplexity(codes: torch.Tensor, num_codes: int) -> float:
    """exp(entropy) of the histogram of ``codes``: ``num_codes`` for even use, 1 for one code."""
    p = torch.bincount(codes.flatten(), minlength=num_codes).double()
    p = p[p > 0] / p.sum()
    return float(torch.exp(-(p * p.log()).sum()))


# -- the model ---------------------------------------------------------------------------


class VQVAE(genplug.Model):
    """A VQ-VAE with an EMA codebook; an ``Encoder`` whose latents are discrete codes.

    Arguments:
        config: a :class:`VQVAEConfig`.
    """

    architecture = "vq-vae"
    config_class = VQVAEConfig
    log_prob_kinds = ("elbo",)
    train_defaults = {"lr": 1e-3, "batch_size": 128, "steps": 6000}
    conformance_configs = (
        {"hidden": 4, "embedding_dim": 3, "num_codes": 8},
        {"hidden": 4, "downsamples": 2, "res_blocks": 0, "embedding_dim": 2, "num_codes": 4, "output": "mean"},
    )

    def __init__(self, config: VQVAEConfig) -> None:
        super().__init__(config)
        c = config
        self.likelihood = make_likelihood(c.likelihood, levels=c.levels)
        channels = c.data_shape[0]
        self.encoder = conv_encoder(channels, c.hidden, c.downsamples, c.res_blocks, c.embedding_dim)
        self.decoder = conv_decoder(
            c.embedding_dim, c.hidden, c.downsamples, c.res_blocks, self.likelihood.n_params * channels
        )
        self.codebook = Codebook(c.num_codes, c.embedding_dim, c.ema_decay, c.epsilon, c.restart_threshold)

    def conformance_batch(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Test data for genplug.testing: uniform values on the grid k / (levels - 1)."""
        steps = self.config.levels - 1
        return torch.randint(0, steps + 1, (n, *self.config.data_shape), generator=generator).float() / steps

    @property
    def log_prob_discrete(self) -> bool:  # type: ignore[override]
        """``True`` with the discretized logistic likelihood: the ELBO bounds the probability of discrete data."""
        return self.config.likelihood == "logistic"

    # -- the encoder protocol ------------------------------------------------------------

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """The shape of one latent, the quantised grid: ``(embedding_dim, h, w)``."""
        return (self.config.embedding_dim, *self.config.code_shape)

    @property
    def code_shape(self) -> tuple[int, ...]:
        """The shape of one example's codes: ``(h, w)``."""
        return self.config.code_shape

    @property
    def num_codes(self) -> int:
        """K, the codebook's size: codes are ``0 .. num_codes - 1``."""
        return self.config.num_codes

    def quantize(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Steps 1-2: the codes ``(B, h, w)`` of the encoder output ``z_e`` ``(B, D, h, w)``, and
        ``z_e + sg[z_q - z_e]``: z_q in value, with the decoder's gradient passed to z_e."""
        B, D, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, D)  # (B h w, D), one row per cell
        codes = self.codebook.nearest(flat).view(B, h, w)
        z_q = self.embed_codes(codes).to(z_e.dtype)
        return codes, z_e + (z_q - z_e).detach()

    def encode(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> genplug.Latent:
        """The codes of ``x`` and their embeddings: a ``Latent`` whose ``sample`` and ``mean``
        are z_q ``(B, D, h, w)`` (straight-through: gradients reach the encoder), ``codes``
        ``(B, h, w)`` int64 and ``scale`` None (the posterior is a point mass)."""
        self._check_input(x)
        codes, z_q = self.quantize(self.encoder(x))
        return genplug.Latent(sample=z_q, mean=z_q, codes=codes)

    def embed_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``(B, h, w)`` to their embeddings z_q ``(B, D, h, w)``."""
        codes = torch.as_tensor(codes, device=self.codebook.embedding.device)
        if codes.is_floating_point() or codes.ndim != 3 or tuple(codes.shape[1:]) != self.code_shape:
            raise GenplugError(
                f"codes are integers of shape (B, {', '.join(map(str, self.code_shape))}); got {codes.dtype} "
                f"{tuple(codes.shape)}"
            )
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.num_codes):
            raise GenplugError(f"codes must be in 0..{self.num_codes - 1}; got {int(codes.min())}..{int(codes.max())}")
        return self.codebook.embedding[codes.long()].permute(0, 3, 1, 2)  # (B, h, w, D) -> (B, D, h, w)

    def decoder_params(self, z: torch.Tensor) -> torch.Tensor:
        """The likelihood's parameters for the grid ``z`` ``(B, D, h, w)``: ``(B, n_params * C, H, W)``."""
        if tuple(z.shape[1:]) != self.latent_shape:
            raise GenplugError(
                f"the decoder takes latents of shape (B, {', '.join(map(str, self.latent_shape))}), got "
                f"{tuple(z.shape)}"
            )
        return self.decoder(z.to(self.codebook.embedding.dtype))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder mean E[x | z] of a grid ``z`` ``(B, D, h, w)``, in [0, 1] for the logistic."""
        return self.likelihood.mean(self.decoder_params(z)).clamp(0, 1)

    def decode_sample(self, z: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """A draw x ~ p(x | z) of a grid ``z`` ``(B, D, h, w)``."""
        return self.likelihood.sample(self.decoder_params(z), generator=generator).clamp(0, 1)

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """The decoder mean E[x | z_q] of codes ``(B, h, w)``: ``(B, *data_shape)``."""
        return self.decode(self.embed_codes(codes))

    def _check_input(self, x: torch.Tensor) -> None:
        if tuple(x.shape[1:]) != self.event_shape:
            raise GenplugError(
                f"the VQ-VAE takes examples of shape (B, {', '.join(map(str, self.event_shape))}), got {tuple(x.shape)}"
            )

    # -- the uniform prior -----------------------------------------------------------------

    def sample(self, n: int, *, generator: torch.Generator | None = None, output: str | None = None) -> torch.Tensor:
        """Decode ``n`` grids of codes drawn uniformly (the paper's prior): ``(n, *data_shape)``.
        Not data-like; a learned prior (genplug-hybrid's ``vq-transformer``) is."""
        output = output or self.config.output
        if output not in OUTPUTS:
            raise GenplugError(f"output={output!r}; choose 'draw' (x ~ p(x | z)) or 'mean' (E[x | z])")
        source = generator.device if generator is not None else self.device
        codes = torch.randint(0, self.num_codes, (n, *self.code_shape), generator=generator, device=source)
        z_q = self.embed_codes(codes.to(self.device))
        return self.decode(z_q) if output == "mean" else self.decode_sample(z_q, generator=generator)

    def log_likelihood(self, x: torch.Tensor, codes: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x | z_q) in nats, ``(B,)``, at ``codes`` (default: the encoder's codes of ``x``)."""
        if codes is None:
            codes = self.encode(x).codes
        else:
            self._check_input(x)
        return self.likelihood.log_prob(x, self.decoder_params(self.embed_codes(codes)))

    def log_prob(self, x: torch.Tensor, *, kind: str | None = None, generator: torch.Generator | None = None):
        """The ELBO with the uniform prior, log p(x | z*) - h w log K, ``(B,)`` nats."""
        if kind not in (None, "elbo"):
            raise GenplugError(f"the VQ-VAE computes log_prob kind 'elbo' only; got kind={kind!r}")
        return self.log_likelihood(x) - math.prod(self.code_shape) * math.log(self.num_codes)

    @torch.no_grad()
    def usage(self, x: torch.Tensor, *, batch_size: int = 512) -> dict[str, float]:
        """Codebook usage on the examples ``x``: the perplexity of their codes' histogram and
        the number of distinct codes they use."""
        codes = torch.cat([self.encode(chunk.to(self.device)).codes.flatten() for chunk in x.split(batch_size)])
        return {"perplexity": perplexity(codes, self.num_codes), "codes_used": int(codes.unique().numel())}

    # -- training --------------------------------------------------------------------------

    def loss(
        self, batch: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """-log p(x | z_q) + commitment * ||z_e - sg[z_q]||^2, nats per example (the mean over
        the batch), and its figures. In training mode with gradients on, it also updates
        the codebook (steps 4-5; dead codes restart from this batch, drawn with ``generator``)."""
        self._check_input(batch)
        z_e = self.encoder(batch)  # (B, D, h, w)
        codes, z_st = self.quantize(z_e)
        nll = -self.likelihood.log_prob(batch, self.decoder_params(z_st))  # (B,)
        commit = (z_e - z_st.detach()).pow(2).flatten(1).sum(1)  # (B,); z_st.detach() is z_q
        loss = (nll + self.config.commitment * commit).mean()
        restarted = 0
        if self.training and torch.is_grad_enabled():
            flat = z_e.detach().permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])  # (B h w, D)
            self.codebook.ema_update(flat, codes.flatten())
            if self.config.restart_threshold > 0:
                restarted = self.codebook.restart_dead(flat, generator)
        figures = {
            "nll": float(nll.mean().detach()),
            "commitment": float(commit.mean().detach()),
            "perplexity": perplexity(codes, self.num_codes),
            "restarted": float(restarted),
        }
        return loss, figures
