"""The transformer ``Block`` beyond the GPT: bidirectional attention and DiT's adaLN modulation
(genplug-hybrid's ``dit`` builds its denoiser from these blocks)."""

from __future__ import annotations

import torch
from genplug_autoregressive.model import Block


def block(causal: bool) -> Block:
    torch.manual_seed(0)
    return Block(16, 2, 0.0, 0.0, True, causal=causal).eval()


def test_a_causal_block_hides_later_positions_and_a_non_causal_one_does_not():
    x = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(1))
    later = x.clone()
    later[:, -1] += 1.0  # change only the last position
    for causal in (True, False):
        model = block(causal)
        with torch.no_grad():
            first, changed = model(x)[0][:, 0], model(later)[0][:, 0]
        assert torch.equal(first, changed) is causal, f"causal={causal}"


def test_zero_modulation_gates_both_branches_off():
    model = block(causal=False)
    x = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        out, _ = model(x, modulation=torch.zeros(2, 6, 16))
    assert torch.equal(out, x)


def test_unit_gates_without_shift_or_scale_are_the_plain_block():
    model = block(causal=False)
    x = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(3))
    modulation = torch.zeros(2, 6, 16)
    modulation[:, 2] = modulation[:, 5] = 1.0  # the two gates
    with torch.no_grad():
        torch.testing.assert_close(model(x, modulation=modulation)[0], model(x)[0])


def test_modulation_is_applied_per_example():
    model = block(causal=False)
    x = torch.randn(1, 5, 16, generator=torch.Generator().manual_seed(4)).expand(2, 5, 16)
    modulation = torch.randn(2, 6, 16, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        both, _ = model(x, modulation=modulation)
        second, _ = model(x[1:], modulation=modulation[1:])
    torch.testing.assert_close(both[1:], second)
    assert not torch.allclose(both[0], both[1])
