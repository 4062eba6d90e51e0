"""Contract and behaviour tests of the ``vae`` architecture."""

from __future__ import annotations

import json
import time

import pytest
import torch
from genplug_vae import VAE, VAEConfig, encode_dataset, interpolate, latent_stats, reconstruct

import genplug

# Small configurations covering every network and likelihood.
CONFIGS = {
    "conv-logistic": dict(data_shape=(1, 8, 8), latent_dim=4, hidden=4, mlp_hidden=16),
    "conv-bernoulli": dict(data_shape=(1, 8, 8), latent_dim=4, hidden=4, mlp_hidden=16, likelihood="bernoulli"),
    "conv-gaussian-rgb": dict(
        data_shape=(3, 4, 4), latent_dim=3, hidden=4, mlp_hidden=16, downsamples=1, likelihood="gaussian"
    ),
    "mlp-image": dict(data_shape=(1, 8, 8), latent_dim=2, network="mlp", mlp_hidden=16, likelihood="bernoulli"),
    "mlp-points": dict(data_shape=(2,), latent_dim=2, mlp_hidden=16),
}


def make(name: str) -> VAE:
    torch.manual_seed(0)
    return genplug.create("vae", **CONFIGS[name])


def data_for(model: VAE, n: int = 5, seed: int = 0) -> torch.Tensor:
    """Examples the model's likelihood accepts: k/16 grey levels for images, reals for points."""
    g = torch.Generator().manual_seed(seed)
    shape = (n, *model.event_shape)
    if model.config.is_image:
        return torch.randint(0, 17, shape, generator=g).float() / 16
    return torch.randn(shape, generator=g)


@pytest.fixture(params=sorted(CONFIGS))
def model(request: pytest.FixtureRequest) -> VAE:
    return make(request.param)


def test_registered_through_the_entry_point() -> None:
    genplug.reset_registry()
    spec = genplug.registry().architecture("vae")
    assert spec.plugin == "genplug-vae"
    assert spec.family == "vae"
    assert set(spec.provides) == {"generator", "encoder"}
    assert spec.load_class() is VAE  # checks both protocols on the class


def test_satisfies_both_protocols(model: VAE) -> None:
    assert isinstance(model, genplug.Generator)
    assert isinstance(model, genplug.Encoder)
    genplug.check_protocol(model, "generator", what="vae")
    genplug.check_protocol(model, "encoder", what="vae")
    assert model.log_prob_kinds == ("elbo", "iwae")
    assert model.latent_shape == (model.config.latent_dim,)


def test_encode_decode_sample_shapes(model: VAE) -> None:
    x = data_for(model)
    latent = model.encode(x, generator=torch.Generator().manual_seed(0))
    assert isinstance(latent, genplug.Latent)
    for t in (latent.sample, latent.mean, latent.scale):
        assert t.shape == (5, *model.latent_shape)
    assert bool((latent.scale > 0).all())
    assert model.decode(latent.sample).shape == x.shape
    for output in ("mean", "draw"):
        x = model.sample(3, generator=torch.Generator().manual_seed(0), output=output)
        assert x.shape == (3, *model.event_shape)
    if model.config.is_image:
        y = model.decode(latent.mean).detach()
        assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


def test_encode_refuses_wrong_shapes() -> None:
    model = make("conv-logistic")
    with pytest.raises(genplug.GenplugError, match=r"\(B, 1, 8, 8\)"):
        model.encode(torch.zeros(2, 64))
    with pytest.raises(genplug.GenplugError, match=r"\(B, 4\)"):
        model.decode(torch.zeros(2, 5))
    with pytest.raises(genplug.GenplugError, match=r"decode_sample takes latents of shape \(B, 4\)"):
        model.decode_sample(torch.zeros(2, 5))


