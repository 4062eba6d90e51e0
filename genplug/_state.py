"""Does a set of tensors fit a model? One error naming what does not, before or after reading them.

:func:`check_header` compares a model's expected state (built on the meta device, so no
memory is allocated) with a safetensors file's header alone, before any tensor is read;
:func:`check_state` compares it with tensors in memory. Both name, at most a few of
each, the missing, unexpected, mis-shaped and mis-typed tensors, and say how to fix it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genplug._errors import ModelFileError, shown
from genplug._files import safetensors_header

__all__ = ["check_header", "check_state", "only"]

_LISTED = 8  # names listed per kind of problem in one message


def _problems(
    expected: Mapping[str, tuple[tuple[int, ...], str]], found: Mapping[str, tuple[tuple[int, ...], str]]
) -> list[str]:
    def listing(names: list[str]) -> str:
        more = f" and {len(names) - _LISTED} more" if len(names) > _LISTED else ""
        return ", ".join(shown(n, limit=80)[1:-1] for n in names[:_LISTED]) + more

    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    shapes = [
        f"{k} (file {found[k][0]}, model {v[0]})" for k, v in expected.items() if k in found and found[k][0] != v[0]
    ]
    dtypes = [
        f"{k} (file {found[k][1]}, model {v[1]})"
        for k, v in expected.items()
        if k in found and found[k][0] == v[0] and found[k][1] != v[1]
    ]
    problems = []
    if missing:
        problems.append("missing: " + listing(missing))
    if unexpected:
        problems.append("unexpected: " + listing(unexpected))
    if shapes:
        problems.append("wrong shape: " + listing(shapes))
    if dtypes:
        problems.append("wrong dtype: " + listing(dtypes))
    return problems


_DTYPES = {
    "torch.float32": "F32", "torch.float64": "F64", "torch.float16": "F16", "torch.bfloat16": "BF16",
    "torch.int64": "I64", "torch.int32": "I32", "torch.int16": "I16", "torch.int8": "I8", "torch.uint8": "U8",
    "torch.bool": "BOOL",
}  # fmt: skip


def _shapes(tensors: Mapping[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    return {k: (tuple(v.shape), _DTYPES.get(str(v.dtype), str(v.dtype))) for k, v in tensors.items()}


def only(state: Mapping[str, Any], modules: tuple[str, ...] | None) -> dict[str, Any]:
    """The entries of ``state`` that belong to ``modules`` (all of them when ``None``)."""
    if not modules:
        return dict(state)
    prefixes = tuple(f"{m}." for m in modules)
    return {k: v for k, v in state.items() if k.startswith(prefixes)}


def check_state(model: Any, tensors: Mapping[str, Any], *, source: str, modules: tuple[str, ...] | None = None) -> None:
    """Raise one error naming the missing, unexpected, mis-shaped and mis-typed tensors
    (at most a few of each, and how many more); with ``modules``, of those submodules only."""
    _refuse(source, _problems(_shapes(only(model.state_dict(), modules)), _shapes(tensors)))


def check_header(expected: Mapping[str, Any], path: Path) -> None:
    """:func:`check_state` against the header of the safetensors file ``path``, before reading any tensor.

    ``expected`` is a state dict (its tensors may be on the ``meta`` device).
    """
    header, _ = safetensors_header(path)
    found = {k: (v.shape, v.dtype) for k, v in header.items()}
    _refuse(str(path), _problems(_shapes(expected), found))


def _refuse(source: str, problems: list[str]) -> None:
    if not problems:
        return
    fix = (
        "the weights were saved in another dtype: load them into the model in that dtype and save it in the "
        "model's own (model.float() for float32)"
        if all(p.startswith("wrong dtype") for p in problems)
        else "the weights and config.json come from different models: save the model again"
    )
    raise ModelFileError(
        f"{source} does not fit the model built from its config.json; {'; '.join(problems)}. {fix.capitalize()}."
    )
