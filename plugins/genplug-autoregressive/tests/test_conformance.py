"""genplug's conformance kit over everything genplug-autoregressive registers."""

import pytest

from genplug.testing import conformance_cases


@pytest.mark.parametrize("case", conformance_cases("genplug-autoregressive"), ids=str)
def test_conformance(case):
    case.run()
