"""Class-conditional diffusion: the label embedding, label dropout, classifier-free guidance
through one wrapper for every sampler, and one-line errors for bad labels and guidance."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from genplug_diffusion.samplers.guidance import Guided

import genplug
from genplug._cli import cli

SAMPLERS = ("ddpm", "ddim", "dpm-solver++", "unipc")


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def tiny(**config) -> genplug.Model:
    torch.manual_seed(0)
    fields = {"data_shape": (1, 8, 8), "channels": 8, "attention_heads": 2, "num_train_timesteps": 50}
    return genplug.create("diffusion", **{**fields, **config}).eval()


@pytest.fixture(scope="module")
def conditional():
    model = tiny(classes=3, label_dropout=0.2, guidance=2.0)
    with torch.no_grad():  # a label embedding wide enough that every label moves the prediction visibly
        model.net.label_embed.table.weight.normal_(generator=g(1))
    return model


def test_a_conditional_model_declares_its_label_and_an_unconditional_one_none(conditional):
    assert conditional.conditions["label"].kind == "class" and conditional.conditions["label"].classes == 3
    assert tiny().conditions == {}
    assert "net.label_embed.table.weight" not in tiny().state_dict()  # unconditional weights are unchanged


def test_the_label_reaches_the_prediction_and_none_is_the_null_label(conditional):
    x, t = torch.randn(3, 1, 8, 8, generator=g()), torch.tensor([5, 20, 40])
    with torch.no_grad():
        null = conditional.predict(x, t)
        assert torch.equal(null, conditional.predict(x, t, torch.full((3,), 3)))  # index `classes` is the null label
        zero = conditional.predict(x, t, torch.zeros(3, dtype=torch.long))
        one = conditional.predict(x, t, torch.ones(3, dtype=torch.long))
    assert not torch.allclose(zero, one) and not torch.allclose(zero, null)


def test_the_null_label_starts_at_zero_so_unconditional_weights_sample_as_before():
    unconditional = tiny()
    conditional = tiny(classes=10, label_dropout=0.1)
    missing, unexpected = conditional.load_state_dict(unconditional.state_dict(), strict=False)
    assert missing == ["net.label_embed.table.weight"] and not unexpected
    for sampler in ("ddim", "unipc"):
        a = genplug.sample(unconditional, 4, sampler=sampler, steps=5, generator=g())
        assert torch.equal(a, genplug.sample(conditional, 4, sampler=sampler, steps=5, generator=g()))


def test_guided_predictions_mix_the_conditional_and_unconditional_ones(conditional):
    x, t, label = torch.randn(3, 1, 8, 8, generator=g()), torch.tensor(17), torch.tensor([0, 1, 2])
    with torch.no_grad():
        cond, uncond = conditional.predict(x, t, label), conditional.predict(x, t)
        assert torch.equal(Guided(conditional, label, 1.0).predict(x, t), cond)
        assert torch.equal(Guided(conditional, label, 0.0).predict(x, t), uncond)
        for scale in (0.5, 3.0):
            expected = uncond + scale * (cond - uncond)
            assert torch.allclose(Guided(conditional, label, scale).predict(x, t), expected, atol=1e-6)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_guides_through_the_one_wrapper(conditional, sampler):
    steps = 5
    own = {"variance": "large"} if sampler == "ddpm" else {}  # the sampler's own options pass through too

    def draw(scale: float) -> torch.Tensor:
        options = {**own, "guidance": scale}
        return genplug.sample(
            conditional, 4, sampler=sampler, steps=steps, label=1, sampler_options=options, generator=g()
        )

    got = draw(3.0)
    chosen = genplug.get_sampler(sampler, conditional, **own)
    wrapped = Guided(conditional, torch.ones(4, dtype=torch.long), 3.0)
    expected = conditional.to_data_space(chosen(wrapped, 4, steps=steps, generator=g()))
    assert torch.equal(got, expected)
    assert torch.equal(draw(3.0), got)  # the same seed, the same samples
    assert not torch.equal(draw(1.0), got)  # guidance changes them


def test_the_config_guidance_is_the_default_scale_with_a_label(conditional):
    default = genplug.sample(conditional, 3, steps=5, label=2, generator=g())
    explicit = genplug.sample(conditional, 3, steps=5, label=2, sampler_options={"guidance": 2.0}, generator=g())
    assert torch.equal(default, explicit)


def test_label_dropout_replaces_that_fraction_of_labels_by_the_null_label():
    model = tiny(classes=3, label_dropout=0.2)
    seen = []
    forward = model.net.forward

    def spy(x, t, label=None):
        seen.append(label)
        return forward(x, t, label)

    model.net.forward = spy
    x, y = torch.rand(2000, 1, 8, 8, generator=g()), torch.randint(0, 3, (2000,), generator=g())
    model.loss(x, label=y, generator=g(5))
    (label,) = seen
    null = label == 3
    assert 0.17 < null.float().mean() < 0.23  # 0.2 of 2000: 400 ± 18
    assert torch.equal(label[~null], y[~null])  # the others are kept as they were
    model.loss(x, generator=g(5))  # no labels: the null label throughout
    assert seen[1] is None
    seen.clear()
    model.loss(x, label=y, generator=g(5))
    assert torch.equal(seen[0], label)  # the dropout is drawn from the generator


def test_training_on_digits_feeds_the_labels(tmp_path):
    model = tiny(classes=10, label_dropout=0.2)
    seen = []
    loss = model.loss

    def spy(batch, *, generator=None, label=None):
        seen.append(label)
        return loss(batch, generator=generator, label=label)

    model.loss = spy
    genplug.train(model, "digits", genplug.TrainConfig(steps=2, batch_size=8, seed=0), progress=False)
    assert len(seen) == 2 and all(s is not None and s.shape == (8,) for s in seen)


@pytest.mark.parametrize(
    ("config", "call", "message"),
    [
        ({"classes": 3, "label_dropout": 0.1}, {"label": 3}, "label=3 is out of range: model 'diffusion' takes labels"),
        ({"classes": 3, "label_dropout": 0.1}, {"label": -1}, "label=-1 is out of range"),
        ({}, {"label": 1}, "is unconditional"),
        ({}, {"sampler_options": {"guidance": 2.0}}, "is unconditional"),
        ({"classes": 3}, {"label": 1, "sampler_options": {"guidance": 2.0}}, "trained without label dropout"),
        ({"classes": 3, "label_dropout": 0.1}, {"sampler_options": {"guidance": 2.0}}, "needs a label"),
        ({"classes": 3, "label_dropout": 0.1}, {"label": 1, "sampler_options": {"guidance": -1}}, "a number from 0"),
    ],
)
def test_bad_labels_and_guidance_are_refused_in_one_line(config, call, message):
    model = tiny(**config)
    for draw in (model.sample, lambda n, **kw: genplug.sample(model, n, **kw)):
        with pytest.raises(genplug.GenplugError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
            draw(2, steps=2, **call)
        assert "\n" not in str(info.value)


def test_config_refuses_guidance_or_dropout_that_cannot_work():
    with pytest.raises(genplug.GenplugError, match="label_dropout=0.1 needs a class-conditional model"):
        genplug.create("diffusion", label_dropout=0.1)
    with pytest.raises(genplug.GenplugError, match="guidance=3.0 needs label_dropout > 0"):
        genplug.create("diffusion", classes=10, guidance=3.0)


@pytest.mark.parametrize(
    ("config", "args", "message"),
    [
        ({"classes": 3, "label_dropout": 0.1}, ["--label", "7"], "label=7 is out of range"),
        ({}, ["--label", "1"], "takes no class label"),
        ({"classes": 3}, ["--label", "1", "--sampler-option", "guidance=2"], "trained without label dropout"),
    ],
)
def test_the_cli_refuses_bad_labels_and_guidance_with_one_line_and_exit_1(tmp_path, config, args, message):
    folder = tmp_path / "model"
    tiny(**config).save_pretrained(folder)
    out = str(tmp_path / "x.png")
    command = ["run", "diffusion", "--weights", str(folder), "-n", "2", "--steps", "2", "-o", out, *args]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.strip()]
    assert len(errors) == 1 and message in errors[0], result.output


def test_the_cli_draws_a_label_with_guidance(tmp_path):
    folder = tmp_path / "model"
    tiny(classes=3, label_dropout=0.1).save_pretrained(folder)
    out = tmp_path / "x.png"
    args = ["--label", "2", "--sampler-option", "guidance=3", "-n", "2", "--steps", "2", "-o", str(out)]
    result = CliRunner().invoke(cli, ["run", "diffusion", "--weights", str(folder), *args])
    assert result.exit_code == 0, result.output
    assert out.is_file()
