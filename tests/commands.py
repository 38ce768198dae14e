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
