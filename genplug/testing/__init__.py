"""The conformance kit: the contract every architecture and sampler must keep.

It is a pytest plugin (entry point ``pytest11``) and a plain library. A plugin's test
suite runs it over everything the plugin registers with three lines::

    import pytest
    from genplug.testing import conformance_cases

    @pytest.mark.parametrize("case", conformance_cases("genplug-myarch"), ids=str)
    def test_conformance(case):
        case.run()

For each architecture (in each of the model class's ``conformance_configs``, a tuple of
small config dicts; the class's defaults when it has none) it checks, on data from the
model's ``conformance_batch(n, *, generator)`` when it defines one, that:

- the model satisfies the protocols its spec declares;
- ``sample`` returns ``(n, *event_shape)`` floating tensors (or integer tokens);
- the same seeded generator gives the same samples, another seed others;
- with a class condition: the same label gives the same samples, another label others,
  and a label out of range raises :class:`genplug.GenplugError`;
- ``encode``/``decode`` give the declared latent and data shapes (encoders);
- bijections invert, their log-determinants cancel and equal autograd's;
- next-token models are causal, decode with a cache as without, give probabilities that
  sum to 1 over every sequence of an enumerable config, and sample from their logits;
- a few ``training_step`` calls give every trainable parameter a gradient (or change it)
  and make every optimizer step;
- ``save_pretrained`` + ``genplug.load`` give identical tensors and identical samples;
- ``log_prob`` is finite with shape ``(batch,)`` for every declared kind;
- the model samples after moving to float64 and, when a GPU is present, to CUDA;

and for each sampler, that it refuses an object without what it requires, samples
deterministically from a compatible architecture of the same plugin (given ``steps``
only when it takes them), and, for a decoding sampler, draws what the model's logits
say. All of it runs with network access blocked (:func:`no_network`).

The checks import torch; this package (loaded by every pytest run) imports them on use.
"""

from __future__ import annotations

from genplug._lazy import lazy_attributes
from genplug.testing._cases import Case, conformance_cases
from genplug.testing._network import genplug_no_network, no_network, run_genplug

__all__ = [
    "Case",
    "check_architecture",
    "check_bijection",
    "check_conditions",
    "check_next_token",
    "check_sampler",
    "check_training",
    "conformance_cases",
    "genplug_no_network",
    "no_network",
    "run_genplug",
]

_LAZY = {
    # name: module that defines it (each imports torch, so it loads on first use)
    "check_architecture": "genplug.testing._architecture",
    "check_bijection": "genplug.testing._bijection",
    "check_conditions": "genplug.testing._conditions",
    "check_next_token": "genplug.testing._tokens",
    "check_sampler": "genplug.testing._sampler",
    "check_training": "genplug.testing._training",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
