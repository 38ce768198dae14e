"""``likeness bench --only chaos``: a burst of uploads and a backfill while the stack's parts
die at random moments, overlapping, and what must hold afterwards.

``python -m likeness.devtools.chaos --seed N`` runs it on a scratch ``LIKENESS_HOME`` of its
own (its embedded PostgreSQL is one of the parts that dies). The stack is ``likeness up``
(the Prefect server, a warm worker, the embedded PostgreSQL, each restarted by ``up``'s
watchdogs), a second worker, and the API as a process of its own, as on an API host (both
restarted as a service manager would). Uploads go to that API at a steady rate, a
``likeness backfill`` command runs beside them (run again until it finishes, as an operator
would after a crash), and a fault injector follows a schedule drawn from the seed: SIGKILL a
worker, SIGKILL the Prefect server, an immediate shutdown of PostgreSQL, SIGKILL the API.
The checks read the database, the store and the Prefect server; the exit status is 1 on any
miss.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from likeness.config import Settings
from likeness.devtools.bench_load import post_upload
from likeness.orchestration.stack import (
    Supervisor,
    database_answers,
    free_port,
    prefect_env,
    running,
    start_api,
    start_worker,
)

FAULT_KINDS = ("worker", "prefect", "postgres", "api")
OVERLAP_GAP_S = 0.8  # at most, between the two faults of the overlapping pair
UPLOADS_PROJECT = "chaos-uploads"
BACKFILL_PROJECT = "chaos-backfill"
# The README's bound: every character is terminal this long after the last fault (a lost
# run waits `stuck_after_s`, 20 s, and a reconcile pass, 5 s; a dead worker's backfill chunk
# 30 s of silence and its GPU slot's 60 s lease) ...
RECOVERY_BOUND_S = 90.0
# ... plus the time the work still to do at that moment takes at this rate, a floor of the
# load bench's drain rate on 2 CPU cores (4 to 5 uploads/s); `--drain-floor` for another.
DRAIN_FLOOR_PER_S = 3.0


@dataclass(frozen=True)
class Fault:
    at_s: float  # after the first upload
    kind: str  # one of FAULT_KINDS
    worker: int = 0  # which of the two workers, for a worker fault


def schedule(seed: int, faults: int, window_s: float) -> list[Fault]:
    """``faults`` faults inside ``window_s``, the same for the same seed: each kind at least
    once (from four faults), and one pair of different kinds 0.2 to 0.8 s apart whose first
    is not a worker, so that the second strikes while the first part is still coming back
    (PostgreSQL takes a second at least, the API and the Prefect server longer; a worker
    can be back in half a second)."""
    rng = random.Random(seed)
    kinds = list(FAULT_KINDS)[: min(faults, len(FAULT_KINDS))]
    kinds += [rng.choice(FAULT_KINDS) for _ in range(faults - len(kinds))]
    rng.shuffle(kinds)
    times = sorted(rng.uniform(0.1 * window_s, 0.9 * window_s) for _ in range(faults))
    if faults >= 2:
        pair = rng.randrange(faults - 1)
        times[pair + 1] = times[pair] + rng.uniform(0.2, OVERLAP_GAP_S)
        if kinds[pair] == kinds[pair + 1]:
            other = next(i for i, kind in enumerate(kinds) if kind != kinds[pair])
            kinds[pair + 1], kinds[other] = kinds[other], kinds[pair + 1]
        if kinds[pair] == "worker":
            kinds[pair], kinds[pair + 1] = kinds[pair + 1], kinds[pair]
    return [
        Fault(round(at, 2), kind, rng.randrange(2) if kind == "worker" else 0)
        for at, kind in sorted(zip(times, kinds, strict=True))
    ]


@dataclass
class Upload:
    index: int
    sent_s: float
    status_code: int | None = None  # None: no answer (the API was down or died)
    character_id: int | None = None
    json_answer: bool = False
    error: str | None = None  # why there was no answer


@dataclass
class Outage:
    part: str
    down_s: float
    back_s: float | None = None


@dataclass
class Run:
    seed: int
    faults: list[Fault]
    uploads: list[Upload] = field(default_factory=list)
    outages: list[Outage] = field(default_factory=list)
    backfill_exits: list[tuple[int, str]] = field(default_factory=list)  # code, last line
    last_terminal_s: float | None = None
    backlog: int = 0  # characters not yet terminal at the last fault
    findings: list[tuple[str, bool, str]] = field(default_factory=list)

    @property
    def overlaps(self) -> int:
        """Faults injected while another part was still down."""
        return sum(
            any(
                other.down_s < outage.down_s < (other.back_s or float("inf"))
                for other in self.outages
                if other is not outage
            )
            for outage in self.outages
        )

    @property
    def last_fault_s(self) -> float | None:
        return max((o.down_s for o in self.outages), default=None)

    @property
    def recovery_s(self) -> float | None:
        """From the last fault to the last character's terminal status."""
        if self.last_terminal_s is None or self.last_fault_s is None:
            return None
        return max(0.0, self.last_terminal_s - self.last_fault_s)

    def recovery_bound_s(self, drain_floor_per_s: float) -> float:
        return RECOVERY_BOUND_S + self.backlog / drain_floor_per_s


