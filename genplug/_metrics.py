"""Metrics behind ``genplug eval``.

Images (``digits``): the Fréchet distance (FD) between samples and the held-out test
digits in the 64-d penultimate features of a small digit classifier that the project
trained once with a fixed seed (``scripts/train_digit_classifier.py``) and ships as
``_assets/digit_classifier.safetensors``; the classifier's mean confidence on the
samples; and how evenly the samples cover the 10 classes (the normalised entropy of the
predicted-class histogram: 1 is perfectly even, 0 is a single class). The held-out-vs-train
FD is reported beside it as the floor a perfect model would reach.

Models with ``log_prob``: NLL of the test split in nats per example and bits per
dimension, for each declared kind (``exact`` or a bound). 2-D densities: the same, on
held-out points.

References:
    Heusel et al., GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
    Equilibrium (FID), 2017, https://arxiv.org/abs/1706.08500
"""

from __future__ import annotations

import math
from importlib import resources
from typing import Any

import torch
from torch import nn

from genplug._api import sample
from genplug._data import Data, load_data
from genplug._errors import GenplugError
from genplug._files import load_tensors
from genplug._folder import check_state

__all__ = [
    "CLASSIFIER_ASSET",
    "DigitClassifier",
    "FEATURES",
    "classify",
    "coverage",
    "digit_classifier",
    "frechet_distance",
    "frechet_metric",
    "image_scores",
    "nll_metric",
]

CLASSIFIER_ASSET = "_assets/digit_classifier.safetensors"
FEATURES = 64


class DigitClassifier(nn.Module):
    """A small CNN for 8x8 digits; ``features`` is the 64-d space FD is measured in."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),   # (B, 32, 8, 8)
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),  # (B, 64, 8, 8)
            nn.AvgPool2d(2),                              # (B, 64, 4, 4)
            nn.Flatten(),
            nn.Linear(64 * 16, FEATURES), nn.ReLU(),      # (B, 64) features
        )  # fmt: skip
        self.head = nn.Linear(FEATURES, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


_classifier: DigitClassifier | None = None


def digit_classifier() -> DigitClassifier:
    """The shipped classifier, loaded once (safetensors, strict)."""
    global _classifier
    if _classifier is None:
        path = resources.files("genplug").joinpath(CLASSIFIER_ASSET)
        model = DigitClassifier()
        tensors = load_tensors(path)  # type: ignore[arg-type]
        check_state(model, tensors, source=str(path))
        model.load_state_dict(tensors)
        _classifier = model.eval()
    return _classifier


@torch.no_grad()
def classify(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Features ``(N, 64)`` and class probabilities ``(N, 10)`` of ``(N, 1, 8, 8)`` images."""
    if tuple(x.shape[1:]) != (1, 8, 8):
        raise GenplugError(f"the digit classifier scores (N, 1, 8, 8) images; got samples of shape {tuple(x.shape)}")
    net = digit_classifier()
    feats = torch.cat([net.body(chunk) for chunk in x.float().cpu().clamp(0, 1).split(1024)])
    return feats, net.head(feats).softmax(-1)


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """FD between Gaussians fitted to feature sets ``a`` and ``b`` ``(N, D)``, in float64.

    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2)``, with the matrix square
    roots from symmetric eigendecompositions (no SciPy needed).

    Example:
        >>> import torch
        >>> a = torch.randn(100_000, 2, generator=torch.Generator().manual_seed(0))
        >>> round(frechet_distance(a, a + torch.tensor([3.0, 4.0])), 3)  # |mean shift|^2
        25.0
    """
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    vals, vecs = torch.linalg.eigh(cov_a)
    root_a = vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T
    middle = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp_min(0).sqrt().sum()
    fd = (mu_a - mu_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * middle
    return float(fd.clamp_min(0))


def coverage(probs: torch.Tensor) -> float:
    """Normalised entropy of the predicted-class histogram: 1 even, 0 one class."""
    counts = torch.bincount(probs.argmax(-1), minlength=probs.shape[1]).double()
    p = counts / counts.sum()
    entropy = -(p[p > 0] * p[p > 0].log()).sum()
    return float(entropy / math.log(probs.shape[1]))


def image_scores(samples: torch.Tensor, reference: Data, train: Data | None = None) -> dict[str, Any]:
    """FD against ``reference`` (and the floor against ``train``), confidence, coverage."""
    feats, probs = classify(samples)
    ref_feats, _ = classify(reference.x)
    scores: dict[str, Any] = {
        "fd": frechet_distance(feats, ref_feats),
        "confidence": float(probs.max(-1).values.mean()),
        "coverage": coverage(probs),
        "class_counts": torch.bincount(probs.argmax(-1), minlength=10).tolist(),
    }
    if train is not None:
        floor = frechet_distance(classify(train.x)[0], ref_feats)
        scores["fd_floor"] = floor
        scores["fd_ratio"] = scores["fd"] / floor
    return scores


def frechet_metric(
    model: Any,
    data: str,
    *,
    n: int,
    generator: torch.Generator | None,
    sampler: str | None = None,
    steps: int | None = None,
) -> dict[str, Any]:
    """``genplug eval``'s image metric: draw ``n`` samples and score them against ``data``."""
    test, train = load_data(data, "test"), load_data(data, "train")
    samples = torch.cat(
        [
            sample(model, min(500, n - i), sampler=sampler, steps=steps, generator=generator).cpu()
            for i in range(0, n, 500)
        ]
    )
    return image_scores(samples, test, train)


def nll_metric(
    model: Any,
    data: str,
    *,
    n: int,
    generator: torch.Generator | None,
    sampler: str | None = None,
    steps: int | None = None,
) -> dict[str, Any]:
    """NLL of the test split in nats/example and bits/dim for each of the model's kinds.

    The figures are named ``nll_<label>_nats``, where the label is the kind, or what the
    model's ``log_prob_label(kind)`` says (``iwae-100`` for a bound with 100 samples).
    """
    kinds = tuple(getattr(model, "log_prob_kinds", ()) or ())
    if not kinds:
        return {}
    test = load_data(data, "test")
    dims = math.prod(test.shape)
    scores: dict[str, Any] = {}
    with torch.no_grad():
        for kind in kinds:
            label = model.log_prob_label(kind) if callable(getattr(model, "log_prob_label", None)) else kind
            parts = [
                model.log_prob(chunk.to(model.device), kind=kind, generator=generator).cpu()
                for chunk in test.x.split(256)
            ]
            nll = -float(torch.cat(parts).double().mean())
            scores[f"nll_{label}_nats"] = nll
            scores[f"nll_{label}_bits_per_dim"] = nll / (dims * math.log(2))
    return scores
