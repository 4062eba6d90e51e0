"""The VQ-VAE: straight-through gradients, the EMA codebook against a hand computation,
dead-code restarts, codes that round-trip, and genplug's conformance kit."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from genplug_vae.vq_vae import VQVAE, Codebook, VQVAEConfig, perplexity

import genplug
from genplug.testing import check_architecture


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(**config) -> VQVAE:
    torch.manual_seed(0)
    return VQVAE(VQVAEConfig(**{"hidden": 4, "embedding_dim": 3, "num_codes": 8, **config}))


def digits(n: int = 16) -> torch.Tensor:
    return genplug.load_data("digits", "train").x[:n]


@pytest.mark.parametrize("config", VQVAE.conformance_configs, ids=str)
def test_conformance_kit(config):
    check_architecture("vq-vae", config)


def test_the_straight_through_estimator_copies_the_decoders_gradient_to_the_encoder_output():
    model = tiny()
    z_e = torch.randn(2, 3, 4, 4, requires_grad=True)
    codes, z_st = model.quantize(z_e)
    assert torch.allclose(z_st, model.embed_codes(codes))  # forward: the quantised grid z_q
    weights = torch.randn_like(z_st)
    (z_st * weights).sum().backward()
    assert torch.equal(z_e.grad, weights)  # backward: d/dz_q, passed to z_e unchanged


def test_gradients_reach_the_encoder_through_the_quantiser():
    model = tiny()
    loss, _ = model.loss(digits())
    loss.backward()
    first = model.encoder[0].weight.grad
    assert first is not None and first.abs().sum() > 0
    assert model.codebook.embedding.grad is None and not model.codebook.embedding.requires_grad  # EMA, not SGD


def test_the_ema_update_matches_a_hand_computation():
    book = Codebook(num_codes=2, dim=1, decay=0.5, epsilon=1e-5, restart_threshold=0.0)
    book.embedding.copy_(torch.tensor([[0.2], [2.5]]))
    book.cluster_size.copy_(torch.tensor([1.0, 1.0]))
    book.embed_sum.copy_(torch.tensor([[0.2], [2.5]]))
    z = torch.tensor([[0.0], [1.0], [3.0]])
    codes = book.nearest(z)
    assert codes.tolist() == [0, 0, 1]
    book.ema_update(z, codes)
    # N = 0.5 * [1, 1] + 0.5 * [2, 1] = [1.5, 1.0]; m = 0.5 * [0.2, 2.5] + 0.5 * [0 + 1, 3] = [0.6, 2.75]
    assert torch.allclose(book.cluster_size, torch.tensor([1.5, 1.0]))
    assert torch.allclose(book.embed_sum, torch.tensor([[0.6], [2.75]]))
    # Laplace smoothing: N_k' = (N_k + eps) / (N + K eps) * N with N = 2.5
    eps, total = 1e-5, 2.5
    smoothed = [(c + eps) / (total + 2 * eps) * total for c in (1.5, 1.0)]
    expected = torch.tensor([[0.6 / smoothed[0]], [2.75 / smoothed[1]]])
    assert torch.allclose(book.embedding, expected, atol=1e-6)
    assert abs(float(book.embedding[0]) - 0.4) < 1e-4 and abs(float(book.embedding[1]) - 2.75) < 1e-4


def test_a_dead_code_is_restarted_onto_an_encoder_output_and_used_again():
    model = tiny(restart_threshold=1.0)
    x = model.conformance_batch(32, generator=torch.Generator().manual_seed(0))  # noise: no two cells alike
    model.train()
    model.loss(x, generator=torch.Generator().manual_seed(0))  # the first step fills the codebook
    with torch.no_grad():
        model.codebook.embedding[5] = 1e3  # code 5 now lies far from every encoder output
        model.eval()
        assert 5 not in model.encode(x).codes
        model.train()
    model.codebook.cluster_size.fill_(100.0)  # every other code is alive,
    model.codebook.cluster_size[5] = 0.5  # and code 5 has fallen below the threshold
    _, figures = model.loss(x, generator=torch.Generator().manual_seed(1))
    assert figures["restarted"] == 1
    z_e = model.encoder(x).detach().permute(0, 2, 3, 1).reshape(-1, 3)
    assert (z_e == model.codebook.embedding[5]).all(1).any()  # moved onto one of the batch's encoder outputs
    assert float(model.codebook.cluster_size[5]) == 1.0
    model.eval()
    with torch.no_grad():
        assert 5 in model.encode(x).codes  # revived: the nearest code of the output it restarted on


def test_no_restart_with_threshold_zero_and_none_in_eval_mode():
    model = tiny(restart_threshold=0.0)
    before = model.codebook.embedding.clone()
    model.eval()
    model.loss(digits())
    assert torch.equal(model.codebook.embedding, before)  # eval mode: the codebook is left alone
    model.train()
    _, figures = model.loss(digits())
    assert figures["restarted"] == 0
    assert not torch.equal(model.codebook.embedding, before)  # training mode: the EMA moved it


def test_codes_round_trip_through_embeddings_and_the_encoder():
    model = tiny()
    model.train()
    model.loss(digits(64), generator=torch.Generator().manual_seed(0))  # codes on the data
    model.eval()
    with torch.no_grad():
        latent = model.encode(digits(8))
        assert latent.codes.shape == (8, 4, 4) and latent.codes.dtype == torch.int64
        assert latent.scale is None and torch.equal(latent.sample, latent.mean)
        z_q = model.embed_codes(latent.codes)
        assert torch.equal(z_q, latent.mean)
        flat = z_q.permute(0, 2, 3, 1).reshape(-1, 3)
        assert torch.equal(model.codebook.nearest(flat).view(8, 4, 4), latent.codes)  # z_q quantises to itself
        assert torch.equal(model.decode_codes(latent.codes), model.decode(latent.mean))


def test_bad_codes_are_refused_with_what_is_allowed():
    model = tiny()
    with pytest.raises(genplug.GenplugError, match=r"codes must be in 0\.\.7"):
        model.decode_codes(torch.full((1, 4, 4), 8))
    with pytest.raises(genplug.GenplugError, match=r"integers of shape \(B, 4, 4\)"):
        model.decode_codes(torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(genplug.GenplugError, match="takes examples of shape"):
        model.encode(torch.zeros(1, 1, 4, 4))


def test_perplexity_is_the_number_of_codes_used_evenly():
    assert math.isclose(perplexity(torch.tensor([0, 1, 2, 3]), 8), 4.0)
    assert math.isclose(perplexity(torch.tensor([5, 5, 5]), 8), 1.0)
    usage = tiny().usage(digits(4))
    assert 1.0 <= usage["perplexity"] <= usage["codes_used"] <= 8


def test_the_elbo_is_the_reconstruction_term_minus_the_uniform_prior():
    model = tiny().eval()
    x = digits(4)
    with torch.no_grad():
        expected = model.log_likelihood(x) - 16 * math.log(8)
        assert torch.allclose(model.log_prob(x), expected)
        assert (model.log_prob(x) <= 0).all()  # a bound on the log-probability of discrete data


def test_config_errors_name_the_field():
    with pytest.raises(genplug.ConfigError, match="downsamples=4"):
        VQVAEConfig(downsamples=4)
    with pytest.raises(genplug.ConfigError, match="images"):
        VQVAEConfig(data_shape=(2,))
    with pytest.raises(genplug.ConfigError, match="num_codes"):
        VQVAEConfig(num_codes=1)


# -- the packaged weights ------------------------------------------------------------------


def test_the_packaged_weights_load_with_their_training_record():
    folder = genplug.default_weights("vq-vae")
    assert folder.name == "vq_weights" and (folder / "training.json").is_file()
    model = genplug.load("vq-vae")
    assert (model.code_shape, model.num_codes, model.latent_shape) == ((4, 4), 64, (16, 4, 4))
    record = json.loads((folder / "training.json").read_text())
    assert record["architecture"] == "vq-vae" and record["cpu_seconds"] > 0
    with torch.no_grad():
        codes = model.encode(digits(32)).codes
    assert codes.unique().numel() > 8  # the trained codebook is not collapsed onto a few codes


def test_genplug_run_vq_vae_offline(tmp_path: Path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    script = Path(sys.executable).with_name("genplug")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "genplug"]
    result = subprocess.run(
        [*command, "run", "vq-vae", "-n", "4", "--seed", "1", "-o", "x.npy"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    import numpy as np

    samples = torch.from_numpy(np.load(tmp_path / "x.npy"))
    expected = genplug.sample(genplug.load("vq-vae"), 4, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(samples, expected)
