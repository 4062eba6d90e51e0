"""Progress on a terminal for sampling and evaluation: a live count of the model's network calls.

A sampler's loop lives in its plugin, so the core cannot know its steps in advance; what
it can see is every call of the model's network. Forward hooks on the model's modules
count the *outermost* calls only (a call made while another of the model's modules is
running is part of that one), so one count is one step of a diffusion sampler (one call
of the denoiser), one token of an autoregressive sampler, one pass of a GAN's generator
or a VAE's decoder; a likelihood counts the calls it makes for each batch of data. tqdm
draws the count, the elapsed time and the rate on stderr.

The bar is shown only when asked (``--progress``, ``GENPLUG_PROGRESS=1``) or when stderr
is a terminal; pipes, logs and tests get nothing, and without a bar no hook is installed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["counting", "network_calls", "wanted"]


def wanted(flag: bool | None = None) -> bool:
    """Whether to show progress: ``flag`` when given, else ``GENPLUG_PROGRESS`` (``1``/``0``),
    else whether stderr is a terminal."""
    if flag is not None:
        return flag
    env = os.environ.get("GENPLUG_PROGRESS", "").strip()
    if env in ("0", "1"):
        return env == "1"
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


@contextmanager
def counting(model: Any, on_call: Callable[[], Any]) -> Iterator[None]:
    """Call ``on_call()`` at each outermost call of ``model``'s modules while the block runs.

    A call made while another of the model's modules runs is part of that one, so the UNet's
    blocks inside one denoiser call count once. The hooks are removed afterwards, also when
    the block raises.
    """
    modules = list(model.modules()) if callable(getattr(model, "modules", None)) else []
    depth = 0

    def enter(module: Any, args: Any) -> None:
        nonlocal depth
        depth += 1
        if depth == 1:
            on_call()

    def leave(module: Any, args: Any, output: Any) -> None:
        nonlocal depth
        depth -= 1

    handles = [m.register_forward_pre_hook(enter) for m in modules]
    handles += [m.register_forward_hook(leave, always_call=True) for m in modules]  # also when a call raises
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def network_calls(model: Any, description: str, *, show: bool) -> Iterator[Callable[[str], None]]:
    """Count ``model``'s outermost network calls on a bar while the block runs.

    Yields a function that sets the text after the count (e.g. the metric running).
    With ``show`` false nothing is drawn or hooked, and the function does nothing.
    """
    if not show:
        yield lambda text: None
        return
    from tqdm import tqdm  # the bar, only when one is shown

    bar = tqdm(desc=description, unit=" network calls", file=sys.stderr, dynamic_ncols=True, mininterval=0.2)
    try:
        with counting(model, bar.update):
            yield bar.set_postfix_str
    finally:
        bar.close()
