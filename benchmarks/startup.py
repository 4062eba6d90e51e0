"""How long `genplug list` takes next to `python -c "import torch"`.

The target: `genplug list`, with every plugin of this repository installed, takes at
most 15% of torch's import time (medians of 5 runs, measured side by side, alternating,
so a busy machine slows both alike). Run it in the environment that has the plugins:

    python benchmarks/startup.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 5
COMMANDS = {
    "genplug list": [sys.executable, "-m", "genplug", "list"],
    "import torch": [sys.executable, "-c", "import torch"],
}


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    for cmd in COMMANDS.values():  # warm the file cache once
        wall(cmd)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(RUNS):
        for name, cmd in COMMANDS.items():
            times[name].append(wall(cmd))
    medians = {name: statistics.median(t) for name, t in times.items()}
    plugins = subprocess.run(
        [sys.executable, "-m", "genplug", "list", "--json"], check=True, capture_output=True, text=True
    ).stdout
    import json

    names = [p["name"] for p in json.loads(plugins)["plugins"]]
    ratio = medians["genplug list"] / medians["import torch"]
    print(f"plugins loaded: {', '.join(names)}")
    for name, median in medians.items():
        print(f"{name:>14}: median {median * 1000:.0f} ms over {RUNS} runs")
    print(f"ratio genplug list / import torch: {ratio:.1%} (target <= 15%)")
    sys.exit(0 if ratio <= 0.15 else 1)


if __name__ == "__main__":
    main()