class ChaosStack:
    """``likeness up``, a second worker and the API on a scratch home; each part can be
    killed and says whether it answers."""

    def __init__(self, home: Path, env: dict[str, str], logs: Path) -> None:
        self.home, self.env, self.logs = home, env, logs
        self.api = f"http://127.0.0.1:{free_port()}"
        self.prefect_api = f"http://127.0.0.1:{env['LIKENESS_PREFECT_PORT']}/api"
        self.database_url = ""
        self.up: subprocess.Popen[bytes] | None = None
        self.processes: list[subprocess.Popen[bytes]] = []
        self.supervisors: list[Supervisor] = []

    @contextmanager
    def running(self) -> Iterator[ChaosStack]:
        log = (self.logs / "up.log").open("wb")
        self.up = subprocess.Popen(
            [sys.executable, "-m", "likeness", "up"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until(lambda: answers(f"{self.prefect_api}/health"), 240, "the Prefect server")
            self.database_url = likeness(self.env, "db", "url").strip()
            # As on another host: the database and the Prefect server of `likeness up`.
            self.env = prefect_env(Settings(), self.database_url)
            wait_until(lambda: len(self.workers()) == 1, 240, "the worker of `likeness up`")
            with running(self.processes):
                self.supervisors = [
                    Supervisor(
                        "the second worker",
                        self.processes,
                        lambda: start_worker(self.env, self.logs / "worker-2.log"),
                        say=self.say,
                    ),
                    Supervisor(
                        "the API",
                        self.processes,
                        lambda: start_api(
                            self.env,
                            "127.0.0.1",
                            int(self.api.rsplit(":", 1)[1]),
                            self.logs / "api.log",
                        ),
                        say=self.say,
                    ),
                ]
                for supervisor in self.supervisors:
                    supervisor.start()
                try:
                    yield self
                finally:
                    for supervisor in self.supervisors:
                        supervisor.stop()
        finally:
            self.up.send_signal(signal.SIGINT)  # Ctrl-C: `up` stops what it started
            try:
                self.up.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.up.pid, signal.SIGKILL)
            likeness(self.env, "db", "stop", check=False)

    def say(self, message: str) -> None:
        print(f"  {message}", flush=True)

    def workers(self) -> list[int]:
        """Process ids of the workers: `up`'s, then the second."""
        assert self.up is not None
        up_worker = [
            pid for pid in children(self.up.pid) if " -m likeness worker" in command_line(pid)
        ]
        second = [s.process.pid for s in self.supervisors[:1] if s.process.poll() is None]
        return up_worker + second

    def inject(self, fault: Fault) -> str:
        """Do the fault; the part it took down, as :meth:`answers` names it."""
        assert self.up is not None
        if fault.kind == "worker":
            pids = self.workers()
            if pids:
                kill(pids[min(fault.worker, len(pids) - 1)])
            return f"worker {fault.worker + 1}"
        if fault.kind == "prefect":
            for pid in children(self.up.pid):
                if "likeness.orchestration.prefect_server" in command_line(pid):
                    kill(pid)
            return "prefect"
        if fault.kind == "postgres":
            from likeness.db.embedded import stop_embedded_postgres

            stop_embedded_postgres(Settings(home=self.home).postgres_dir, mode="immediate")
            return "postgres"
        kill(self.supervisors[1].process.pid)
        return "api"

    def answers(self, part: str) -> bool:
        if part == "prefect":
            return answers(f"{self.prefect_api}/health")
        if part == "postgres":
            return database_answers(self.database_url, timeout_s=1)
        if part == "api":
            return answers(f"{self.api}/healthz")
        return len(self.workers()) == 2


def kill(pid: int) -> None:
    """SIGKILL; a part still down from an earlier fault (being restarted) stays down."""
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def children(pid: int) -> list[int]:
    """Live child processes of ``pid``, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up within {timeout_s:g} s")
        time.sleep(0.25)


def likeness(env: dict[str, str], *args: str, check: bool = True) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "likeness", *args], env=env, capture_output=True, text=True
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"likeness {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done.stdout


def scratch_env(home: Path) -> dict[str, str]:
    """A fresh data directory on the embedded database; the machine's model settings and
    storage stay (with ``LIKENESS_STORAGE_URL`` set, the photos go to that bucket)."""
    home.mkdir(parents=True, mode=0o711)
    kept = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PREFECT_")
        and name
        not in {
            "LIKENESS_DATABASE_URL",
            "LIKENESS_STORAGE_ROOT",
            "LIKENESS_API_TOKEN",
            "LIKENESS_HOME",
        }
    }
    return {
        **kept,
        "LIKENESS_HOME": str(home),
        "LIKENESS_API_PORT": str(free_port()),
        "LIKENESS_PREFECT_PORT": str(free_port()),
    }


def run_chaos(
    seed: int,
    uploads: int,
    backfill: int,
    faults: int,
    window_s: float,
    work_dir: Path,
    drain_floor_per_s: float = DRAIN_FLOOR_PER_S,
) -> Run:
    """The whole run; call it in a process whose environment is :func:`scratch_env`'s."""
    from likeness.devtools.bench import varied_photos
    from likeness.devtools.chaos_checks import characters, check, unfinished

    plan = schedule(seed, faults, window_s)
    result = Run(seed, plan)
    photos = varied_photos(work_dir, 24)
    folder = work_dir / "backfill"
    folder.mkdir()
    for index in range(backfill):
        (folder / f"{index:04d}.jpg").symlink_to(photos[index % len(photos)])
    logs = work_dir / "logs"
    logs.mkdir()
    with ChaosStack(Path(os.environ["LIKENESS_HOME"]), dict(os.environ), logs).running() as stack:
        likeness(stack.env, "import", str(folder), "--project", BACKFILL_PROJECT)
        started = time.time()
        backfill_done = threading.Event()
        threading.Thread(
            target=run_backfill, args=(stack.env, result, backfill_done), daemon=True
        ).start()
        injector = threading.Thread(target=inject_faults, args=(stack, result, started))
        injector.start()
        send_uploads(stack.api, photos, uploads, window_s, result, started)
        injector.join()
        deadline = time.monotonic() + 600
        projects = (UPLOADS_PROJECT, BACKFILL_PROJECT)
        while time.monotonic() < deadline:
            try:
                if backfill_done.is_set() and not unfinished(stack.database_url, projects):
                    break
            except Exception:  # PostgreSQL may still be coming back
                pass
            time.sleep(1)
        rows = characters(stack.database_url, projects)
        finished_at = [float(str(row["updated"])) - started for row in rows]
        result.last_terminal_s = max(finished_at)
        result.backlog = sum(at > (result.last_fault_s or 0.0) for at in finished_at)
        accepted = {u.index: u.character_id for u in result.uploads if u.character_id is not None}
        refused = {
            u.index: (u.status_code, u.json_answer)
            for u in result.uploads
            if u.status_code is not None and u.status_code != 202
        }
        result.findings = check(
            stack.database_url,
            stack.prefect_api,
            uploads_project=UPLOADS_PROJECT,
            backfill_project=BACKFILL_PROJECT,
            backfill_size=backfill,
            accepted=accepted,
            refused=refused,
        )
        result.findings.append(
            ("faults overlapped at least once", result.overlaps >= 1, f"{result.overlaps}")
        )
        recovery, bound = result.recovery_s, result.recovery_bound_s(drain_floor_per_s)
        result.findings.append(
            (
                f"every character terminal within {RECOVERY_BOUND_S:g} s of the last fault, "
                f"plus {drain_floor_per_s:g} characters/s of the {result.backlog} left then "
                f"({bound:.0f} s)",
                recovery is not None and recovery <= bound,
                f"{recovery:.1f} s" if recovery is not None else "no fault",
            )
        )
    return result


def run_backfill(env: dict[str, str], result: Run, done: threading.Event) -> None:
    """``likeness backfill`` of the backfill project, run again after a failure (it resumes)
    until it finishes, for at most ten minutes."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        finished = subprocess.run(
            [
                sys.executable,
                "-m",
                "likeness",
                "backfill",
                "--scope",
                "missing",
                "--project",
                BACKFILL_PROJECT,
            ],
            env=env,
            capture_output=True,
        )
        said = finished.stderr.decode(errors="replace").strip().splitlines()
        # The command's own words on why, else its last line (a progress bar when it ended).
        why = [line for line in said if "backfill failed" in line] or said[-1:] or [""]
        result.backfill_exits.append(
            (finished.returncode, f"{time.monotonic() - deadline + 600:.0f} s: {why[0]}")
        )
        if finished.returncode == 0:
            break
        time.sleep(2)
    done.set()


def inject_faults(stack: ChaosStack, result: Run, started: float) -> None:
    for fault in result.faults:
        time.sleep(max(0.0, started + fault.at_s - time.time()))
        part = stack.inject(fault)
        outage = Outage(part, time.time() - started)
        result.outages.append(outage)
        print(f"  {outage.down_s:6.1f} s  {fault.kind} killed", flush=True)
        threading.Thread(target=watch_recovery, args=(stack, outage, started), daemon=True).start()


def watch_recovery(stack: ChaosStack, outage: Outage, started: float) -> None:
    time.sleep(0.5)  # the part is down: a supervisor checks once a second
    part = "worker" if outage.part.startswith("worker") else outage.part
    deadline = time.monotonic() + 300
    while not stack.answers(part) and time.monotonic() < deadline:
        time.sleep(0.2)
    outage.back_s = time.time() - started
    print(f"  {outage.back_s:6.1f} s  {outage.part} back", flush=True)


def send_uploads(
    api: str, photos: list[Path], count: int, window_s: float, result: Run, started: float
) -> None:
    """``count`` uploads at a steady rate over ``window_s``, each answered or not."""

    def send(index: int) -> Upload:
        upload = Upload(index, time.time() - started)
        photo = photos[index % len(photos)]
        try:
            answer = post_upload(api, photo, f"chaos-{index}", UPLOADS_PROJECT, timeout_s=60)
        except httpx.HTTPError as error:
            upload.error = type(error).__name__
            return upload
        upload.status_code = answer.status_code
        try:
            payload = answer.json()
            upload.json_answer = isinstance(payload, dict)
        except json.JSONDecodeError:
            payload = None
        if answer.status_code == 202 and upload.json_answer:
            upload.character_id = int(payload["id"])
        return upload

    with ThreadPoolExecutor(max_workers=16) as pool:
        pending = []
        for index in range(count):
            time.sleep(max(0.0, started + index * window_s / count - time.time()))
            pending.append(pool.submit(send, index))
        result.uploads = [future.result() for future in pending]


def report(result: Run) -> str:
    uploads = result.uploads
    answered = Counter(u.status_code for u in uploads)
    lines = [
        f"chaos, seed {result.seed}: {len(result.faults)} faults "
        f"({', '.join(f'{f.kind}@{f.at_s:g}s' for f in result.faults)}), "
        f"{result.overlaps} overlapping",
        f"uploads: {len(uploads)} sent, {answered[202]} accepted, "
        f"{sum(n for code, n in answered.items() if code not in (202, None))} refused, "
        f"{answered[None]} unanswered (API down); backfill attempts: {len(result.backfill_exits)}",
        "outages: "
        + ", ".join(
            f"{o.part} {o.down_s:.1f}→{o.back_s:.1f} s"
            if o.back_s
            else f"{o.part} {o.down_s:.1f}→?"
            for o in result.outages
        ),
    ]
    unanswered = Counter(u.error for u in uploads if u.status_code is None)
    lines.append(f"unanswered uploads by error: {dict(unanswered)}")
    lines += [f"backfill exited {code}: {said}" for code, said in result.backfill_exits]
    lines += [
        f"{'ok  ' if ok else 'MISS'} {name}: {detail}" for name, ok, detail in result.findings
    ]
    return "\n".join(lines)


def main(arguments: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m likeness.devtools.chaos")
    parser.add_argument("--seed", type=int, default=random.SystemRandom().randrange(10_000))
    parser.add_argument("--uploads", type=int, default=300)
    parser.add_argument("--backfill", type=int, default=500)
    parser.add_argument("--faults", type=int, default=8)
    parser.add_argument("--window", type=float, default=60.0, help="seconds of uploads")
    parser.add_argument(
        "--drain-floor",
        type=float,
        default=DRAIN_FLOOR_PER_S,
        help="characters/s the stack drains at least, for the recovery bound",
    )
    given = parser.parse_args(arguments)
    with tempfile.TemporaryDirectory(prefix="likeness-chaos-") as scratch:
        work_dir = Path(scratch)
        env = scratch_env(work_dir / "home")
        os.environ.clear()
        os.environ.update(env)
        print(
            f"chaos seed {given.seed}: {schedule(given.seed, given.faults, given.window)}",
            flush=True,
        )
        result = run_chaos(
            given.seed,
            given.uploads,
            given.backfill,
            given.faults,
            given.window,
            work_dir,
            given.drain_floor,
        )
        print(report(result), flush=True)
        shutil.rmtree(work_dir / "home", ignore_errors=True)
    return 0 if all(ok for _, ok, _ in result.findings) else 1


if __name__ == "__main__":
    sys.exit(main())
