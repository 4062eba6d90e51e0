"""DiffAugment: each augmentation does what its table says, is seeded and differentiable,
and the discriminator (only it) sees augmented images during training."""

from __future__ import annotations

import pytest
import torch
from genplug_gan import GAN, GANConfig, GANTrainOptions
from genplug_gan.augment import augment, parse_policy

import genplug


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int = 16, side: int = 8) -> torch.Tensor:
    return torch.rand(n, 1, side, side, generator=g(0)) + 0.5  # no zeros: shifted-in pixels show


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """x moved down by dy and right by dx, zeros shifted in (the reference, by slicing)."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def test_policies_parse_with_aliases_and_refuse_unknown_names():
    assert parse_policy("") == ()
    assert parse_policy("translation, color,brightness") == ("translation", "brightness", "contrast")
    with pytest.raises(genplug.ConfigError, match="unknown augmentation 'flip'"):
        parse_policy("translation,flip")
    with pytest.raises(genplug.ConfigError, match="augment"):
        GANTrainOptions(augment="rotate")


@pytest.mark.parametrize("side, most", [(8, 1), (16, 2), (32, 4)])
def test_translation_shifts_each_image_by_at_most_an_eighth_of_its_side(side, most):
    x = images(64, side)
    out = augment(x, ("translation",), g(1))
    moves = set()
    for i in range(len(x)):
        found = [
            (dy, dx)
            for dy in range(-most, most + 1)
            for dx in range(-most, most + 1)
            if torch.equal(out[i], shifted(x[i], dy, dx))
        ]
        assert len(found) == 1, f"image {i} is not a shift of at most {most} pixels"
        moves.add(found[0])
    assert len(moves) > 5  # drawn per image, not once per batch


def test_cutout_zeroes_one_square_of_half_the_side_clipped_at_the_edges():
    x = images(64)
    out = augment(x, ("cutout",), g(2))
    kept = out == x
    assert torch.all(out[~kept] == 0)
    holes = (~kept).sum(dim=(1, 2, 3))
    assert holes.max() == 16 and holes.min() >= 4  # 4x4 inside, at least 2x2 in a corner
    for hole in ~kept[:, 0]:
        rows, cols = hole.any(1).nonzero().flatten(), hole.any(0).nonzero().flatten()
        assert hole.sum() == len(rows) * len(cols)  # a rectangle
        assert rows.diff().eq(1).all() and cols.diff().eq(1).all()


def test_brightness_and_contrast_are_per_image_affine_maps_in_their_ranges():
    x = images(256).double()
    bright = augment(x, ("brightness",), g(3)) - x
    assert torch.allclose(bright, bright[:, :, :1, :1].expand_as(bright))  # one offset per image
    assert bright.min() >= -0.25 and bright.max() <= 0.25 and bright.std() > 0.1
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    factor = (augment(x, ("contrast",), g(3)) - mean) / (x - mean)
    assert torch.allclose(factor, factor[:, :, :1, :1].expand_as(factor))
    assert factor.min() >= 0.5 and factor.max() <= 1.5 and factor.std() > 0.2


def test_augmentations_are_seeded_and_differentiable():
    policy = parse_policy("translation,color,cutout")
    x = images(4).double().requires_grad_()
    assert torch.equal(augment(x, policy, g(5)), augment(x, policy, g(5)))
    assert not torch.equal(augment(x, policy, g(5)), augment(x, policy, g(6)))
    assert torch.autograd.gradcheck(lambda t: augment(t, policy, g(7)), (x,))


def reals_seen_by_the_discriminator(augment: str) -> tuple[GAN, torch.Tensor]:
    torch.manual_seed(0)
    model = GAN(GANConfig(data_shape=(1, 8, 8), latent_dim=8, hidden=4))
    seen: list[torch.Tensor] = []
    model.discriminator.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    config = genplug.TrainConfig(steps=1, batch_size=64, lr=1e-3, ema=None, options={"augment": augment})
    genplug.train(model, "digits", config, progress=False)
    return model, seen[0][:64]  # D's first call: 64 reals, then 64 fakes


def test_the_discriminator_sees_augmented_reals_and_the_generator_learns_through_them():
    digits = genplug.load_data("digits", "train").x.flatten(1)

    def known(reals: torch.Tensor) -> list[bool]:
        return [bool((row == digits).all(1).any()) for row in reals.flatten(1)]

    assert all(known(reals_seen_by_the_discriminator("")[1]))
    model, reals = reals_seen_by_the_discriminator("translation")
    assert sum(known(reals)) < 32  # most reals were shifted away from every training digit
    # the generator's update went through D on augmented fakes: its gradient is non-zero
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.generator.parameters())


def test_augmenting_vectors_is_refused_with_a_reason():
    model = GAN(GANConfig(data_shape=(2,), latent_dim=4, mlp_hidden=8, mlp_depth=1))
    config = genplug.TrainConfig(steps=1, batch_size=16, ema=None, options={"augment": "translation"})
    with pytest.raises(genplug.GenplugError, match="works on images"):
        genplug.train(model, "8gaussians", config, progress=False)
