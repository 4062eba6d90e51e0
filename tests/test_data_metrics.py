from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import genplug
from genplug import _metrics


def test_digits_split_is_fixed_and_disjoint():
    train, test = genplug.load_data("digits", "train"), genplug.load_data("digits", "test")
    assert train.x.shape == (1497, 1, 8, 8) and test.x.shape == (300, 1, 8, 8)
    assert 0.0 == train.x.min() and train.x.max() == 1.0
    assert torch.equal(genplug.load_data("digits", "test").x, test.x)
    flat_test = {tuple(row.tolist()) for row in test.x.flatten(1)}
    overlap = sum(tuple(row.tolist()) in flat_test for row in train.x.flatten(1))
    assert overlap <= 2  # the raw data holds a few exact duplicate images, nothing more
    assert sorted(torch.bincount(train.y).tolist())[0] > 120


@pytest.mark.parametrize("name", ["moons", "circles", "8gaussians", "checkerboard", "swissroll", "pinwheel"])
def test_densities_are_seeded_and_split(name):
    train, test = genplug.load_data(name, "train"), genplug.load_data(name, "test")
    assert train.x.shape == (10_000, 2) and test.x.shape == (2_000, 2)
    assert torch.equal(train.x, genplug.load_data(name, "train").x)
    assert not torch.equal(train.x[:2000], test.x)
    assert train.x.abs().max() < 6


def test_user_files(tmp_path):
    np.save(tmp_path / "points.npy", np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32))
    data = genplug.load_data(tmp_path / "points.npy")
    assert data.kind == "points" and data.x.shape == (45, 3)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(10):
        Image.fromarray(np.full((6, 6), i * 20, dtype=np.uint8)).save(folder / f"{i}.png")
    images = genplug.load_data(folder, "test")
    assert images.kind == "image" and images.x.shape == (1, 1, 6, 6)
    np.save(tmp_path / "objects.npy", np.array(["a", "b"]))
    with pytest.raises(genplug.GenplugError, match="expected numbers shaped"):
        genplug.load_data(tmp_path / "objects.npy")
    with pytest.raises(genplug.GenplugError, match="unknown dataset"):
        genplug.load_data(tmp_path / "nothing.npy")


def test_frechet_distance_matches_closed_form():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(200_000, 3, generator=g, dtype=torch.float64)
    b = a * torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64) + torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    # diagonal Gaussians: |mu_a - mu_b|^2 + sum (sigma_a - sigma_b)^2 = 1 + 0 + 1 + 0.25
    assert _metrics.frechet_distance(a, b) == pytest.approx(2.25, rel=2e-2)
    assert _metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_against_scipy():
    linalg = pytest.importorskip("scipy.linalg")
    g = torch.Generator().manual_seed(1)
    a = torch.randn(500, 6, generator=g) @ torch.randn(6, 6, generator=g)
    b = torch.randn(400, 6, generator=g) @ torch.randn(6, 6, generator=g) + 0.3
    ma, mb = a.double().mean(0).numpy(), b.double().mean(0).numpy()
    ca, cb = np.cov(a.double().numpy().T), np.cov(b.double().numpy().T)
    ref = ((ma - mb) ** 2).sum() + np.trace(ca + cb - 2 * linalg.sqrtm(ca @ cb).real)
    assert _metrics.frechet_distance(a, b) == pytest.approx(ref, rel=1e-6)


def test_classifier_and_scores():
    train, test = genplug.load_data("digits", "train"), genplug.load_data("digits", "test")
    _, probs = _metrics.classify(test.x)
    assert (probs.argmax(-1) == test.y).float().mean() > 0.97
    held_out = _metrics.image_scores(test.x, test, train)
    noise = _metrics.image_scores(torch.rand(300, 1, 8, 8, generator=torch.Generator().manual_seed(0)), test, train)
    assert held_out["fd"] < 1e-6 and 5 < held_out["fd_floor"] < 30
    assert noise["fd"] > 10 * held_out["fd_floor"]
    assert held_out["coverage"] > 0.95 and noise["coverage"] < held_out["coverage"]
    assert _metrics.coverage(torch.eye(10)[[3] * 20]) == 0.0
    with pytest.raises(genplug.GenplugError, match=r"scores \(N, 1, 8, 8\) images"):
        _metrics.classify(torch.zeros(2, 3, 8, 8))
