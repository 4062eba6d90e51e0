"""``genplug new-plugin NAME``: write a complete, installable plugin package.

The package passes its own tests straight after ``pip install -e``: a registration
module, a tiny working architecture (a diagonal Gaussian with an exact likelihood), a
test that runs the conformance kit, a README and a pyproject with the entry point.
"""

from __future__ import annotations

import re
from pathlib import Path

from genplug._errors import GenplugError
from genplug._plugins import API_VERSION
from genplug._version import __version__

__all__ = ["new_plugin"]

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "genplug-{name}"
version = "0.1.0"
description = "{title}: a genplug plugin"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["genplug>={core}", "torch>=2.1"]

[project.optional-dependencies]
test = ["pytest>=8"]

[project.entry-points.genplug]
{package} = "{package}.plugin"

[tool.setuptools.packages.find]
include = ["{package}*"]
"""

_INIT = '''\
"""genplug-{name}: {title}."""

__version__ = "0.1.0"
'''

_PLUGIN = '''\
"""Registration only: this module must not import torch or the model code."""

from __future__ import annotations

import genplug

GENPLUG_API = {api}


@genplug.hookimpl
def register_architectures(register):
    register(
        genplug.ArchitectureSpec(
            name="{name}",
            family="other",
            description="{title}: a diagonal Gaussian (replace it with your model)",
            model="{package}.model:{cls}",
        )
    )
'''

_MODEL = '''\
"""{title}: a diagonal Gaussian over the data, the smallest complete genplug model.

Replace it with your architecture and keep the contract: a frozen attrs config, ``sample``
with a seeded generator, ``loss`` for the shared trainer, and ``log_prob`` when the model
has a likelihood (declare its kind in ``log_prob_kinds``).
"""

from __future__ import annotations

import math

import attrs
import torch

import genplug


@attrs.frozen
class {cls}Config:
    data_shape: tuple[int, ...] = attrs.field(default=(2,), converter=tuple)  # shape of one example


class {cls}(genplug.Model):
    """A learned mean and scale per dimension; exact log-likelihood."""

    architecture = "{name}"
    config_class = {cls}Config
    log_prob_kinds = ("exact",)
    train_defaults = {{"lr": 0.05, "batch_size": 128, "steps": 500}}
    # small configs the conformance kit checks
    conformance_configs = ({{"data_shape": (2,)}}, {{"data_shape": (1, 8, 8)}})

    def __init__(self, config: {cls}Config) -> None:
        super().__init__(config)
        self.mean = torch.nn.Parameter(torch.zeros(config.data_shape))
        self.log_scale = torch.nn.Parameter(torch.zeros(config.data_shape))

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        eps = torch.randn((n, *self.event_shape), generator=generator, device=self.device, dtype=self.mean.dtype)
        return self.mean + self.log_scale.exp() * eps

    def log_prob(self, x: torch.Tensor, *, kind: str | None = None, generator=None) -> torch.Tensor:
        z = (x - self.mean) / self.log_scale.exp()
        return (-0.5 * z**2 - self.log_scale - 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)

    def loss(self, batch: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        return -self.log_prob(batch).mean()
'''

_TEST = """\
import pytest

import genplug
from genplug.testing import conformance_cases


@pytest.mark.parametrize("case", conformance_cases("genplug-{name}"), ids=str)
def test_conformance(case):
    case.run()


def test_registered():
    spec = genplug.registry().architecture("{name}")
    assert spec.plugin == "genplug-{name}"
"""

_README = """\
# genplug-{name}

{title}: a plugin for [genplug](https://github.com/genplug/genplug).

```bash
pip install -e .                     # registers the architecture `{name}`
genplug list                         # shows it
genplug train {name} --data 8gaussians --out runs/{name}
genplug run {name} --weights runs/{name} -n 500 -o samples.png
pytest                               # the conformance kit over everything this plugin registers
```

Edit `{package}/model.py` (the architecture) and `{package}/plugin.py` (what is
registered). Keep `plugin.py` free of heavy imports: `genplug list` loads it.
"""


def new_plugin(name: str, parent: Path) -> Path:
    """Write ``genplug-NAME/`` under ``parent`` and return its path."""

    name = name.removeprefix("genplug-")
    if not _NAME.match(name):
        raise GenplugError(
            f"plugin name {name!r} is not valid: use lower-case letters and digits, words joined by '-' "
            "(for example 'flow-matching')"
        )
    root = parent / f"genplug-{name}"
    if root.exists():
        raise GenplugError(f"{root} already exists; choose another name or remove it")
    package = "genplug_" + name.replace("-", "_")
    cls = "".join(part.capitalize() for part in name.split("-"))
    fields = {
        "name": name,
        "package": package,
        "cls": cls,
        "title": name.replace("-", " ").title(),
        "api": API_VERSION,
        "core": __version__,
    }
    files = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        f"{package}/__init__.py": _INIT,
        f"{package}/plugin.py": _PLUGIN,
        f"{package}/model.py": _MODEL,
        "tests/test_conformance.py": _TEST,
    }
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**fields))
    return root