def test_decode_sample_is_the_draw_from_the_decoder_likelihood(model: VAE) -> None:
    z = torch.randn(6, model.config.latent_dim, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        x = model.decode_sample(z, generator=torch.Generator().manual_seed(3))
        # as a hybrid drew before the Encoder protocol had decode_sample: through the internals
        g = torch.Generator().manual_seed(3)
        by_hand = model.likelihood.sample(model.decoder_params(z), generator=g)
    assert torch.equal(x, by_hand.clamp(0, 1) if model.config.is_image else by_hand)
    assert not torch.equal(x, model.decode_sample(z, generator=torch.Generator().manual_seed(4)))
    # sample(output="draw") is a prior draw of z, then decode_sample with the same generator
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        z = torch.randn((4, model.config.latent_dim), generator=g)
        assert torch.equal(
            model.sample(4, generator=torch.Generator().manual_seed(5)), model.decode_sample(z, generator=g)
        )


@pytest.mark.parametrize(
    ("name", "discrete"), [("conv-logistic", True), ("conv-bernoulli", False), ("mlp-points", False)]
)
def test_log_prob_is_discrete_with_the_discretized_logistic(name: str, discrete: bool) -> None:
    model = make(name)
    assert model.log_prob_discrete is discrete
    assert (model.config.likelihood_name == "logistic") is discrete


def test_same_seed_same_samples(model: VAE) -> None:
    def draw(seed: int, output: str) -> torch.Tensor:
        return model.sample(6, generator=torch.Generator().manual_seed(seed), output=output)

    for output in ("mean", "draw"):
        assert torch.equal(draw(1, output), draw(1, output))
        assert not torch.equal(draw(1, output), draw(2, output))
    x = data_for(model)
    one = model.encode(x, generator=torch.Generator().manual_seed(3)).sample
    assert torch.equal(one, model.encode(x, generator=torch.Generator().manual_seed(3)).sample)


def test_temperature_zero_decodes_the_prior_mean() -> None:
    model = make("conv-logistic")
    x = model.sample(2, generator=torch.Generator().manual_seed(0), temperature=0.0, output="mean")
    assert torch.allclose(x, model.decode(torch.zeros(2, 4)).expand_as(x))


def test_gradients_reach_every_parameter(model: VAE) -> None:
    loss, _ = model.loss(data_for(model), generator=torch.Generator().manual_seed(0))
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert missing == []


def test_save_load_round_trip(model: VAE, tmp_path) -> None:
    model.train_step.fill_(7)
    model.save_pretrained(tmp_path / "m")
    loaded = genplug.load(tmp_path / "m")
    assert isinstance(loaded, VAE) and loaded.config == model.config
    assert int(loaded.train_step) == 7
    model.eval()
    x = data_for(model)
    for m in (model, loaded):
        m.outputs = (
            m.sample(4, generator=torch.Generator().manual_seed(0)),
            m.encode(x, generator=torch.Generator().manual_seed(0)).sample,
            m.log_prob(x, kind="iwae", k=5, generator=torch.Generator().manual_seed(0)),
        )
    for a, b in zip(model.outputs, loaded.outputs, strict=True):
        assert torch.equal(a, b)


def test_kl_warmup_follows_the_trainers_step() -> None:
    model = genplug.create("vae", **CONFIGS["mlp-points"], beta=0.5, warmup_steps=4)
    optimizers = model.configure_optimizers(1e-3)
    g = torch.Generator().manual_seed(0)
    figures = model.training_step(data_for(model, 8), optimizers, generator=g, step=2, total=10)
    assert figures["beta"] == 0.375 and int(model.train_step) == 3  # the weight of step 2; 3 steps taken
    assert model.kl_weight(0) == 0.125 and model.kl_weight(100) == 0.5 and model.kl_weight() == 0.5
    assert model.loss(data_for(model, 8), generator=g, step=1)[1]["beta"] == 0.25


def test_kl_warmup_runs_while_a_composite_trains_the_vae_with_its_prior(tmp_path) -> None:
    torch.manual_seed(0)
    vae = genplug.create("vae", **CONFIGS["mlp-points"], beta=0.5, warmup_steps=4)
    prior = genplug.create("vae", data_shape=(2,), latent_dim=2, mlp_hidden=16)  # any Generator with a loss
    model = genplug.compose(encoder=vae, prior=prior, train_encoder=True)
    genplug.train(model, "moons", {"steps": 6, "batch_size": 32, "log_every": 1}, out=tmp_path, progress=False)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [line["encoder_beta"] for line in lines] == [0.125, 0.25, 0.375, 0.5, 0.5, 0.5]
    assert [line["beta"] for line in lines] == [1.0] * 6  # the prior VAE has no warm-up


def test_a_resumed_run_continues_the_kl_warmup_exactly(tmp_path) -> None:
    def run(steps: int, out, resume: bool = False) -> VAE:
        torch.manual_seed(0)
        model = genplug.create("vae", **CONFIGS["mlp-points"], beta=0.5, warmup_steps=4)
        options = {"steps": steps, "batch_size": 32, "checkpoint_every": 3, "log_every": 1}
        return genplug.train(model, "moons", options, out=out, resume=resume, progress=False)

    straight = run(6, tmp_path / "a")
    run(3, tmp_path / "b")
    resumed = run(6, tmp_path / "b", resume=True)
    for key, value in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key
    assert int(resumed.train_step) == 6
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["beta"] for line in lines] == [0.125, 0.25, 0.375, 0.5, 0.5, 0.5]


