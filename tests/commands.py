"""The ``likeness`` command as a user's shell runs it: in a process of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def likeness_up(env: dict[str, str], log: Path, *options: str) -> subprocess.Popen[str]:
    """``likeness up OPTIONS`` in its own process group (as a terminal gives it), its output
    in ``log``."""
    with log.open("w") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "likeness", "up", *options],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )


def modules_loaded_by(*modules: str) -> set[str]:
    """Every module a new interpreter holds once it has imported ``modules``: what a command
    that needs only them pays for on its start."""
    listing = f"import sys, {', '.join(modules)}; print(' '.join(sys.modules))"
    return set(
        subprocess.run(
            [sys.executable, "-c", listing], capture_output=True, text=True, check=True
        ).stdout.split()
    )
