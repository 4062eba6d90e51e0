"""``--install`` of the hybrid training scripts: a run folder's files into the package.

    from _install import install   # the scripts' folder is on sys.path when one runs
    install(out, "vae-gan", ("config.json", "training.json", "vae", "gan"))

The files and part folders are copied into ``genplug_hybrid/packaged/<arch>.new`` first,
then swapped in for ``packaged/<arch>``, so a failed copy never leaves a half-installed
model behind.
"""

from __future__ import annotations

import shutil
from pathlib import Path

PACKAGED = Path(__file__).resolve().parents[1] / "genplug_hybrid" / "packaged"


def install(run: Path, arch: str, names: tuple[str, ...]) -> Path:
    """Copy ``names`` (files, or part folders) of the run folder ``run`` into
    ``packaged/<arch>``, replacing it whole; returns that folder."""
    target, staging, old = PACKAGED / arch, PACKAGED / f"{arch}.new", PACKAGED / f"{arch}.old"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in names:
        source = Path(run) / name
        if source.is_dir():
            shutil.copytree(source, staging / name)
        else:
            shutil.copyfile(source, staging / name)
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    print(f"installed into {target}")
    return target