def test_kl_warmup_rises_to_beta_and_counts_steps() -> None:
    model = genplug.create("vae", **CONFIGS["mlp-points"], beta=0.5, warmup_steps=4)
    optimizers = model.configure_optimizers(1e-3)
    weights = []
    for _ in range(6):
        figures = model.training_step(data_for(model, 8), optimizers, generator=torch.Generator().manual_seed(0))
        weights.append(figures["beta"])
    assert weights == [0.125, 0.25, 0.375, 0.5, 0.5, 0.5]
    assert int(model.train_step) == 6
    assert genplug.create("vae", **CONFIGS["mlp-points"]).kl_weight() == 1.0  # no warm-up: beta from the start


def test_loss_is_the_beta_weighted_negative_elbo() -> None:
    model = genplug.create("vae", **CONFIGS["conv-logistic"], beta=0.25)
    x = data_for(model)
    log_px, kl = model.elbo_terms(x, generator=torch.Generator().manual_seed(0))
    loss, figures = model.loss(x, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(loss, -(log_px - 0.25 * kl).mean())
    assert bool((kl >= 0).all())
    assert figures == pytest.approx({"elbo": (log_px - kl).mean().item(), "kl": kl.mean().item(), "beta": 0.25})


def test_training_step_computes_the_loss_once_and_reports_its_figures(monkeypatch) -> None:
    model = genplug.create("vae", **CONFIGS["mlp-points"], beta=0.5, warmup_steps=2)
    calls = []

    def counted(method):
        def wrapper(*args, **kwargs):
            calls.append(method.__name__)
            return method(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(model, "loss", counted(model.loss))
    monkeypatch.setattr(model, "elbo_terms", counted(model.elbo_terms))
    figures = model.training_step(data_for(model, 8), model.configure_optimizers(1e-3))
    assert calls == ["loss", "elbo_terms"]  # one loss, one pass through the encoder and decoder
    assert set(figures) == {"loss", "elbo", "kl", "beta"} and figures["beta"] == 0.25
    assert int(model.train_step) == 1


def test_log_prob_kinds_labels_and_errors() -> None:
    model = make("conv-logistic")
    x = data_for(model)
    g = torch.Generator().manual_seed(0)
    assert model.log_prob(x, generator=g).shape == (5,)
    assert model.log_prob(x, kind="iwae", k=3, generator=g).shape == (5,)
    assert model.log_prob_label() == "elbo"
    assert model.log_prob_label("iwae") == "iwae-100"
    assert model.log_prob_label("iwae", k=7) == "iwae-7"
    with pytest.raises(genplug.GenplugError, match="elbo, iwae"):
        model.log_prob(x, kind="exact")
    with pytest.raises(genplug.GenplugError, match="positive integer"):
        model.log_prob(x, kind="iwae", k=0)


def test_iwae_with_one_sample_is_a_single_sample_elbo() -> None:
    # log w = log p(x|z) + log p(z) - log q(z|x); with the closed-form KL the ELBO differs
    # from log w only by the KL's Monte Carlo error, which is zero on average.
    model = make("mlp-points")
    x = data_for(model, 4000)
    bounds = model.bounds(x, k=1, generator=torch.Generator().manual_seed(0))
    assert float((bounds["iwae"] - bounds["elbo"]).mean().detach()) == pytest.approx(0.0, abs=0.05)


def test_bounds_chunking_does_not_change_the_result() -> None:
    model = make("conv-logistic")
    x = data_for(model, 6)
    whole = model.bounds(x, k=9, generator=torch.Generator().manual_seed(0))
    chunked = model.bounds(x, k=9, generator=torch.Generator().manual_seed(0), chunk=12)  # 2 samples per chunk
    for kind in whole:
        assert torch.allclose(whole[kind], chunked[kind], atol=1e-5)


def test_config_errors_name_the_field() -> None:
    with pytest.raises(genplug.ModelFileError, match=r"latent_dim must be an integer in \[1, 65536\], got 0"):
        genplug.create("vae", latent_dim=0)
    with pytest.raises(genplug.ModelFileError, match="likelihood='poisson'; choose one of 'auto', 'bernoulli'"):
        genplug.create("vae", likelihood="poisson")
    with pytest.raises(genplug.ModelFileError, match="network='conv' needs images"):
        genplug.create("vae", data_shape=(2,), network="conv")
    with pytest.raises(genplug.ModelFileError, match="downsamples=3 needs H and W divisible by 8"):
        genplug.create("vae", data_shape=(1, 12, 12), downsamples=3)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"latent_dim": 10**6}, "latent_dim"),
        ({"hidden": 10**6}, "hidden"),
        ({"hidden": 4096, "downsamples": 5, "data_shape": (1, 64, 64)}, "hidden"),
        ({"downsamples": 10**9}, "downsamples"),
        ({"mlp_hidden": 10**6}, "mlp_hidden"),
        ({"mlp_depth": 65}, "mlp_depth"),
        ({"levels": 10**9}, "levels"),
        ({"iwae_k": 10**9}, "iwae_k"),
        ({"data_shape": (1, 8, 10**5)}, "data_shape"),
        ({"data_shape": (2**25,)}, "data_shape"),
        ({"beta": float("nan")}, "beta"),
        ({"hidden": "8"}, "hidden"),
        ({"dropout": None}, "dropout"),
        ({"data_shape": (1.5, 8)}, "data_shape"),
        ({"output": 1}, "output"),
    ],
)
def test_config_refuses_huge_sizes_and_wrong_types_naming_the_field(fields, field) -> None:
    with pytest.raises(genplug.ConfigError, match=rf"VAEConfig\.{field}\b"):
        VAEConfig(**fields)


