"""The documentation site cannot drift from the code.

These tests read the markdown under docs/ and introspect the code; building the site
(`mkdocs build --strict`, tox env `docs`) is not their job.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import click
import pytest

import genplug
import genplug._cli.app
from genplug import _cli, _hookspecs

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GUIDE = DOCS / "plugins.md"
CLI_PAGE = DOCS / "cli.md"
API_PAGE = DOCS / "python-api.md"
FIGURES = DOCS / "figures"


class _Text(str):
    """An annotation string that prints without quotes, as it is written in the source."""

    def __repr__(self) -> str:
        return str(self)


def signature_text(fn: Any) -> str:
    """``(register: Callable[[Any], None]) -> None``: the signature as the source writes it."""
    sig = inspect.signature(fn)

    def plain(annotation: Any) -> Any:
        return _Text(annotation) if isinstance(annotation, str) else annotation

    params = [p.replace(annotation=plain(p.annotation)) for p in sig.parameters.values()]
    return str(sig.replace(parameters=params, return_annotation=plain(sig.return_annotation)))


def hookspecs() -> dict[str, Any]:
    """The hooks a plugin can implement: functions pluggy marked with ``genplug_spec``."""
    return {name: fn for name, fn in vars(_hookspecs).items() if inspect.isfunction(fn) and hasattr(fn, "genplug_spec")}


def nav_pages() -> list[str]:
    """The pages named in mkdocs.yml's ``nav``."""
    text = (ROOT / "mkdocs.yml").read_text()
    nav = re.search(r"^nav:\n(.*?)^\S", text, re.S | re.M)
    assert nav, "mkdocs.yml has no nav section"
    return re.findall(r"([\w./-]+\.md)\s*$", nav.group(1), re.M)


def excluded(page: str) -> bool:
    """Markdown that mkdocs.yml excludes from the pages: the generated figure snippets."""
    return page.startswith("figures/")


# -- the plugin-author guide ------------------------------------------------------


def test_every_hook_is_in_the_guide_with_its_signature_and_an_example():
    guide = GUIDE.read_text()
    hooks = hookspecs()
    assert "register_architectures" in hooks and len(hooks) >= 5, f"hookspecs not found: {sorted(hooks)}"
    for name, fn in hooks.items():
        signature = f"def {name}{signature_text(fn)}"
        assert f"### `{name}`" in guide, f"docs/plugins.md has no section '### `{name}`' for the hook {name}"
        assert signature in guide, f"docs/plugins.md does not give the hook's exact signature: {signature}"
        assert re.search(rf"@genplug\.hookimpl\n(?:@.*\n)*def {name}\(", guide), (
            f"docs/plugins.md has no example implementing {name} (@genplug.hookimpl + def {name}(...))"
        )


def test_signature_text_is_the_source_form():
    @_hookspecs.hookspec
    def register_things(register: Callable[[Any], None], *, flag: bool = False) -> None: ...

    assert signature_text(register_things) == "(register: Callable[[Any], None], *, flag: bool = False) -> None"


# -- the CLI reference --------------------------------------------------------------


def cli_directives() -> list[tuple[str, str]]:
    """``(module, command)`` of every ``::: mkdocs-click`` block in docs/cli.md."""
    blocks = re.findall(r"^::: mkdocs-click\n((?:[ \t]+:.*\n?)+)", CLI_PAGE.read_text(), re.M)
    directives = []
    for block in blocks:
        options = dict(re.findall(r":(\w+):[ \t]*(.*)", block))
        directives.append((options["module"], options["command"]))
    return directives


def test_every_cli_command_is_in_the_reference():
    # The commands of the group, and those main() adds at run time (push, download), without
    # any plugin's commands: an empty registry has none.
    group = click.Group()
    with genplug.use_registry(genplug.Registry()):
        genplug._cli.app.add_plugin_commands(group)
    assert not group.commands
    commands = dict(_cli.cli.commands)
    assert {"list", "run", "train", "eval", "push", "download"} <= set(commands)

    documented: set[int] = set()
    for module, name in cli_directives():
        obj = getattr(importlib.import_module(module), name, None)
        assert isinstance(obj, click.Command), f"docs/cli.md documents {module}:{name}, which is not a click command"
        documented.add(id(obj))
        documented.update(id(c) for c in getattr(obj, "commands", {}).values())
    missing = sorted(name for name, cmd in commands.items() if id(cmd) not in documented)
    assert not missing, f"docs/cli.md has no mkdocs-click directive covering: genplug {', genplug '.join(missing)}"


# -- pages and navigation -------------------------------------------------------------


def test_every_page_is_in_the_nav_and_every_nav_entry_exists():
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    pages = {p for p in pages if not excluded(p)}
    nav = nav_pages()
    assert len(nav) == len(set(nav)), f"a page appears twice in the nav: {nav}"
    assert set(nav) - pages == set(), f"the nav names pages that do not exist: {sorted(set(nav) - pages)}"
    assert pages - set(nav) == set(), f"pages missing from mkdocs.yml's nav: {sorted(pages - set(nav))}"
    assert "hub.md" in nav


