"""A residual MLP denoiser for vectors and 2-D data.

x_t (flattened) goes through a linear layer into ``hidden`` features, then ``blocks``
pre-norm residual blocks that each add a projection of the timestep embedding, then a
normalised linear output layer. A class-conditional MLP adds a label embedding to the
timestep embedding, as the UNet does. PyTorch's default initialisation throughout: no layer
starts at zero, so every parameter gets a gradient from the first step.
"""

from __future__ import annotations

import torch
from torch import nn

from genplug_diffusion.unet import LabelEmbedding, timestep_embedding

__all__ = ["MLPDenoiser", "ResidualBlock"]


class ResidualBlock(nn.Module):
    """LayerNorm → SiLU → Linear (+ time) → SiLU → Linear, added to the input."""

    def __init__(self, hidden: int, time_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.fc1 = nn.Linear(hidden, hidden)
        self.time = nn.Linear(time_dim, hidden)
        self.fc2 = nn.Linear(hidden, hidden)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        out = self.fc1(nn.functional.silu(self.norm(h))) + self.time(emb)  # (B, hidden)
        return h + self.fc2(nn.functional.silu(out))


class MLPDenoiser(nn.Module):
    """Predicts ε or v for a batch of vectors (any event shape, flattened).

    Arguments:
        features: the number of values in one example (2 for 2-D points).
        hidden: the width of the residual stream.
        blocks: the number of residual blocks.
        classes: > 0: class-conditional (the null label is ``classes``); 0: unconditional.
    """

    def __init__(self, features: int, hidden: int, blocks: int, classes: int = 0) -> None:
        super().__init__()
        self.hidden = hidden
        self.time_mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.label_embed = LabelEmbedding(classes, hidden) if classes else None
        self.inp = nn.Linear(features, hidden)
        self.blocks = nn.ModuleList(ResidualBlock(hidden, hidden) for _ in range(blocks))
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, features)

    def forward(self, x: torch.Tensor, t: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        shape = x.shape
        emb = self.time_mlp(timestep_embedding(t, self.hidden).to(x.dtype))  # (B, hidden)
        if self.label_embed is not None:
            emb = emb + self.label_embed(label, len(x))
        h = self.inp(x.flatten(1))  # (B, hidden)
        for block in self.blocks:
            h = block(h, emb)
        return self.out(nn.functional.silu(self.norm(h))).view(shape)
