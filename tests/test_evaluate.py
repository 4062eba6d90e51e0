"""genplug.evaluate and the metrics: energy distance, NLL naming, refusal of samples that are not images."""

from __future__ import annotations

import math

import pytest
import torch

import genplug
from genplug import _images, _metrics
from genplug._evaluate import evaluate
from genplug._tokenizer import CharTokenizer

ENERGY = genplug.MetricSpec(
    name="energy",
    description="energy distance to held-out points, with its floor",
    metric="genplug._metrics:energy_metric",
    applies_to=("points",),
)


class _EnergyUntilBuiltIn:
    """Registers the energy metric in tests until the core's built-ins do."""

    @genplug.hookimpl
    def register_metrics(self, register):
        register(ENERGY)


@pytest.fixture
def with_energy():
    reg = genplug.registry()
    if "energy" not in reg.metrics:
        reg.add_plugin(_EnergyUntilBuiltIn(), name="energy-for-tests")
    assert reg.metrics["energy"].metric == ENERGY.metric
    return reg


# -- images are floats in [0, 1] --------------------------------------------------------


def test_png_refuses_integer_and_out_of_range_samples(tmp_path):
    with pytest.raises(genplug.GenplugError, match=r"cannot draw int64 samples \(token ids\?\) as a PNG; write .txt"):
        genplug.save_samples(torch.ones(4, 1, 8, 8, dtype=torch.long), tmp_path / "a.png")
    with pytest.raises(genplug.GenplugError, match=r"values from -0.5 to 1\. Map them to \[0, 1\]"):
        genplug.save_samples(torch.linspace(-0.5, 1, 64).view(1, 1, 8, 8), tmp_path / "a.png")
    with pytest.raises(genplug.GenplugError, match="floats in"):
        genplug.save_samples(torch.full((1, 1, 4, 4), math.nan), tmp_path / "a.png")
    with pytest.raises(genplug.GenplugError, match="are int64"):
        _images.check_unit_range(torch.ones(1, 1, 4, 4, dtype=torch.long))
    with pytest.raises(genplug.GenplugError, match="values from 2 to 2"):
        _images.png_bytes(torch.full((1, 4, 4), 2.0))
    assert not (tmp_path / "a.png").exists()
    almost = torch.full((2, 1, 8, 8), 1 + 1e-7)  # float rounding is not an error
    assert genplug.save_samples(almost, tmp_path / "b.png").stat().st_size > 0
    assert genplug.save_samples(torch.randn(50, 2) * 10, tmp_path / "points.png").exists()  # points: any range


def test_fd_refuses_integer_and_out_of_range_samples():
    test = genplug.load_data("digits", "test")
    with pytest.raises(genplug.GenplugError, match=r"samples scored by FD must be floats in \[0, 1\]; these are int64"):
        _metrics.image_scores((test.x * 16).long(), test)
    with pytest.raises(genplug.GenplugError, match="values from 0 to 16"):
        _metrics.classify(test.x * 16)


def test_conditional_accuracy_is_the_classifier_agreeing_with_the_asked_label():
    test = genplug.load_data("digits", "test")
    assert _metrics.conditional_accuracy(test.x, test.y) > 0.97
    assert _metrics.conditional_accuracy(test.x, (test.y + 1) % 10) < 0.05
    fours = test.x[test.y == 4]
    assert _metrics.conditional_accuracy(fours, 4) > 0.95
    with pytest.raises(genplug.GenplugError, match="one label per sample"):
        _metrics.conditional_accuracy(test.x[:5], torch.zeros(4))
    with pytest.raises(genplug.GenplugError, match="labels are 0..9"):
        _metrics.conditional_accuracy(test.x[:2], torch.tensor([0, 10]))


# -- the energy distance ---------------------------------------------------------------


