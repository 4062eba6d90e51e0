"""The core's own registrations, made through the same hooks as any plugin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from genplug._hookspecs import hookimpl
from genplug._specs import ArchitectureSpec, DatasetSpec, MetricSpec

__all__ = ["GENPLUG_API", "register_architectures", "register_datasets", "register_metrics"]

GENPLUG_API = 1

_DENSITIES = {
    "moons": ("moons", "two interleaved half circles"),
    "circles": ("circles", "two concentric rings"),
    "8gaussians": ("eight_gaussians", "eight Gaussians on a circle"),
    "checkerboard": ("checkerboard", "a 4x4 checkerboard of uniform squares"),
    "swissroll": ("swissroll", "a 2-D swiss roll"),
    "pinwheel": ("pinwheel", "five curved arms"),
}


@hookimpl
def register_architectures(register: Callable[[Any], None]) -> None:
    register(
        ArchitectureSpec(
            name="composite",
            family="hybrid",
            description="an encoder from one plugin with a prior from another (genplug.compose)",
            model="genplug._compose:Composite",
        )
    )


@hookimpl
def register_datasets(register: Callable[[Any], None]) -> None:
    register(
        DatasetSpec(
            name="digits",
            kind="image",
            shape=(1, 8, 8),
            description="scikit-learn's 8x8 handwritten digits in [0, 1]; 1497 train / 300 test",
            loader="genplug._data:digits",
            levels=17,
            classes=10,
        )
    )
    register(
        DatasetSpec(
            name="tinytext",
            kind="text",
            shape=(64,),
            description="short stories from a seeded grammar (scripts/make_corpus.py) in 64-character windows; "
            "5499 train / 610 test",
            loader="genplug._data:tinytext",
            vocab_size=42,
        )
    )
    for name, (function, description) in _DENSITIES.items():
        register(
            DatasetSpec(
                name=name,
                kind="points",
                shape=(2,),
                description=f"2-D density: {description}; 10000 train / 2000 test points",
                loader=f"genplug._data:{function}",
            )
        )


@hookimpl
def register_metrics(register: Callable[[Any], None]) -> None:
    register(
        MetricSpec(
            name="fd",
            description="Frechet distance to held-out digits in a digit classifier's features, "
            "plus its confidence and class coverage",
            metric="genplug._metrics:frechet_metric",
            applies_to=("image",),
        )
    )
    register(
        MetricSpec(
            name="accuracy",
            description="conditional accuracy: how often the digit classifier sees the label asked for "
            "(class-conditional models)",
            metric="genplug._metrics:accuracy_metric",
            applies_to=("image",),
        )
    )
    register(
        MetricSpec(
            name="energy",
            description="energy distance (Szekely and Rizzo) between samples and held-out points, with its floor",
            metric="genplug._metrics:energy_metric",
            applies_to=("points",),
        )
    )
    register(
        MetricSpec(
            name="nll",
            description="negative log-likelihood of held-out data in nats and bits per dim, char or token, with its "
            "kind and space",
            metric="genplug._metrics:nll_metric",
            applies_to=("image", "points", "tokens", "text"),
        )
    )
