"""The toy plugin's config refuses what the shared validators refuse, naming the field."""

from __future__ import annotations

import pytest
from genplug_toy.model import ToyConfig

import genplug


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"hidden": 10**6}, "hidden"),
        ({"hidden": "4"}, "hidden"),
        ({"data_shape": (2**17,)}, "data_shape"),
        ({"data_shape": (4096, 4097)}, "data_shape"),
        ({"data_shape": ("2",)}, "data_shape"),
    ],
)
def test_config_refuses_huge_sizes_and_wrong_types_naming_the_field(fields, field):
    with pytest.raises(genplug.ConfigError, match=rf"ToyConfig\.{field}\b"):
        ToyConfig(**fields)