def test_energy_distance_matches_a_hand_computed_value():
    a = torch.tensor([[0.0, 0.0], [3.0, 4.0]])  # |a1 - a2| = 5
    b = torch.tensor([[0.0, 0.0]])
    # E|X-Y| = (0 + 5) / 2; E|X-X'| = (0 + 5 + 5 + 0) / 4; E|Y-Y'| = 0  ->  2 * 2.5 - 2.5 - 0
    assert _metrics.energy_distance(a, b) == pytest.approx(2.5, abs=1e-12)
    assert _metrics.energy_distance(b, a) == pytest.approx(2.5, abs=1e-12)
    assert _metrics.energy_distance(a, a) == 0.0
    with pytest.raises(genplug.GenplugError, match="points of one size"):
        _metrics.energy_distance(a, torch.zeros(3, 3))


def test_energy_distance_agrees_with_scipy_in_one_dimension():
    stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(300, generator=g, dtype=torch.float64), torch.rand(200, generator=g, dtype=torch.float64) * 3
    # scipy returns the square root of 2 E|X-Y| - E|X-X'| - E|Y-Y'| for the empirical distributions
    reference = stats.energy_distance(a.numpy(), b.numpy()) ** 2
    assert _metrics.energy_distance(a[:, None], b[:, None]) == pytest.approx(reference, rel=1e-10)


def test_energy_distance_grows_with_a_shift_and_its_floor_is_small():
    train, test = genplug.load_data("8gaussians", "train"), genplug.load_data("8gaussians", "test")
    floor = _metrics.energy_distance(train.x[:1000], test.x)
    shifted = [_metrics.energy_distance(train.x[:1000] + torch.tensor([s, 0.0]), test.x) for s in (0.25, 1.0)]
    assert 0 < floor < 0.01 < shifted[0] < shifted[1]


def test_energy_metric_scores_a_model_without_a_likelihood(with_energy):
    class Points(torch.nn.Module):  # samples the training points back: no log_prob at all
        event_shape, log_prob_kinds = (2,), ()

        def sample(self, n, *, generator=None):
            data = genplug.load_data("8gaussians", "train").x
            return data[torch.randint(0, len(data), (n,), generator=generator)]

    figures = evaluate(Points(), "8gaussians", n=500)
    assert set(figures) == {"data", "n", "sampler", "steps", "seed", "energy", "energy_floor", "energy_ratio"}
    assert figures["energy_ratio"] < 3


# -- NLL names: the unit by data kind, the space by log_prob_discrete --------------------


class Uniform(torch.nn.Module):
    """A uniform model of ``length`` tokens over ``vocab`` values: exactly log2(vocab) bits per token."""

    log_prob_kinds = ("exact",)

    def __init__(self, length, vocab, discrete=True):
        super().__init__()
        self.event_shape, self.vocab, self.device = (length,), vocab, torch.device("cpu")
        if discrete is not None:
            self.log_prob_discrete = discrete

    def sample(self, n, *, generator=None):
        return torch.randint(0, self.vocab, (n, *self.event_shape), generator=generator)

    def log_prob(self, x, *, kind=None, generator=None):
        return torch.full((len(x),), -x.shape[1] * math.log(self.vocab))


