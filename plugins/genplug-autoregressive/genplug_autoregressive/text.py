"""``transformer-text``: the :class:`~genplug_autoregressive.model.Transformer`, registered
under a second name so that it can ship a second set of default weights.

genplug gives each architecture name one packaged default; the ``transformer`` default is
the digits model. This class changes nothing but the name (and the data it trains on by
default), so ``genplug run transformer-text --prompt "Zoe had" -o out.txt`` loads the
packaged character model of the bundled ``tinytext`` stories, offline. Folders it saves
name ``transformer-text`` and load back as this class.
"""

from __future__ import annotations

from genplug_autoregressive.model import Transformer

__all__ = ["TextTransformer"]


class TextTransformer(Transformer):
    """A character-level GPT: ``genplug train transformer-text --data tinytext``.

    Example:
        >>> import torch, genplug
        >>> model = genplug.load("transformer-text")
        >>> x = genplug.sample(model, 1, prompt="Zoe had", generator=torch.Generator().manual_seed(0))
        >>> model.tokenizer.decode(x[0])[:7]
        'Zoe had'
    """

    architecture = "transformer-text"
    conformance_configs = (Transformer.conformance_configs[0],)  # the same code as transformer: one config
