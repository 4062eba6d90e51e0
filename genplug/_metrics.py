"""Metrics behind ``genplug eval``.

Images (``digits``): the Fréchet distance (FD) between samples and the held-out test
digits in the 64-d penultimate features of a small digit classifier that the project
trained once with a fixed seed (``scripts/train_digit_classifier.py``) and ships as
``_assets/digit_classifier.safetensors``; the classifier's mean confidence on the
samples; and how evenly the samples cover the 10 classes (the normalised entropy of the
predicted-class histogram: 1 is perfectly even, 0 is a single class). The held-out-vs-train
FD is reported beside it as the floor a perfect model would reach.

Models with ``log_prob``: NLL of the test split in nats per example and in bits per
dimension (images, points), per character (text) or per token (token data), for each
declared kind (``exact`` or a bound), with the space it lives in: ``discrete`` when the
model's ``log_prob_discrete`` says it is the probability of discrete data, else
``continuous`` (a density, not comparable with a discrete code length).

Points and vectors: the energy distance between the samples and the held-out points, with
the same statistic for as many training points as its floor: a figure for every model,
with or without a likelihood.

References:
    Heusel et al., GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
    Equilibrium (FID), 2017, https://arxiv.org/abs/1706.08500

    Székely and Rizzo, Energy statistics: A class of statistics based on distances,
    Journal of Statistical Planning and Inference 143(8), 2013,
    https://doi.org/10.1016/j.jspi.2013.03.018
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
from genplug._images import check_unit_range
from genplug._state import check_state

__all__ = [
    "accuracy_metric",
    "class_condition",
    "CLASSIFIER_ASSET",
    "DigitClassifier",
    "FEATURES",
    "classify",
    "conditional_accuracy",
    "coverage",
    "digit_classifier",
    "energy_distance",
    "energy_metric",
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
    check_unit_range(x, what="samples scored by FD")
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


def conditional_accuracy(samples: torch.Tensor, labels: torch.Tensor | int) -> float:
    """How often the shipped digit classifier sees the asked digit: the fraction of
    ``samples`` ``(N, 1, 8, 8)`` whose predicted class is ``labels`` (``(N,)``, or one
    label for all).

    Example:
        >>> import genplug
        >>> test = genplug.load_data("digits", "test")
        >>> conditional_accuracy(test.x, test.y) > 0.97, conditional_accuracy(test.x, 3) < 0.2
        (True, True)
    """
    labels = torch.as_tensor(labels).long().cpu()
    if labels.ndim == 0:
        labels = labels.expand(len(samples))
    if tuple(labels.shape) != (len(samples),):
        raise GenplugError(f"give one label per sample: {len(samples)} samples, labels of shape {tuple(labels.shape)}")
    if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) <= 9:
        raise GenplugError(f"digit labels are 0..9; got {int(labels.min())}..{int(labels.max())}")
    _, probs = classify(samples)
    return float((probs.argmax(-1) == labels).double().mean())


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


def _draw(
    model: Any,
    n: int,
    generator: torch.Generator | None,
    sampler: str | None,
    steps: int | None,
    sampler_options: dict[str, Any] | None = None,
    condition: dict[str, Any] | None = None,
) -> torch.Tensor:
    """``n`` samples on the CPU, drawn 500 at a time (a per-sample condition is cut to match)."""
    condition = dict(condition or {})
    chunks = []
    for i in range(0, n, 500):
        size = min(500, n - i)
        part = {
            k: (v[i : i + size] if torch.is_tensor(v) and v.ndim and len(v) == n else v) for k, v in condition.items()
        }
        chunks.append(
            sample(
                model, size, sampler=sampler, steps=steps, sampler_options=sampler_options, generator=generator, **part
            ).cpu()
        )
    return torch.cat(chunks)


def class_condition(model: Any) -> tuple[str, int] | None:
    """``(name, classes)`` of the model's class condition, or ``None``."""
    for name, spec in (getattr(model, "conditions", None) or {}).items():
        if getattr(spec, "kind", None) == "class" and spec.classes:
            return name, int(spec.classes)
    return None


