"""``dit``: a diffusion model whose denoiser is a transformer over image patches (DiT).

genplug-diffusion's :class:`~genplug_diffusion.DiffusionModel` keeps everything that
makes it a diffusion model: the noise schedule, the loss, the ELBO, classifier-free
guidance and the samplers (``ddpm``, ``ddim``, ``dpm-solver++``, ``unipc``), which see
only its ``predict``. :class:`DiT` composes a different network in: a transformer built
from genplug-autoregressive's :class:`~genplug_autoregressive.model.Block`, run
bidirectionally (``causal=False``) and conditioned by adaptive LayerNorm. Read top to
bottom: the config, the denoiser network, the model.

The denoiser, for an image ``(C, H, W)`` cut into ``p × p`` patches::

    x_t (B, C, H, W) --patchify--> (B, N, D) tokens, N = HW / p², + learned positions
    c = MLP(sinusoid(t)) + embed(label)               (B, D): one vector per example
    for each block:  (shift, scale, gate) x 2 = Linear(SiLU(c))     adaLN-Zero
                     h = h + gate_1 * attn(LN(h) * (1 + scale_1) + shift_1)
                     h = h + gate_2 * mlp(LN(h) * (1 + scale_2) + shift_2)
    LN(h) * (1 + scale) + shift, Linear to p²C values per token --unpatchify--> (B, C, H, W)

Two options of U-ViT (``long_skips``, ``conv_out``; both off by default, both on in the
packaged weights): the outputs of the first ``(n_layer - 1) // 2`` blocks go into the last
as many blocks, ``h = Linear(concat(h, skip))`` before each (the shallowest output to the
last block), and a 3x3 convolution smooths the unpatchified output.

*adaLN-Zero*: every modulation layer and the output layer start at zero, so each block
starts as the identity and the untrained network predicts exactly 0 for every input.
The label embedding is genplug-diffusion's (a null label ``classes`` for classifier-free
guidance, starting at zero).

References:
    Peebles & Xie, "Scalable Diffusion Models with Transformers", ICCV 2023,
    arXiv:2212.09748 (DiT; its models.py for the blocks and the initialisation).
    Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021, arXiv:2010.11929 (patches).
    Bao et al., "All are Worth Words: A ViT Backbone for Diffusion Models", CVPR 2023,
    arXiv:2209.12152 (U-ViT: the long skips and the output convolution).

Example:
    >>> import genplug, torch
    >>> model = genplug.create("dit", n_layer=1, n_head=2, n_embd=16, num_train_timesteps=100)
    >>> x = model.sample(2, sampler="unipc", steps=4, generator=torch.Generator().manual_seed(0))
    >>> x.shape, model.net.tokens
    (torch.Size([2, 1, 8, 8]), 16)
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import torch
from genplug_autoregressive.model import Block
from genplug_diffusion import DiffusionConfig, DiffusionModel
from genplug_diffusion.unet import LabelEmbedding, timestep_embedding
from torch import nn

from genplug import ConfigError
from genplug import validators as v

__all__ = ["DiT", "DiTConfig", "DiTTrainOptions", "TransformerDenoiser"]

MAX_WIDTH = 4096  # bound on n_embd, as on the autoregressive transformer's
MAX_LAYERS = 64  # bound on n_layer and n_head


@attrs.frozen(kw_only=True)
class DiTConfig(DiffusionConfig):
    """The configuration of a ``dit`` model: a :class:`DiffusionConfig` (schedule, prediction
    type, labels, guidance, data scaling) whose network is a transformer over patches.

    The UNet's and the MLP's fields (``channels``, ``channel_mults``, ``res_blocks``,
    ``attention_heads``, ``hidden``, ``mlp_blocks``) are inherited and unused; ``dropout``
    is the transformer's.
    """

    denoiser: str = attrs.field(default="transformer", validator=v.one_of("transformer"))  # always the transformer
    patch_size: int = attrs.field(default=2, validator=v.in_range(1, 64, integer=True))  # p: patches are p x p pixels
    n_layer: int = attrs.field(default=6, validator=v.in_range(1, MAX_LAYERS, integer=True))  # transformer blocks
    n_head: int = attrs.field(default=4, validator=v.in_range(1, MAX_LAYERS, integer=True))  # heads; divide n_embd
    n_embd: int = attrs.field(default=80, validator=v.in_range(2, MAX_WIDTH, integer=True))  # width of the tokens
    # U-ViT's long skips (Bao et al. 2023): the outputs of the first (n_layer - 1) // 2 blocks
    # are concatenated to the inputs of the last as many, each through a linear map 2D -> D
    long_skips: bool = attrs.field(default=False, validator=v.one_of(False, True))
    conv_out: bool = attrs.field(default=False, validator=v.one_of(False, True))  # a 3x3 conv after unpatchifying

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if len(self.data_shape) != 3:
            raise ConfigError(
                f"DiTConfig.data_shape={self.data_shape} is not an image (C, H, W); a DiT cuts images into "
                "patches (use genplug-diffusion's 'diffusion' for vectors)"
            )
        _, height, width = self.data_shape
        if height % self.patch_size or width % self.patch_size:
            raise ConfigError(
                f"DiTConfig.patch_size={self.patch_size} must divide the image's {height}x{width}; "
                "choose a divisor of both sides (2 for digits)"
            )
        if self.n_embd % self.n_head:
            raise ConfigError(f"DiTConfig.n_embd={self.n_embd} must be a multiple of n_head={self.n_head}")
        if height * width // self.patch_size**2 > 4096:
            raise ConfigError(
                f"DiTConfig: {height}x{width} images in {self.patch_size}x{self.patch_size} patches make more than "
                "4096 tokens; use larger patches"
            )


@attrs.frozen(kw_only=True)
class DiTTrainOptions:
    """The training options of a :class:`DiT`: ``genplug train dit -t beta2=0.99``. The
    defaults are the packaged weights' (scripts/train_dit.py): a second beta of 0.95 instead
    of torch's 0.999, and no weight decay (torch's AdamW: 0.01); with a learning rate of
    2e-3 these gave a lower FD after 500 steps than torch's defaults at 1e-3 (the README)."""

    beta2: float = attrs.field(default=0.95, validator=v.in_range(0.0, 1.0, open_high=True))  # AdamW's second beta
    weight_decay: float = attrs.field(default=0.0, validator=v.in_range(0.0, 10.0))  # AdamW's, on every parameter