@pytest.mark.parametrize(("field", "value"), [("latent_dim", 10**9), ("mlp_hidden", 10**6)])
def test_a_crafted_config_json_is_refused_before_anything_is_built(tmp_path, field, value) -> None:
    make("mlp-points").save_pretrained(tmp_path)
    document = json.loads((tmp_path / "config.json").read_text())
    document["config"][field] = value
    (tmp_path / "config.json").write_text(json.dumps(document))
    start = time.perf_counter()
    with pytest.raises(genplug.ModelFileError, match=rf"VAEConfig\.{field} must be an integer in"):
        genplug.load(tmp_path)
    assert time.perf_counter() - start < 1.0


def test_auto_choices_follow_the_data() -> None:
    image, points = VAEConfig(data_shape=(1, 8, 8)), VAEConfig(data_shape=(2,))
    assert (image.network_name, image.likelihood_name) == ("conv", "logistic")
    assert (points.network_name, points.likelihood_name) == ("mlp", "gaussian")


def test_sample_output_follows_the_config() -> None:
    model = genplug.create("vae", **CONFIGS["conv-logistic"])
    mean_model = genplug.create("vae", **CONFIGS["conv-logistic"], output="mean")
    mean_model.load_state_dict(model.state_dict())

    def draw(m: VAE, **options: str) -> torch.Tensor:
        return m.sample(4, generator=torch.Generator().manual_seed(0), **options)

    grid = torch.arange(17) / 16
    x = draw(model)  # a draw of the discretized logistic: every value on the 17-level grid
    assert bool((x[..., None] - grid).abs().min(-1).values.max() < 1e-6)
    assert torch.equal(draw(model, output="mean"), draw(mean_model))
    assert torch.equal(draw(mean_model, output="draw"), x)
    with pytest.raises(genplug.GenplugError, match="choose 'mean'"):
        draw(model, output="mode")


