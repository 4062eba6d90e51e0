"""``dit``: a diffusion model with a transformer denoiser over patches, beyond the
conformance kit (which ``test_packaged.py`` runs on each of ``DiT.conformance_configs``)."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from genplug_autoregressive.model import Block
from genplug_diffusion import DiffusionModel
from genplug_hybrid import DiT, DiTConfig

import genplug
from genplug.testing import check_sampler, run_genplug

TINY = {"n_layer": 2, "n_head": 2, "n_embd": 16, "num_train_timesteps": 100, "levels": 17}
CONDITIONAL = {**TINY, "classes": 3, "label_dropout": 0.1, "guidance": 2.0}
SAMPLERS = ("ddpm", "ddim", "dpm-solver++", "unipc")


def make(**config) -> DiT:
    torch.manual_seed(0)
    return genplug.create("dit", **config).eval()


def redrawn(model: DiT, seed: int = 0) -> DiT:
    """A copy with every weight drawn from N(0, 0.3²): away from adaLN-Zero's zeros, so that
    the inputs, the timestep and the label all reach the output."""
    model = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
    return model


def inputs(batch: int = 4, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 1, 8, 8, generator=g), torch.randint(0, 100, (batch,), generator=g)


def test_dit_is_a_diffusion_model_whose_denoiser_is_built_of_autoregressive_blocks():
    model = make(**TINY)
    assert isinstance(model, DiffusionModel)
    assert model.config.denoiser == "transformer"
    blocks = list(model.net.blocks)
    assert len(blocks) == 2 and all(type(b) is Block for b in blocks)
    assert not any(b.attn.causal for b in blocks)
    assert model.net.tokens == 16  # 8x8 in 2x2 patches


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_diffusion_sampler_passes_the_kit_on_a_dit(name):
    check_sampler(name, "dit", CONDITIONAL)


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_diffusion_sampler_draws_labelled_guided_samples(name):
    model = redrawn(make(**CONDITIONAL))
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    x = model.sample(4, sampler=name, steps=5, generator=g(), label=1)
    assert x.shape == (4, 1, 8, 8) and torch.isfinite(x).all() and 0 <= x.min() <= x.max() <= 1
    unguided = model.sample(4, sampler=name, steps=5, generator=g(), label=1, sampler_options={"guidance": 1.0})
    assert not torch.equal(x, unguided)


def test_adaln_zero_makes_every_block_the_identity_and_the_first_prediction_zero():
    model = make(**CONDITIONAL)
    x, t = inputs()
    net = model.net
    with torch.no_grad():
        for label in (None, torch.tensor([0, 1, 2, 0])):
            assert torch.equal(model.predict(x, t, label), torch.zeros_like(x))
        h = net.patchify(x).flatten(2).transpose(1, 2) + net.position
        c = net.time_mlp(torch.ones(4, 16))
        for block, modulation in zip(net.blocks, net.modulation, strict=True):
            assert torch.equal(block(h, modulation=modulation(c).view(4, 6, 16))[0], h)


def test_one_training_step_moves_the_prediction_off_zero():
    model = make(**TINY).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batch = model.conformance_batch(8, generator=torch.Generator().manual_seed(2))
    for _ in range(2):  # the first step trains the output layer, the second the rest through it
        optimizer.zero_grad()
        model.loss(batch, generator=torch.Generator().manual_seed(4)).backward()
        optimizer.step()
    x, t = inputs()
    with torch.no_grad():
        assert model.predict(x, t).abs().max() > 0
    assert model.net.modulation[0][1].weight.abs().max() > 0  # the gates opened


def test_the_training_options_reach_adamw_and_bad_ones_are_refused():
    model = make(**TINY)
    (default,) = model.configure_optimizers(genplug.TrainConfig(lr=2e-3)).values()
    assert default.defaults["betas"] == (0.9, 0.95) and default.defaults["weight_decay"] == 0.0  # the recipe's
    config = genplug.TrainConfig(lr=2e-3, options={"beta2": 0.99, "weight_decay": 0.1})
    (adamw,) = model.configure_optimizers(config).values()
    assert isinstance(adamw, torch.optim.AdamW) and adamw.defaults["lr"] == 2e-3
    assert adamw.defaults["betas"] == (0.9, 0.99) and adamw.defaults["weight_decay"] == 0.1
    with pytest.raises(genplug.GenplugError, match=r"beta2 must be a number in \[0.0, 1.0\), got 1.0"):
        model.configure_optimizers(genplug.TrainConfig(options={"beta2": 1.0}))


def test_the_label_changes_the_prediction_and_none_is_the_null_label():
    model = redrawn(make(**CONDITIONAL))
    x, t = inputs()
    with torch.no_grad():
        by_label = [model.predict(x, t, torch.full((4,), k)) for k in range(3)]
        null = model.predict(x, t)
        explicit_null = model.net(x, t, torch.full((4,), 3))  # classes = 3: the null label's row
    assert not torch.allclose(by_label[0], by_label[1])
    assert not torch.allclose(by_label[0], null)
    assert torch.equal(null, explicit_null)


def test_the_timestep_changes_the_prediction():
    model = redrawn(make(**TINY))
    x, _ = inputs()
    with torch.no_grad():
        assert not torch.allclose(model.predict(x, 10), model.predict(x, 90))


def test_attention_is_bidirectional_the_first_patch_sees_the_last():
    model = redrawn(make(**TINY))
    x, t = inputs()
    later = x.clone()
    later[..., 6:, 6:] += 1.0  # only the last 2x2 patch
    with torch.no_grad():
        first, changed = model.predict(x, t)[..., :2, :2], model.predict(later, t)[..., :2, :2]
    assert not torch.allclose(first, changed)


def test_patches_go_back_where_they_came_from():
    """With the blocks skipped, the output layer set to copy each token's patch embedding
    back, the network is the identity on the pixels: unpatchify inverts patchify."""
    model = make(n_layer=1, n_head=1, n_embd=4, num_train_timesteps=100)
    net = model.net
    with torch.no_grad():
        net.patchify.weight.copy_(torch.eye(4).view(4, 1, 2, 2))  # token d = pixel d of the patch, raster order
        net.patchify.bias.zero_()
        net.position.zero_()
        net.out.weight.copy_(torch.eye(4))
        net.norm_out = torch.nn.Identity()  # no normalisation, and no modulation (zero from adaLN-Zero)
        x, t = inputs()
        assert torch.equal(net(x, t), x)


def test_unlabelled_models_refuse_labels_and_guidance_needs_label_dropout():
    with pytest.raises(genplug.GenplugError, match="unconditional"):
        make(**TINY).sample(2, steps=2, label=1)
    model = make(**{**TINY, "classes": 3})
    with pytest.raises(genplug.GenplugError, match="label dropout"):
        model.sample(2, steps=2, label=1, sampler_options={"guidance": 3.0})
    with pytest.raises(genplug.GenplugError, match="out of range"):
        model.sample(2, steps=2, label=3)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"patch_size": 3}, "patch_size=3 must divide the image's 8x8"),
        ({"data_shape": (2,)}, r"data_shape=\(2,\) is not an image"),
        ({"n_embd": 18, "n_head": 4}, "n_embd=18 must be a multiple of n_head=4"),
        ({"denoiser": "unet"}, "denoiser"),
        ({"n_layer": 0}, "n_layer"),
    ],
)
def test_bad_configs_are_refused_naming_the_field(config, message):
    with pytest.raises(genplug.ConfigError, match=message):
        DiTConfig(**config)


def test_save_and_load_round_trip(tmp_path: Path):
    model = redrawn(make(**CONDITIONAL))
    model.save_pretrained(tmp_path / "dit")
    loaded = genplug.load(tmp_path / "dit")
    assert type(loaded) is DiT and loaded.config == model.config
    (x, t), label = inputs(), torch.tensor([0, 1, 2, 1])
    with torch.no_grad():
        assert torch.equal(loaded.predict(x, t, label), model.predict(x, t, label))
        a = loaded.sample(3, sampler="dpm-solver++", steps=4, generator=torch.Generator().manual_seed(5), label=2)
        b = model.sample(3, sampler="dpm-solver++", steps=4, generator=torch.Generator().manual_seed(5), label=2)
    assert torch.equal(a, b)


# -- U-ViT's options: long skips and the output convolution (off by default) ------------------

UVIT = {**CONDITIONAL, "n_layer": 5, "long_skips": True, "conv_out": True}


def test_long_skips_join_the_first_blocks_to_the_last_and_the_first_prediction_stays_zero():
    model = make(**UVIT)
    assert len(model.net.skips) == 2 and model.net.skips[0].in_features == 2 * 16  # (5 - 1) // 2 skips
    assert len(make(**{**UVIT, "n_layer": 6}).net.skips) == 2 and len(make(**CONDITIONAL).net.skips) == 0
    x, t = inputs()
    with torch.no_grad():
        assert torch.equal(model.predict(x, t, torch.tensor([0, 1, 2, 0])), torch.zeros_like(x))  # adaLN-Zero kept
        model = redrawn(model)
        before = model.predict(x, t)
        assert before.shape == x.shape and before.abs().max() > 0
        model.net.skips[1].weight[:, 16:] = 0  # the second skip's input (block 0's output) cut off
        assert not torch.allclose(model.predict(x, t), before)


def test_the_output_convolution_is_applied_after_unpatchifying():
    with_conv = redrawn(make(**UVIT))
    without = make(**{**UVIT, "conv_out": False})
    without.load_state_dict({k: v for k, v in with_conv.state_dict().items() if "conv_out" not in k})
    x, t = inputs()
    with torch.no_grad():
        assert not torch.allclose(with_conv.predict(x, t), without.predict(x, t))
        with_conv.net.conv_out.weight.zero_()
        with_conv.net.conv_out.weight[:, :, 1, 1] = 1  # the identity kernel
        with_conv.net.conv_out.bias.zero_()
        assert torch.allclose(with_conv.predict(x, t), without.predict(x, t), atol=1e-6)


def test_a_config_without_the_uvit_fields_loads_as_before(tmp_path: Path):
    model = redrawn(make(**UVIT))
    model.save_pretrained(tmp_path / "uvit")
    loaded = genplug.load(tmp_path / "uvit")
    assert loaded.config.long_skips and loaded.config.conv_out
    x, t = inputs()
    with torch.no_grad():
        assert torch.equal(loaded.predict(x, t), model.predict(x, t))
    path = tmp_path / "uvit" / "config.json"  # a config written before the fields existed: both off
    doc = json.loads(path.read_text())
    del doc["config"]["long_skips"], doc["config"]["conv_out"]
    assert not DiTConfig(**{**doc["config"], "data_shape": (1, 8, 8)}).long_skips
    with pytest.raises(genplug.ConfigError, match="long_skips"):
        DiTConfig(long_skips="yes")


# -- the packaged weights (scripts/train_dit.py) --------------------------------------------

PACKAGED = Path(__file__).resolve().parents[1] / "genplug_hybrid" / "packaged" / "dit"


@pytest.fixture(scope="module")
def packaged() -> DiT:
    return genplug.load("dit")


def test_the_packaged_weights_are_the_training_scripts_model(packaged: DiT):
    assert genplug.default_weights("dit") == PACKAGED
    doc = json.loads((PACKAGED / "config.json").read_text())
    assert doc["architecture"] == "dit" and doc["plugin"]["name"] == "genplug-hybrid"
    sys.path.insert(0, str(PACKAGED.parents[2] / "scripts"))
    try:
        from train_dit import CONFIG, STAGE1, TRAIN
    finally:
        sys.path.pop(0)
    for key, value in CONFIG.items():
        assert doc["config"][key] == (list(value) if isinstance(value, tuple) else value), key
    record = json.loads((PACKAGED / "training.json").read_text())
    assert record["steps"] == TRAIN["steps"] and record["cpu_seconds"] > 0
    assert STAGE1["steps"] == 0 and "stage1_steps" not in record  # one stage, with labels from the start
    assert record["train_config"]["lr"] == TRAIN["lr"] == DiT.train_defaults["lr"]
    assert record["train_config"]["steps"] == DiT.train_defaults["steps"]
    assert record["parameters"] == sum(p.numel() for p in packaged.parameters())
    assert type(packaged) is DiT and packaged.conditions["label"].classes == 10


def test_the_packaged_weights_draw_the_digit_asked_for(packaged: DiT):
    """Samples asked for each digit are recognised as it by the digit classifier genplug
    eval uses (its conditional accuracy: 0.996 over 1000 samples with DDIM, 50 steps)."""
    from genplug._metrics import conditional_accuracy

    labels = torch.arange(20) % 10
    x = packaged.sample(20, sampler="unipc", steps=20, generator=torch.Generator().manual_seed(0), label=labels)
    assert x.shape == (20, 1, 8, 8) and 0 <= x.min() and x.max() <= 1
    assert conditional_accuracy(x, labels) >= 0.8


def test_genplug_run_dit_works_offline(tmp_path: Path, packaged: DiT):
    args = ["run", "dit", "-n", "4", "--seed", "3", "-s", "unipc", "-k", "10", "--label", "7", "-o", "x.npy"]
    result = run_genplug(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    samples = torch.from_numpy(np.load(tmp_path / "x.npy"))
    g = torch.Generator().manual_seed(3)
    expected = genplug.sample(packaged, 4, sampler="unipc", steps=10, label=7, generator=g)
    assert torch.allclose(samples, expected, atol=1e-6)
