"""genplug's conformance kit over everything genplug-gan registers: it includes the training
check for the alternating generator / discriminator updates."""

import pytest

from genplug.testing import conformance_cases


@pytest.mark.parametrize("case", conformance_cases("genplug-gan"), ids=str)
def test_conformance(case):
    case.run()
