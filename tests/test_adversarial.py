"""Issue 19: untrusted model folders, Hub repos and CLI input are handled cleanly.

One test per case of :mod:`adversarial` (crafted folders, Hub ids and repos, CLI argument
fuzz); ``python -m adversarial`` prints the same cases as a summary per category.
"""

from __future__ import annotations

import pytest
from adversarial import all_cases, run_case

# huggingface_hub 2.4 PUTs LFS bytes with httpx2's data= (its own deprecation), not ours.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_untrusted_input_is_handled_cleanly(case):
    reason = run_case(case)
    assert reason is None, f"[issue 19, point {case.point}] {case.name}: {reason}"