def test_training_improves_the_elbo_on_a_2d_density() -> None:
    model = genplug.create("vae", **CONFIGS["mlp-points"])
    data = genplug.load_data("moons", "test")
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        before = float(model.log_prob(data.x, generator=g).mean())
    genplug.train(model, data, genplug.TrainConfig(steps=150, batch_size=128, lr=3e-3), progress=False)
    with torch.no_grad():
        after = float(model.log_prob(data.x, generator=g).mean())
    assert after > before + 1.0


# -- latent tools -------------------------------------------------------------------


def test_interpolate_shape_and_endpoints() -> None:
    model = make("conv-logistic")
    x = data_for(model, 2)
    for method in ("linear", "slerp"):
        strip = interpolate(model, x[0], x[1:2], 7, method=method)
        assert strip.shape == (7, 1, 8, 8)
        ends = reconstruct(model, x)
        assert torch.allclose(strip[0], ends[0], atol=1e-5)
        assert torch.allclose(strip[-1], ends[1], atol=1e-5)
    assert torch.equal(model.interpolate(x[:1], x[1:], 5), interpolate(model, x[:1], x[1:], 5))
    with pytest.raises(genplug.GenplugError, match="steps >= 2"):
        interpolate(model, x[0], x[1], 1)
    with pytest.raises(genplug.GenplugError, match="one example per end"):
        interpolate(model, x, x, 3)


def test_interpolate_from_posterior_draws_is_seeded() -> None:
    model = make("mlp-points")
    x = data_for(model, 2)

    def strip(seed: int) -> torch.Tensor:
        return interpolate(model, x[0], x[1], 4, use_mean=False, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(strip(0), strip(0))
    assert not torch.equal(strip(0), strip(1))


def test_encode_dataset_and_latent_stats() -> None:
    model = make("conv-logistic")
    latent = encode_dataset(model, "digits", split="test", batch_size=128)
    assert latent.mean.shape == latent.sample.shape == latent.scale.shape == (300, 4)
    assert torch.allclose(latent.mean[:10], model.encode(genplug.load_data("digits", "test").x[:10]).mean, atol=1e-5)
    stats = latent_stats(model, genplug.load_data("digits", "test"))
    assert set(stats) == {"mean", "std", "scale", "aggregate_std"}
    assert all(len(v) == 4 for v in stats.values())
    assert stats["std"] == pytest.approx(latent.mean.double().std(0).tolist(), rel=1e-5)


def test_reconstruct_is_decode_of_the_posterior_mean() -> None:
    model = make("mlp-points")
    x = data_for(model)
    assert torch.equal(reconstruct(model, x), model.decode(model.encode(x).mean))
