"""Install the core, every plugin under plugins/ and the test plugin, editable, in one pip call.

Used by tox and CI (after torch is installed), and by developers:

    python scripts/dev_install.py [extra pip requirements...]
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    plugins = sorted(p for p in (ROOT / "plugins").glob("genplug-*") if (p / "pyproject.toml").exists())
    targets = [ROOT, *plugins, ROOT / "tests" / "toy_plugin"]
    args = [arg for target in targets for arg in ("-e", str(target))]
    cmd = [sys.executable, "-m", "pip", "install", "-q", *args, *sys.argv[1:]]
    print("installing:", ", ".join(str(t.relative_to(ROOT)) or "." for t in targets), flush=True)
    subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