class TransformerDenoiser(nn.Module):
    """Predicts ε or v for images ``(B, C, H, W)`` at integer timesteps ``(B,)``: DiT.

    Arguments:
        data_shape: ``(C, H, W)``; ``patch`` divides H and W.
        patch: the side of a patch, in pixels.
        n_layer, n_head, n_embd: the transformer's depth, heads and width.
        dropout: on the residual branches of the blocks.
        long_skips: U-ViT's long skip connections: the outputs of the first
            ``(n_layer - 1) // 2`` blocks go, shallowest last, into the last as many blocks:
            ``h = Linear(concat(h, skip))`` before each.
        conv_out: a 3x3 convolution on the unpatchified output (U-ViT's last layer); it
            smooths the seams between patches.
        classes: > 0: class-conditional; labels 0 … classes-1, and ``classes`` itself is
            the null label, which ``label=None`` means. 0: unconditional.
    """

    def __init__(
        self,
        data_shape: tuple[int, int, int],
        patch: int,
        n_layer: int,
        n_head: int,
        n_embd: int,
        dropout: float = 0.0,
        classes: int = 0,
        long_skips: bool = False,
        conv_out: bool = False,
    ) -> None:
        super().__init__()
        channels, height, width = data_shape
        self.data_shape, self.patch, self.n_embd = tuple(data_shape), patch, n_embd
        self.tokens = height * width // patch**2
        self.patchify = nn.Conv2d(channels, n_embd, patch, stride=patch)  # one linear map per patch
        self.position = nn.Parameter(torch.zeros(1, self.tokens, n_embd))  # learned, raster order
        self.time_mlp = nn.Sequential(nn.Linear(n_embd, n_embd), nn.SiLU(), nn.Linear(n_embd, n_embd))
        self.label_embed = LabelEmbedding(classes, n_embd) if classes else None
        self.blocks = nn.ModuleList(Block(n_embd, n_head, dropout, 0.0, True, causal=False) for _ in range(n_layer))
        # per block, the six modulation vectors (shift, scale, gate for attention, then for the MLP) from c
        self.modulation = nn.ModuleList(nn.Sequential(nn.SiLU(), nn.Linear(n_embd, 6 * n_embd)) for _ in range(n_layer))
        n_skip = (n_layer - 1) // 2 if long_skips else 0
        self.skips = nn.ModuleList(nn.Linear(2 * n_embd, n_embd) for _ in range(n_skip))  # U-ViT's skip_linear
        self.norm_out = nn.LayerNorm(n_embd, elementwise_affine=False)
        self.modulation_out = nn.Sequential(nn.SiLU(), nn.Linear(n_embd, 2 * n_embd))  # shift, scale
        self.out = nn.Linear(n_embd, patch * patch * channels)
        self.conv_out = nn.Conv2d(channels, channels, 3, padding=1) if conv_out else None
        self._init_weights()

    def _init_weights(self) -> None:
        """All initialisation in one place, as DiT's ``initialize_weights``."""
        for module in self.modules():  # Xavier-uniform linear layers (the blocks' too), zero biases
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.xavier_uniform_(self.patchify.weight.view(self.n_embd, -1))  # the patch embedding as a linear map
        nn.init.zeros_(self.patchify.bias)
        if self.conv_out is not None:  # torch's default weights; a zero bias keeps the first prediction 0
            nn.init.zeros_(self.conv_out.bias)
        nn.init.normal_(self.position, std=0.02)
        for layer in (self.time_mlp[0], self.time_mlp[2]):
            nn.init.normal_(layer.weight, std=0.02)
        # (LabelEmbedding initialises itself: classes N(0, 0.02²), the null label zero.)
        # adaLN-Zero: no modulation and no output at first, so every block is the identity
        # and the network predicts 0.
        for layer in (*(m[1] for m in self.modulation), self.modulation_out[1], self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        B, C, H, W = x.shape
        p, D = self.patch, self.n_embd
        c = self.time_mlp(timestep_embedding(t, D).to(x.dtype))  # (B, D)
        if self.label_embed is not None:
            c = c + self.label_embed(label, B)  # the class shifts the time embedding, as in DiT
        h = self.patchify(x).flatten(2).transpose(1, 2) + self.position  # (B, N, D), patches in raster order
        stack, first_out = [], len(self.blocks) - len(self.skips)  # skips: blocks [0, n_skip) -> [first_out, n_layer)
        for i, (block, modulation) in enumerate(zip(self.blocks, self.modulation, strict=True)):
            if i >= first_out:
                h = self.skips[i - first_out](torch.cat([h, stack.pop()], dim=-1))
            h, _ = block(h, modulation=modulation(c).view(B, 6, D))
            if i < len(self.skips):
                stack.append(h)
        shift, scale = self.modulation_out(c).view(B, 2, 1, D).unbind(1)  # each (B, 1, D)
        h = self.out(self.norm_out(h) * (1 + scale) + shift)  # (B, N, p·p·C)
        h = h.view(B, H // p, W // p, p, p, C)  # (B, rows, cols, p, p, C)
        h = h.permute(0, 5, 1, 3, 2, 4).reshape(B, C, H, W)  # patches back in place
        return h if self.conv_out is None else self.conv_out(h)


class DiT(DiffusionModel):
    """A diffusion model with a transformer denoiser: ``genplug train dit --data digits``.

    Everything but the network is :class:`~genplug_diffusion.DiffusionModel`'s: ``sample``
    with every diffusion sampler and ``label``/``guidance``, ``loss``, ``log_prob``
    (the ELBO).

    Arguments:
        config: a :class:`DiTConfig`.
    """

    architecture = "dit"
    config_class = DiTConfig
    train_options_class = DiTTrainOptions
    #: The packaged weights' recipe (scripts/train_dit.py, one stage with labels): batches of
    #: 128 and EMA 0.999 as the UNet's, a higher learning rate with a short warm-up and a
    #: cosine decay (and DiTTrainOptions' defaults: AdamW's beta2 0.95, no weight decay).
    train_defaults: ClassVar[dict[str, Any]] = {
        "lr": 2e-3,
        "batch_size": 128,
        "steps": 9000,
        "ema": 0.999,
        "schedule": "cosine",
        "warmup_steps": 100,
    }
    #: Small configs for genplug's conformance kit: ε on discrete digits, v with 4x4 patches,
    #: and a class-conditional model with label dropout and guidance.
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {"n_layer": 1, "n_head": 2, "n_embd": 16, "num_train_timesteps": 100, "levels": 17},
        {
            "n_layer": 2,
            "n_head": 1,
            "n_embd": 8,
            "patch_size": 4,
            "prediction_type": "v_prediction",
            "num_train_timesteps": 100,
        },
        {
            "n_layer": 1,
            "n_head": 2,
            "n_embd": 16,
            "num_train_timesteps": 100,
            "levels": 17,
            "classes": 3,
            "label_dropout": 0.1,
            "guidance": 2.0,
        },
    )

    def configure_optimizers(self, config: Any) -> dict[str, torch.optim.Optimizer]:
        """AdamW at ``config.lr`` with the :class:`DiTTrainOptions`' second beta and weight decay."""
        options = config.model_options(self) if hasattr(config, "model_options") else DiTTrainOptions()
        lr = config if isinstance(config, (int, float)) else config.lr
        return {
            "model": torch.optim.AdamW(
                self.parameters(), lr=lr, betas=(0.9, options.beta2), weight_decay=options.weight_decay
            )
        }

    def build_net(self, config: DiTConfig) -> TransformerDenoiser:  # type: ignore[override]
        return TransformerDenoiser(
            config.data_shape,
            patch=config.patch_size,
            n_layer=config.n_layer,
            n_head=config.n_head,
            n_embd=config.n_embd,
            dropout=config.dropout,
            classes=config.classes,
            long_skips=config.long_skips,
            conv_out=config.conv_out,
        )
