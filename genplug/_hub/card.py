"""The model card: the ``README.md`` of a genplug model repository on the Hub."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from genplug._plugins import registry

__all__ = ["CARD_NAME", "EVAL_NAME", "SAMPLES_NAME", "TRAINING_NAME", "model_card"]

CARD_NAME = "README.md"
TRAINING_NAME = "training.json"
EVAL_NAME = "eval.json"
SAMPLES_NAME = "samples.png"
# eval.json keys that are settings of the run rather than figures.
_DIST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?")
_EVAL_SETTINGS = ("architecture", "weights", "data", "n", "sampler", "steps", "seed", "device", "metrics", "command")

# -- model card ------------------------------------------------------------------------------


def model_card(
    doc: Mapping[str, Any],
    *,
    repo_id: str,
    components: Mapping[str, Mapping[str, Any]] | None = None,
    training: Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | None = None,
    samples: str | None = None,
    license: str | None = None,
    description: str | None = None,
    tags: tuple[str, ...] | list[str] = (),
) -> str:
    """The ``README.md`` of a genplug model repository.

    Arguments:
        doc: the model's ``config.json`` content.
        repo_id: where it is uploaded (used in the usage lines).
        components: a hybrid's components: name -> that component's ``config.json``.
        training: the ``training.json`` record, or ``None`` (the card says it was not recorded).
        evaluation: the ``eval.json`` figures, or ``None`` (the card says there are none).
        samples: how ``samples.png`` was made, or ``None`` when there is no sample image.
        license: a Hub licence id; ``None`` writes ``other`` and says no licence was stated.
        description: a paragraph of your own, placed under the title.
        tags: extra tags.
    """
    components = dict(components or {})
    architecture = doc.get("architecture") or "hybrid"
    plugin = doc.get("plugin") or {}
    dist, dist_version = plugin.get("name"), plugin.get("version")
    spec = _architecture_spec(architecture)
    family = "hybrid" if components else (spec.family if spec else None)
    config = doc.get("config") or {}
    shape = config.get("data_shape")
    is_image = isinstance(shape, (list, tuple)) and len(shape) == 3

    all_tags = ["genplug", architecture]
    if family and family != "other":
        all_tags.append(family)
    if dist:
        all_tags.append(dist)
    for part in components.values():
        part_dist = (part.get("plugin") or {}).get("name")
        all_tags += [t for t in (part.get("architecture"), part_dist) if t]
    all_tags += list(tags)
    unique_tags = list(dict.fromkeys(str(t) for t in all_tags))
    yaml = ["---", "library_name: genplug", f"license: {license or 'other'}"]
    if is_image:
        yaml.append("pipeline_tag: unconditional-image-generation")
    yaml += ["tags:", *(f"- {_yaml_scalar(t)}" for t in unique_tags), "---", ""]

    named = [dist, *((p.get("plugin") or {}).get("name") for p in components.values())]
    plugins = [d for d in named if isinstance(d, str) and _DIST.fullmatch(d)]  # only valid package names
    install = " ".join(["genplug", *dict.fromkeys(plugins)])
    kind = f"a `{architecture}` model" + (f" ({family} family)" if family not in (None, "other", "hybrid") else "")
    if components:
        parts = ", ".join(f"{name}: `{part.get('architecture')}`" for name, part in components.items())
        kind = f"a genplug hybrid of {len(components)} components ({parts})"
    what = f"This is {kind} for [genplug](https://pypi.org/project/genplug/)"
    what += f", from the plugin `{dist}` {dist_version or ''}".rstrip() if dist else ""
    what += f", saved with genplug {doc.get('genplug_version', '?')}."
    lines = [*yaml, f"# {repo_id}", "", what]
    if spec is not None and spec.description:
        lines += ["", f"`{architecture}`: {spec.description}."]
    if description:
        lines += ["", description.strip()]
    if shape is not None:
        lines += ["", f"One sample has shape `{tuple(shape)}`."]

    lines += ["", "## Use", "", "```bash", f"pip install {install}"]
    if not components:
        lines.append(f"genplug run {architecture} --weights {repo_id} -n 64 -o samples.png")
    lines += [
        "```",
        "",
        "```python",
        "import torch",
        "import genplug",
        "",
        f'model = genplug.load("{repo_id}")  # pin a commit with "{repo_id}@<commit>"',
        "x = genplug.sample(model, 16, generator=torch.Generator().manual_seed(0))",
        "```",
    ]
    if config:
        lines += ["", "## Configuration", "", "| field | value |", "| --- | --- |"]
        lines += [f"| `{k}` | `{_cell(v)}` |" for k, v in config.items()]
    for name, part in components.items():
        part_config = part.get("config") or {}
        lines += ["", f"### Component `{name}`: `{part.get('architecture')}`"]
        if part_config:
            lines += ["", "| field | value |", "| --- | --- |"]
            lines += [f"| `{k}` | `{_cell(v)}` |" for k, v in part_config.items()]

    lines += ["", "## Training", ""]
    if training:
        command = training.get("command")
        if command:
            lines += ["Trained with:", "", "```bash", str(command), "```"]
        else:
            lines += ["The exact training command was not recorded."]
        settings = dict(training.get("train_config") or {})
        if training.get("data") is not None:
            settings = {"data": training["data"], **settings}
        if settings:
            lines += ["", "| setting | value |", "| --- | --- |"]
            lines += [f"| {k} | `{_cell(v)}` |" for k, v in settings.items() if v is not None]
    else:
        lines += ["How this model was trained was not recorded (the upload had no `training.json`)."]

    lines += ["", "## Evaluation", ""]
    figures = _figures(evaluation) if evaluation else {}
    if figures:
        assert evaluation is not None
        settings = {
            k: evaluation[k] for k in ("data", "n", "seed", "sampler", "steps") if evaluation.get(k) is not None
        }
        lines += [
            "Figures from `genplug eval`"
            + (f" ({', '.join(f'{k} {v}' for k, v in settings.items())})" if settings else "")
            + ":",
            "",
            "| figure | value |",
            "| --- | --- |",
        ]
        lines += [f"| {k} | {_number(v)} |" for k, v in figures.items()]
        command = evaluation.get("command") or _eval_command(architecture, repo_id, evaluation)
        if command and not components:
            lines += ["", "Reproduce with:", "", "```bash", str(command), "```"]
    else:
        lines += ["This model has not been evaluated with `genplug eval` (the upload had no `eval.json`)."]

    lines += ["", "## Samples", ""]
    if samples:
        lines += [f"![samples]({SAMPLES_NAME})", "", f"`{SAMPLES_NAME}`: {samples}."]
    else:
        lines += ["No sample image was uploaded with this model."]
    lines += ["", "## Licence", ""]
    lines += [
        f"`{license}`." if license else "The uploader did not state a licence (`genplug push --license ID` sets one)."
    ]
    return "\n".join(lines) + "\n"


def _architecture_spec(name: str) -> Any:
    try:
        return registry().architectures.get(name)
    except Exception:  # the card is still useful without the registry's family and description
        return None


def _figures(evaluation: Mapping[str, Any]) -> dict[str, Any]:
    nested = evaluation.get("metrics")
    figures = dict(nested) if isinstance(nested, Mapping) else {}
    for key, value in evaluation.items():
        if key in _EVAL_SETTINGS or isinstance(value, (dict, list)) or value is None:
            continue
        if isinstance(value, bool) or (isinstance(value, str) and len(value) > 40):
            continue
        figures[key] = value
    return figures


def _eval_command(architecture: str, repo_id: str, evaluation: Mapping[str, Any]) -> str:
    parts = ["genplug eval", architecture, "--weights", repo_id]
    for key, flag in (
        ("data", "--data"),
        ("n", "-n"),
        ("sampler", "--sampler"),
        ("steps", "--steps"),
        ("seed", "--seed"),
    ):
        if evaluation.get(key) is not None:
            parts += [flag, str(evaluation[key])]
    return " ".join(parts)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _cell(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (list, tuple, dict)) else str(value)
    return text.replace("|", "\\|")


def _yaml_scalar(text: str) -> str:
    return text if re.match(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$", text) else json.dumps(text)
