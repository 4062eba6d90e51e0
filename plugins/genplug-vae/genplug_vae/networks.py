"""The VAE's encoder and decoder networks: convolutional for images, MLPs for vectors.

Each block takes plain ints. Encoders map data to ``out_features`` numbers (the posterior's
mean and raw scale); decoders map a latent vector to ``out_channels`` maps (images) or
``out_features`` numbers (vectors): the likelihood's parameters. A conditional VAE passes
``cond`` extra features (a one-hot class label) to each network: the encoder appends them
to its flattened features, the decoder to the latent.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["ConvDecoder", "ConvEncoder", "MLP"]


class ConvEncoder(nn.Module):
    """(B, C, H, W) -> (B, out_features): a 3x3 stem, ``downsamples`` stride-2 convolutions
    that double the channels, then a two-layer MLP head with ``dropout`` on its hidden layer."""

    def __init__(
        self,
        channels: int,
        height: int,
        width: int,
        hidden: int,
        downsamples: int,
        mlp_hidden: int,
        out_features: int,
        dropout: float = 0.0,
        cond: int = 0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, hidden, 3, padding=1), nn.SiLU()]
        ch = hidden
        for _ in range(downsamples):
            layers += [nn.Conv2d(ch, 2 * ch, 4, stride=2, padding=1), nn.SiLU()]
            ch *= 2
        self.features = nn.Sequential(*layers)
        flat = ch * (height >> downsamples) * (width >> downsamples)
        self.head = nn.Sequential(
            nn.Flatten(),  # a no-op on the flat features; kept so the weights' names stay head.1 and head.4
            nn.Linear(flat + cond, mlp_hidden),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_hidden, out_features),
        )

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x).flatten(1)  # (B, C, H, W) -> (B, ch * H/2^d * W/2^d)
        return self.head(h if cond is None else torch.cat([h, cond], 1))  # (B, out)


class ConvDecoder(nn.Module):
    """(B, L) -> (B, out_channels, H, W): the mirror of :class:`ConvEncoder`."""

    def __init__(
        self,
        latent: int,
        height: int,
        width: int,
        hidden: int,
        downsamples: int,
        mlp_hidden: int,
        out_channels: int,
        dropout: float = 0.0,
        cond: int = 0,
    ) -> None:
        super().__init__()
        ch = hidden * 2**downsamples
        self.start = (ch, height >> downsamples, width >> downsamples)
        self.head = nn.Sequential(
            nn.Linear(latent + cond, mlp_hidden),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_hidden, math.prod(self.start)),
            nn.SiLU(),
        )
        layers: list[nn.Module] = []
        for _ in range(downsamples):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, stride=2, padding=1), nn.SiLU()]
            ch //= 2
        layers.append(nn.Conv2d(ch, out_channels, 3, padding=1))
        self.features = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = self.head(z if cond is None else torch.cat([z, cond], 1)).view(-1, *self.start)  # (B, ch, H/2^d, W/2^d)
        return self.features(h)  # (B, out_channels, H, W)


class MLP(nn.Module):
    """(B, *shape) -> (B, out_features): flatten (and append ``cond``), then ``depth`` hidden
    layers of ``width`` with ``dropout`` after each."""

    def __init__(
        self, in_features: int, width: int, depth: int, out_features: int, dropout: float = 0.0, cond: int = 0
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]  # a no-op after forward's flatten; keeps the weights' names
        size = in_features + cond
        for _ in range(depth):
            layers += [nn.Linear(size, width), nn.SiLU(), nn.Dropout(dropout)]
            size = width
        layers.append(nn.Linear(size, out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = x.flatten(1)
        return self.net(h if cond is None else torch.cat([h, cond], 1))
