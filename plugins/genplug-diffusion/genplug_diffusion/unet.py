"""A small UNet denoiser for images from 8×8 to 32×32.

The DDPM/ADM design, scaled down: a sinusoidal timestep embedding (plus, for a
class-conditional model, a learned embedding of the class label) fed to every residual
block, ``blocks`` residual blocks per resolution level, a stride-2 convolution between
levels, self-attention in the middle at the lowest resolution, and a mirrored upsampling
path that concatenates the skip connections. Level ``i`` has ``channels * mults[i]``
channels; with ``len(mults)`` levels the lowest resolution is the input's divided by
``2 ** (len(mults) - 1)``.

References:
    Ronneberger, Fischer & Brox, "U-Net", 2015, arXiv:1505.04597.
    Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", 2020, arXiv:2006.11239.
    Dhariwal & Nichol, "Diffusion Models Beat GANs on Image Synthesis", 2021,
    arXiv:2105.05233 (the ADM UNet).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["Attention", "LabelEmbedding", "ResBlock", "UNet", "timestep_embedding"]


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal features of the timesteps ``t`` (B,): ``(B, dim)`` (Vaswani et al. / DDPM)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]  # (B, half)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return F.pad(emb, (0, dim % 2))


class LabelEmbedding(nn.Module):
    """A learned vector per class label, plus one for the null label ``classes`` (no class).

    Added to the timestep embedding (as in ADM and DiT), so every residual block sees the
    class. Training replaces a fraction of the labels by the null label (label dropout),
    which teaches the same network the unconditional prediction that classifier-free
    guidance needs. The classes start N(0, 0.02²) as in DiT, a small shift; the null label
    starts at zero, no shift at all, so a network given the weights of an unconditional
    model samples as that model did until it is trained with labels.
    """

    def __init__(self, classes: int, dim: int) -> None:
        super().__init__()
        self.classes = classes
        self.table = nn.Embedding(classes + 1, dim)
        nn.init.normal_(self.table.weight, std=0.02)
        with torch.no_grad():
            self.table.weight[classes].zero_()  # the null label

    def forward(self, label: torch.Tensor | None, batch: int) -> torch.Tensor:
        if label is None:  # unconditional: the null label for every example
            label = torch.full((batch,), self.classes, dtype=torch.long, device=self.table.weight.device)
        return self.table(label)  # (B, dim)


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(8 if channels % 8 == 0 else 1, channels)


class ResBlock(nn.Module):
    """GroupNorm → SiLU → conv (+ time) → GroupNorm → SiLU → dropout → conv, plus a skip."""

    def __init__(self, in_ch: int, out_ch: int, time_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = _norm(in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.time = nn.Linear(time_dim, out_ch)
        self.norm2 = _norm(out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, out, H, W)
        h = h + self.time(emb)[:, :, None, None]  # a per-channel shift from the timestep
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class Attention(nn.Module):
    """Multi-head self-attention over the pixels of a feature map, with a residual."""

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm = _norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, self.heads, C // self.heads, H * W).unbind(1)
        # (B, nh, hs, HW) -> (B, nh, HW, hs) for attention over the HW positions
        out = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.proj(out.transpose(-1, -2).reshape(B, C, H, W))


class UNet(nn.Module):
    """Predicts ε or v for a batch of images ``(B, C, H, W)`` at integer timesteps ``(B,)``.

    Arguments:
        in_channels: image channels C.
        channels: the width of the first level.
        mults: per-level width multipliers; H and W must be divisible by
            ``2 ** (len(mults) - 1)``.
        blocks: residual blocks per level on the way down (one more on the way up).
        heads: attention heads in the middle; must divide the lowest level's width.
        dropout: dropout inside the residual blocks.
        classes: > 0: class-conditional; labels 0 … classes-1, and ``classes`` itself is
            the null label (no class), which ``label=None`` means. 0: unconditional.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        mults: tuple[int, ...],
        blocks: int,
        heads: int,
        dropout: float,
        classes: int = 0,
    ) -> None:
        super().__init__()
        self.channels = channels
        time_dim = 4 * channels
        self.time_mlp = nn.Sequential(nn.Linear(channels, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim))
        self.label_embed = LabelEmbedding(classes, time_dim) if classes else None
        self.conv_in = nn.Conv2d(in_channels, channels, 3, padding=1)

        # down: record the width of every skip connection as we go
        self.down = nn.ModuleList()
        widths = [channels]
        ch = channels
        for level, mult in enumerate(mults):
            for _ in range(blocks):
                self.down.append(ResBlock(ch, channels * mult, time_dim, dropout))
                ch = channels * mult
                widths.append(ch)
            if level < len(mults) - 1:
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                widths.append(ch)

        self.mid1 = ResBlock(ch, ch, time_dim, dropout)
        self.mid_attn = Attention(ch, heads)
        self.mid2 = ResBlock(ch, ch, time_dim, dropout)

        # up: each block takes the matching skip, concatenated on the channels
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(mults))):
            for _ in range(blocks + 1):
                self.up.append(ResBlock(ch + widths.pop(), channels * mult, time_dim, dropout))
                ch = channels * mult
            if level > 0:
                self.up.append(
                    nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch, ch, 3, padding=1))
                )

        self.norm_out = _norm(ch)
        self.conv_out = nn.Conv2d(ch, in_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.channels).to(x.dtype))  # (B, 4·channels)
        if self.label_embed is not None:
            emb = emb + self.label_embed(label, len(x))  # the class shifts the time embedding
        h = self.conv_in(x)  # (B, channels, H, W)
        skips = [h]
        for layer in self.down:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
            skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)  # lowest resolution
        for layer in self.up:
            if isinstance(layer, ResBlock):
                h = layer(torch.cat([h, skips.pop()], dim=1), emb)
            else:
                h = layer(h)
        return self.conv_out(F.silu(self.norm_out(h)))
