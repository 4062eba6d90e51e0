"""genplug's conformance kit over everything genplug-vae registers."""

import pytest

from genplug.testing import conformance_cases


@pytest.mark.parametrize("case", conformance_cases("genplug-vae"), ids=str)
def test_conformance(case):
    case.run()
