"""``likeness bench --only startup``: whole commands, from the shell to exit, on a fresh home.

Side by side in one run, for a new project's cast (23 photos) and a larger batch (128):
InsightFace's warm ``FaceAnalysis`` loop as a script of its own, then ``likeness backfill
--scope missing`` on a fresh ``LIKENESS_HOME`` without ``likeness up`` (its first command
after the import, which started the Prefect server kept for commands), the time from its
start to its first character's terminal status, and the next backfill command. The first
status is measured on :data:`FRESH_HOMES` fresh homes, one after the other: one figure on
a shared virtual machine moves by a second from run to run, so the bench prints them all
and their median. The same import and first backfill once more on a fresh home with an
empty user cache, as on a machine where likeness was installed as a wheel and never ran
(no ``make install``): the Prefect server migrates its database and keeps the snapshot that
the other fresh homes load (``orchestration.prefect_schema``). Then the other commands that
need Prefect: ``likeness demo`` on a fresh home, ``check`` and ``reap`` with the server
kept, and both again after ``likeness stop`` (nothing running).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

CAST_SIZES = (23, 128)
FRESH_HOMES = 3  # per size, for the first status


@dataclass(frozen=True)
class CastRun:
    images: int
    loop_s: float  # the warm FaceAnalysis loop, whole process
    import_s: float
    backfill_s: float  # the first backfill command on the fresh home
    first_statuses_s: tuple[float, ...]  # from its start to its first terminal status, per home
    again_s: float  # the next backfill command (--scope all), server kept
    cold_s: float  # a backfill command (--scope all) after `likeness stop`: nothing runs
    cold_first_status_s: float
    no_snapshot_first_status_s: float  # the first backfill's, with no schema snapshot yet

    @property
    def first_status_s(self) -> float:
        return statistics.median(self.first_statuses_s)


@dataclass(frozen=True)
class Startup:
    casts: list[CastRun]
    commands: dict[str, float]  # label: whole-process seconds


def measure(work_dir: Path, photos: dict[int, list[Path]]) -> Startup:
    # The bench's own user cache: its first home finds no snapshot, whatever ran here before.
    cache = work_dir / "user-cache"
    casts = [cast_run(work_dir / f"cast-{n}", photos[n], cache) for n in CAST_SIZES]
    return Startup(casts=casts, commands=other_commands(work_dir / "commands", cache))


def cast_run(home: Path, paths: list[Path], cache: Path) -> CastRun:
    folder = home.parent / f"{home.name}-photos"
    folder.mkdir(parents=True)
    for path in paths:
        (folder / path.name).symlink_to(path)
    shutil.rmtree(cache, ignore_errors=True)
    no_snapshot_first_status_s = first_status_on_a_fresh_home(
        home.with_name(f"{home.name}-no-snapshot"), folder, cache
    )
    loop_s = timed([sys.executable, "-m", "likeness.devtools.face_analysis_loop", *map(str, paths)])
    env = fresh_home(home, cache)
    try:
        import_s = likeness(env, "import", str(folder), "--project", "cast")
        backfill_s, first_status_s = backfill(env, "missing")
        again_s, _ = backfill(env, "all")
        likeness(env, "stop")
        cold_s, cold_first_status_s = backfill(env, "all")
    finally:
        likeness(env, "stop")
    more = [
        first_status_on_a_fresh_home(home.with_name(f"{home.name}-{n}"), folder, cache)
        for n in range(2, FRESH_HOMES + 1)
    ]
    return CastRun(
        len(paths),
        loop_s,
        import_s,
        backfill_s,
        (first_status_s, *more),
        again_s,
        cold_s,
        cold_first_status_s,
        no_snapshot_first_status_s,
    )


def first_status_on_a_fresh_home(home: Path, folder: Path, cache: Path) -> float:
    """The import, then the first backfill's seconds to its first terminal status."""
    env = fresh_home(home, cache)
    try:
        likeness(env, "import", str(folder), "--project", "cast")
        return backfill(env, "missing")[1]
    finally:
        likeness(env, "stop")


def backfill(env: dict[str, str], scope: str) -> tuple[float, float]:
    """A backfill command's whole-process seconds, and those from its start to its first
    character's terminal status."""
    started = time.time()
    seconds = likeness(env, "backfill", "--scope", scope)
    return seconds, first_terminal_status(env, since=started) - started


def other_commands(home: Path, cache: Path) -> dict[str, float]:
    env = fresh_home(home, cache)
    try:
        times = {"demo (fresh home)": likeness(env, "demo")}
        times["check (server kept)"] = likeness(env, "check", ok=(0, 1))
        times["reap (server kept)"] = likeness(env, "reap")
        likeness(env, "stop")
        times["check (after `likeness stop`)"] = likeness(env, "check", ok=(0, 1))
        likeness(env, "stop")
        times["reap (after `likeness stop`)"] = likeness(env, "reap")
    finally:
        likeness(env, "stop")
    return times


def fresh_home(home: Path, cache: Path | None = None) -> dict[str, str]:
    """A new data directory on the embedded database and local storage, no Prefect server
    named: what a first-time user has. The machine's model settings stay; ``cache``: the
    user cache (``XDG_CACHE_HOME``) in place of the machine's."""
    home.mkdir(parents=True, mode=0o711)
    kept = {
        name: value
        for name, value in os.environ.items()
        if name != "PREFECT_API_URL"
        and name not in {"LIKENESS_DATABASE_URL", "LIKENESS_STORAGE_URL", "LIKENESS_STORAGE_ROOT"}
        and name != "PREFECT_HOME"
    }
    return {**kept, "LIKENESS_HOME": str(home)} | ({"XDG_CACHE_HOME": str(cache)} if cache else {})


def likeness(env: dict[str, str], *args: str, ok: tuple[int, ...] = (0,)) -> float:
    """Seconds of ``likeness ARGS``, from the shell to exit (``ok``: the exit codes that
    mean it did its job; check exits 1 on a data finding): the ``likeness`` script beside
    this interpreter, as a user runs it."""
    return timed([str(Path(sys.executable).parent / "likeness"), *args], env=env, ok=ok)


def timed(
    command: list[str], env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)
) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in ok:
        raise RuntimeError(f"{' '.join(command[:3])} exited {done.returncode}: {done.stderr}")
    return seconds


def first_terminal_status(env: dict[str, str], since: float) -> float:
    """When the home's first character left pending and extracting after ``since`` (epoch
    seconds; the status change renews ``updated_at`` in the transaction that writes it)."""
    url = database_url_of(env).replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT extract(epoch FROM min(c.updated_at)) FROM characters c "
            "JOIN embedding_statuses s ON s.id = c.embedding_status_id "
            "WHERE s.name NOT IN ('pending', 'extracting') AND c.updated_at >= to_timestamp(%s)",
            (since,),
        ).fetchone()
    if row is None or row[0] is None:
        raise RuntimeError("no character reached a terminal status")
    return float(row[0])


def database_url_of(env: dict[str, str]) -> str:
    """``likeness db url`` of that environment's data directory."""
    return subprocess.run(
        [sys.executable, "-m", "likeness", "db", "url"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
