"""genplug's conformance kit over everything genplug-flow registers (bijection checks included)."""

import pytest

from genplug.testing import conformance_cases


@pytest.mark.parametrize("case", conformance_cases("genplug-flow"), ids=str)
def test_conformance(case):
    case.run()