def accuracy_metric(
    model: Any,
    data: str,
    *,
    n: int,
    generator: torch.Generator | None,
    sampler: str | None = None,
    steps: int | None = None,
    sampler_options: dict[str, Any] | None = None,
    condition: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``genplug eval``'s conditional accuracy: ``n`` digits asked for labels 0, 1, ..., 9, 0, ...
    and how often the shipped classifier agrees; nothing for unconditional models."""
    found = class_condition(model)
    if found is None or tuple(getattr(model, "event_shape", ())) != (1, 8, 8):
        return {}
    name, classes = found
    labels = torch.arange(n) % min(classes, 10)
    asked = {**(condition or {}), name: labels}
    x = _draw(model, n, generator, sampler, steps, sampler_options, asked)
    return {"conditional_accuracy": conditional_accuracy(x, labels)}


def frechet_metric(
    model: Any,
    data: str,
    *,
    n: int,
    generator: torch.Generator | None,
    sampler: str | None = None,
    steps: int | None = None,
    sampler_options: dict[str, Any] | None = None,
    condition: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``genplug eval``'s image metric: draw ``n`` samples and score them against ``data``."""
    test, train = load_data(data, "test"), load_data(data, "train")
    return image_scores(_draw(model, n, generator, sampler, steps, sampler_options, condition), test, train)


def _mean_distance(a: torch.Tensor, b: torch.Tensor, *, block: int = 2048) -> torch.Tensor:
    """The mean Euclidean distance over all pairs of rows of ``a`` and ``b``, in blocks (float64)."""
    total = torch.zeros((), dtype=torch.float64)
    for a_part in a.split(block):
        for b_part in b.split(4 * block):
            total += torch.cdist(a_part, b_part, compute_mode="donot_use_mm_for_euclid_dist").sum()
    return total / (len(a) * len(b))


def energy_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """The energy distance between the empirical distributions of ``a`` ``(N, ...)`` and ``b`` ``(M, ...)``.

    ``2 E|X - Y| - E|X - X'| - E|Y - Y'|`` with X, X' drawn from ``a`` and Y, Y' from ``b``
    (all pairs, a V-statistic, Székely and Rizzo 2013, eq. 2.1 with the empirical
    distributions), Euclidean distances between flattened examples, in float64. It is 0
    exactly when the two sets hold the same points with the same frequencies and positive
    otherwise; for finite samples of one distribution it is of order 1/N + 1/M, which is why
    ``energy_metric`` reports a floor measured with as many points.

    Example:
        >>> import torch
        >>> energy_distance(torch.tensor([[0.0], [1.0]]), torch.tensor([[3.0]]))  # 2 * 2.5 - 0.5 - 0
        4.5
    """
    if len(a) == 0 or len(b) == 0:
        raise GenplugError(f"the energy distance needs points on both sides; got {len(a)} and {len(b)}")
    a, b = a.detach().cpu().double().flatten(1), b.detach().cpu().double().flatten(1)
    if a.shape[1] != b.shape[1]:
        raise GenplugError(f"the energy distance compares points of one size; got {a.shape[1]} and {b.shape[1]} values")
    return float(2 * _mean_distance(a, b) - _mean_distance(a, a) - _mean_distance(b, b))


def energy_metric(
    model: Any,
    data: str,
    *,
    n: int,
    generator: torch.Generator | None,
    sampler: str | None = None,
    steps: int | None = None,
    sampler_options: dict[str, Any] | None = None,
    condition: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``genplug eval``'s sample metric for points: the energy distance to the test split.

    ``energy``: :func:`energy_distance` between ``n`` samples and the test points; lower
    is better. ``energy_floor``: the same for ``n`` training points (a fixed random subset;
    drawn independently of the test points): what a perfect model scores with ``n`` samples.
    ``energy_ratio``: ``energy / energy_floor``, 1 is as good as real data.
    """
    test, train = load_data(data, "test"), load_data(data, "train")
    score = energy_distance(_draw(model, n, generator, sampler, steps, sampler_options, condition), test.x)
    # a seeded subset, not the first n: a loader may store its points in order (moons: upper half first)
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:n]
    floor = energy_distance(train.x[pick], test.x)
    return {"energy": score, "energy_floor": floor, "energy_ratio": score / floor if floor > 0 else float("inf")}


#: The unit of bits per example element, by data kind (text: by its tokenizer's kind).
_UNITS = {"image": "dim", "points": "dim", "tokens": "token"}


def _unit(data: Data) -> str:
    if data.kind == "text":
        kind = getattr(data.tokenizer, "kind", "char")
        return {"char": "char", "byte": "byte"}.get(kind, "token")
    return _UNITS.get(data.kind, "dim")


def nll_metric(
    model: Any,
    data: str,
    *,
    n: int,
    generator: torch.Generator | None,
    sampler: str | None = None,
    steps: int | None = None,
    sampler_options: dict[str, Any] | None = None,
    condition: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """NLL of the test split for each of the model's kinds: in nats per example, in bits
    per dimension, character or token, and the space it is measured in.

    The figures are named ``nll_<label>_nats``, ``nll_<label>_bits_per_<unit>`` and
    ``nll_<label>_space``. The label is the kind, or what the model's
    ``log_prob_label(kind)`` says (``iwae-100`` for a bound with 100 samples). The unit is
    ``dim`` for images and points, ``char`` for text tokenized by character (``byte`` by
    byte), ``token`` for token data. The space is ``"discrete"`` when the model's
    ``log_prob_discrete`` is true (a probability of the discrete data: a code length,
    comparable across families) and ``"continuous"`` otherwise (a density on continuous
    data: its bits/dim are not comparable with a discrete model's).
    """
    kinds = tuple(getattr(model, "log_prob_kinds", ()) or ())
    if not kinds:
        return {}
    test = load_data(data, "test")
    dims = math.prod(test.shape)
    unit = _unit(test)
    space = "discrete" if getattr(model, "log_prob_discrete", False) is True else "continuous"
    scores: dict[str, Any] = {}
    device = getattr(model, "device", torch.device("cpu"))
    was_training = bool(getattr(model, "training", False))
    if hasattr(model, "eval"):
        model.eval()  # dropout off, as when sampling
    try:
        with torch.no_grad():
            for kind in kinds:
                label = model.log_prob_label(kind) if callable(getattr(model, "log_prob_label", None)) else kind
                parts = [
                    model.log_prob(chunk.to(device), kind=kind, generator=generator).cpu()
                    for chunk in test.x.split(256)
                ]
                nll = -float(torch.cat(parts).double().mean())
                scores[f"nll_{label}_nats"] = nll
                scores[f"nll_{label}_bits_per_{unit}"] = nll / (dims * math.log(2))
                scores[f"nll_{label}_space"] = space
    finally:
        if was_training:
            model.train()
    return scores