def test_nll_is_named_per_character_for_text_and_says_its_space(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("abcdefgh " * 200)
    vocab = CharTokenizer.from_text("abcdefgh ").vocab_size
    figures = _metrics.nll_metric(Uniform(64, vocab), str(path), n=10, generator=None)
    assert figures["nll_exact_bits_per_char"] == pytest.approx(math.log2(vocab))
    assert figures["nll_exact_space"] == "discrete" and "nll_exact_bits_per_dim" not in figures


def test_nll_of_a_density_is_continuous_and_keeps_its_image_names():
    figures = _metrics.nll_metric(Uniform(2, 4, discrete=None), "8gaussians", n=10, generator=None)
    assert set(figures) == {"nll_exact_nats", "nll_exact_bits_per_dim", "nll_exact_space"}
    assert figures["nll_exact_space"] == "continuous"
    assert (
        _metrics.nll_metric(Uniform(2, 4, discrete=False), "8gaussians", n=1, generator=None)["nll_exact_space"]
        == "continuous"
    )


def test_nll_of_token_data_is_per_token(tmp_path):
    import numpy as np

    np.save(tmp_path / "t.npy", np.arange(300).reshape(30, 10) % 7)
    figures = _metrics.nll_metric(Uniform(10, 7), str(tmp_path / "t.npy"), n=1, generator=None)
    assert figures["nll_exact_bits_per_token"] == pytest.approx(math.log2(7))


# -- evaluate --------------------------------------------------------------------------


def test_evaluate_the_toy_gaussian_on_8gaussians(with_energy, toy):
    figures = evaluate(toy, "8gaussians", n=400, seed=3)
    assert list(figures)[:5] == ["data", "n", "sampler", "steps", "seed"]
    assert figures["data"] == "8gaussians" and figures["n"] == 400 and figures["seed"] == 3
    assert {"nll_exact_nats", "nll_exact_bits_per_dim", "nll_exact_space"} <= set(figures)
    assert {"energy", "energy_floor", "energy_ratio"} <= set(figures)
    assert "fd" not in figures and figures["energy"] > figures["energy_floor"]
    assert evaluate(toy, "8gaussians", n=400, seed=3) == figures  # the same seed, the same figures
    only = evaluate(toy, "8gaussians", n=400, metrics=["nll"])
    assert not any(k.startswith("energy") for k in only)


def test_evaluate_a_vae_on_digits():
    model = genplug.create("vae", data_shape=(1, 8, 8), latent_dim=4, hidden=4, mlp_hidden=16, iwae_k=4)
    figures = evaluate(model, "digits", n=100)
    assert {"fd", "fd_floor", "fd_ratio", "confidence", "coverage", "class_counts"} <= set(figures)
    assert {"nll_elbo_nats", "nll_elbo_bits_per_dim", "nll_elbo_space", "nll_iwae-4_nats"} <= set(figures)
    assert sum(figures["class_counts"]) == 100


def test_evaluate_refuses_data_of_another_shape_and_metrics_that_do_not_apply(toy):
    with pytest.raises(genplug.IncompatibleError, match=r"data 'digits' has examples of shape \(1, 8, 8\), but model"):
        evaluate(toy, "digits", n=10)
    with pytest.raises(genplug.GenplugError, match="metric 'fd' scores image data; '8gaussians' is points data"):
        evaluate(toy, "8gaussians", n=10, metrics=["fd"])
    with pytest.raises(genplug.PluginError, match="unknown metric 'fid'"):
        evaluate(toy, "8gaussians", n=10, metrics=["fid"])
    with pytest.raises(genplug.GenplugError, match="n must be a positive number"):
        evaluate(toy, "8gaussians", n=0)
    with pytest.raises(genplug.GenplugError, match="unknown dataset"):
        evaluate(toy, "no-such-data", n=10)


class ClassMeans(torch.nn.Module):
    """Draws the mean test digit of the asked class (or of class 0 when it ignores the label)."""

    event_shape = (1, 8, 8)
    architecture = "class-means"

    def __init__(self, ignore_label: bool = False):
        super().__init__()
        test = genplug.load_data("digits", "test")
        self.register_buffer("means", torch.stack([test.x[test.y == k].mean(0) for k in range(10)]))
        self.ignore_label = ignore_label

    @property
    def conditions(self):
        return {"label": genplug.Condition("class", classes=10)}

    def sample(self, n, *, generator=None, label=None):
        label = torch.zeros(n, dtype=torch.long) if label is None or self.ignore_label else label
        return self.means[label]


def test_conditional_accuracy_scores_a_model_that_draws_what_it_is_asked():
    from genplug._metrics import accuracy_metric

    good = accuracy_metric(ClassMeans(), "digits", n=100, generator=torch.Generator().manual_seed(0))
    deaf = accuracy_metric(ClassMeans(ignore_label=True), "digits", n=100, generator=torch.Generator())
    assert good["conditional_accuracy"] == 1.0 and deaf["conditional_accuracy"] == 0.1
    figures = genplug.evaluate(ClassMeans(), "digits", n=100, metrics=["accuracy", "fd"])
    assert figures["conditional_accuracy"] == 1.0 and "fd" in figures
    assert accuracy_metric(genplug.create("vae"), "digits", n=10, generator=None) == {}  # unconditional: nothing