def test_docs_requirements_are_pinned():
    lines = [line.strip() for line in (ROOT / "requirements-docs.txt").read_text().splitlines()]
    requirements = [line for line in lines if line and not line.startswith("#")]
    assert requirements and all(re.fullmatch(r"[A-Za-z0-9._-]+==[\w.]+", r) for r in requirements), requirements


# -- family pages and their figures -----------------------------------------------------


def test_every_installed_family_has_a_page_with_the_figures_of_each_architecture():
    reg = genplug.registry()
    index = (DOCS / "families" / "index.md").read_text()
    for spec in reg.architectures.values():
        if spec.family == "other" or spec.default_weights is None:  # figures come from packaged weights
            continue
        page = DOCS / "families" / f"{spec.family}.md"
        assert page.exists(), f"family {spec.family!r} ({spec.plugin}) has no page docs/families/{spec.family}.md"
        include = f'--8<-- "figures/{spec.name}-eval.md"'
        assert include in page.read_text(), (
            f"docs/families/{spec.family}.md does not include the figures of {spec.name!r}: add the line "
            f"{include} and run `python scripts/make_docs_figures.py {spec.name}`"
        )
        assert (FIGURES / f"{spec.name}-eval.md").exists(), (
            f"docs/figures/{spec.name}-eval.md is missing: run `python scripts/make_docs_figures.py {spec.name}`"
        )
        assert f"[{spec.family}]({spec.family}.md)" in index, f"docs/families/index.md does not link {spec.family}"


def _figures_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_docs_figures", ROOT / "scripts" / "make_docs_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def packaged_weights() -> dict[str, Path]:
    """Architectures whose packaged weights are present, with their weights folder."""
    found = {}
    for name, spec in genplug.registry().architectures.items():
        if spec.default_weights is None:
            continue
        try:
            found[name] = genplug.default_weights(name)
        except genplug.ModelFileError:
            continue
    return found


def test_figures_were_made_from_the_packaged_weights_as_they_are():
    for name, weights in packaged_weights().items():
        snippet = FIGURES / f"{name}-eval.md"
        if not snippet.exists():
            continue  # not an 8x8 image model (the family test catches a missing page)
        text = snippet.read_text()
        recorded = re.search(r"SHA-256 `([0-9a-f]{64})`", text)
        assert recorded, (
            f"{snippet.relative_to(ROOT)} was made without {name}'s weights, which now exist: "
            f"run `python scripts/make_docs_figures.py {name}`"
        )
        assert recorded.group(1) == _figures_script().weights_digest(weights), (
            f"{name}'s packaged weights changed since {snippet.relative_to(ROOT)} was made: "
            f"run `python scripts/make_docs_figures.py {name}`"
        )


@pytest.mark.parametrize("snippet", sorted(FIGURES.glob("*.md")), ids=lambda p: p.name)
def test_figure_snippets_link_existing_images(snippet):
    text = snippet.read_text()
    assert text.startswith("<!-- Generated by scripts/make_docs_figures.py"), f"{snippet.name} was not generated"
    for target in re.findall(r"!\[[^\]]*\]\(\.\./figures/([^)]+)\)", text):
        assert (FIGURES / target).exists(), f"{snippet.name} shows {target}, which is not in docs/figures/"


# -- the Python API page --------------------------------------------------------------


def test_every_public_name_and_signature_is_on_the_python_api_page():
    page = API_PAGE.read_text()
    for name in genplug.__all__:
        assert f"genplug.{name}" in page, f"docs/python-api.md does not mention genplug.{name}"
        obj = getattr(genplug, name)
        if inspect.isfunction(obj):
            signature = f"genplug.{name}{signature_text(obj)}"
            assert signature in page, f"docs/python-api.md does not give the exact signature: {signature}"


def test_every_protocol_member_spec_field_and_model_contract_member_is_in_the_guide():
    from genplug._protocols import PROTOCOLS, _protocol_members

    guide = (DOCS / "plugins.md").read_text()
    names = {f"{p.__name__}.{m}": m for p in PROTOCOLS.values() for m in _protocol_members(p)}
    for spec in (genplug.ArchitectureSpec, genplug.SamplerSpec, genplug.DatasetSpec, genplug.MetricSpec):
        names.update({f"{spec.__name__}.{f.name}": f.name for f in attrs.fields(spec)})
    contract = (
        "conditions", "prepare", "loss", "configure_optimizers", "training_step", "train_defaults",
        "train_options_class", "ema_modules", "inference_modules", "log_prob_discrete", "roles",
        "decode_sample", "decode_codes", "codes",
    )  # fmt: skip
    names.update({f"Model.{m}": m for m in contract})
    missing = sorted(where for where, name in names.items() if f"`{name}" not in guide)
    assert not missing, f"docs/plugins.md does not document {missing}"
