"""``python -m adversarial``: per category, how many cases were tried and how many were handled cleanly.

Run from the repository with ``tests/`` (and the plugins) on ``PYTHONPATH``; ``-k TEXT`` keeps the
cases whose name contains TEXT. One line follows per unclean case, with its issue point and reason.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

from adversarial import all_cases, run_case


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m adversarial", description=__doc__.splitlines()[0])
    parser.add_argument("-k", dest="keep", default="", help="only the cases whose name contains this text")
    options = parser.parse_args()
    start = time.monotonic()
    tried: dict[str, int] = defaultdict(int)
    clean: dict[str, int] = defaultdict(int)
    unclean: list[tuple[str, int, str, str]] = []
    for case in all_cases():
        if options.keep not in case.name:
            continue
        reason = run_case(case)
        tried[case.category] += 1
        if reason is None:
            clean[case.category] += 1
        else:
            unclean.append((case.category, case.point, case.name, reason))
    width = max(map(len, tried), default=0)
    print(f"{'category':<{width}}  tried  clean")
    for category in tried:
        print(f"{category:<{width}}  {tried[category]:>5}  {clean[category]:>5}")
    print(f"{'all':<{width}}  {sum(tried.values()):>5}  {sum(clean.values()):>5}   ({time.monotonic() - start:.0f} s)")
    if unclean:
        print(f"\n{len(unclean)} unclean (issue point, case: reason):")
        for _category, point, name, reason in sorted(unclean, key=lambda u: (u[1], u[0], u[2])):
            print(f"  [{point}] {name}: {reason}")
    return 1 if unclean else 0


if __name__ == "__main__":
    raise SystemExit(main())
