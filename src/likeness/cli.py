"""The ``likeness`` command."""

from __future__ import annotations

import atexit
import json
import logging
import os
import subprocess
import sys
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from likeness.config import BACKFILL_CHUNK_SIZE, Settings, get_settings
from likeness.garbage_collection import collect_less_often, none_while_importing
from likeness.identity.backfill_scope import Scope
from likeness.interruption import recording_ctrl_c
from likeness.storage import UPLOAD_GRACE_S, get_store, unowned_keys

if TYPE_CHECKING:
    from likeness.orchestration.resident_server import ResidentServer

app = typer.Typer(
    help="Face identity for studio characters: each command names its doc page (README.md, docs/).",
    no_args_is_help=True,
)
db_app = typer.Typer(
    help="The database: migrations, URL, embedded server (docs/operate.md).", no_args_is_help=True
)
app.add_typer(db_app, name="db")
console = Console()
errors = Console(stderr=True, soft_wrap=True)  # a message stays one line, whatever the width


def run() -> None:
    """The console entry point: an outdated external database, or a stack that may not
    start as configured, is one line, not a traceback. The process ends without tearing
    down its modules (see :class:`Ending`)."""
    collect_less_often()  # before the command imports what it needs
    ending = Ending()
    atexit.register(ending.now)  # registered first: runs after every other exit handler
    try:
        run_command()
    except SystemExit as end:
        ending.code = end.code if isinstance(end.code, int) else int(end.code is not None)
        raise
    except KeyboardInterrupt:
        ending.code = 130  # as the shell reports Ctrl-C
        raise


def run_command() -> None:
    try:
        app(prog_name="likeness")
    except Exception as error:
        if raised_by_ctrl_c(error):  # any command: interrupted, not failed
            errors.print("[dim]interrupted[/dim]")
            raise SystemExit(130) from None  # as the shell reports Ctrl-C
        # Only now: slow to import, they would delay every command's start (and the Prefect
        # server a command starts first).
        from likeness.db.session import SchemaOutdated
        from likeness.orchestration.stack import StackError

        if not isinstance(error, SchemaOutdated | StackError):
            raise
        errors.print(f"[red]{error}[/red]")
        raise SystemExit(1) from None


@dataclass
class Ending:
    """Ends the process once its exit handlers have run (Prefect's logs and events sent,
    the database's handles closed), skipping the interpreter's teardown of every module:
    with the models, Prefect and Great Expectations loaded that took 1.4 s, a sixth of a
    23-photo backfill, and does nothing a finished command needs."""

    code: int = 1  # an uncaught exception

    def now(self) -> None:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(self.code)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # loggers with their own level propagate here
        handler.setLevel(level)
    for service in ("EventsWorker", "APILogWorker"):
        logging.getLogger(service).addFilter(not_a_drain_notice)
    keep_home_private(get_settings())
    # Prefect's clients (this command, its flows, a worker) send the server's auth string.
    for name, value in get_settings().prefect_auth_env().items():
        os.environ.setdefault(name, value)
    # Prefect keeps its own files (profiles, the kept server's UI build) in the likeness
    # data directory unless the operator points it elsewhere.
    os.environ.setdefault("PREFECT_HOME", str(get_settings().home / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Run logs still reach the Prefect UI; the terminal shows warnings and the progress bar.
    os.environ.setdefault(
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "INFO" if verbose else "WARNING"
    )


def not_a_drain_notice(record: logging.LogRecord) -> bool:
    """Prefect's services warn at exit whenever events or logs are still queued, which a
    short command always leaves: they are sent all the same, before the process ends."""
    return not record.getMessage().startswith("Still processing items")


def keep_home_private(settings: Settings) -> None:
    """The data directory holds photos, logs and the database: the service's user only
    (0700). As root, the embedded PostgreSQL (in use, or kept in the home) runs as its own
    system user, which must pass through to its folder: then the home is 0711 (nobody
    else can list it) and what lies in it stays 0700 (logs, storage, the database's)."""
    embedded = settings.database_url is None or settings.postgres_dir.exists()
    mode = 0o711 if os.geteuid() == 0 and embedded else 0o700
    settings.home.mkdir(parents=True, exist_ok=True, mode=mode)
    settings.home.chmod(mode)  # once: the embedded server must never be locked out


@dataclass(frozen=True)
class PrefectInUse:
    """The Prefect server a command talks to: ``likeness up``'s (whose warm workers are
    there too), the one of ``PREFECT_API_URL``, or the one kept for likeness commands,
    which may still be starting (:meth:`wait` before the first Prefect call)."""

    has_workers: bool
    resident: ResidentServer | None = None

    def wait(self) -> None:
        from likeness.orchestration.resident_server import wait_until_answering

        if self.resident is not None:
            settings = get_settings()
            wait_until_answering(self.resident, settings, settings.prefect_startup_s)


def use_database() -> None:
    """Open the database before anything reads it, as every command that uses it does: the
    embedded server started and migrated on a fresh ``LIKENESS_HOME`` (reading its URL
    never does that)."""
    from likeness.db.session import open_database

    open_database(get_settings())


def use_prefect() -> PrefectInUse:
    """Point this command at a Prefect server, saying which; call it first: before Prefect
    is imported (it reads its settings then), and before the database opens (a server this
    starts imports Prefect meanwhile, and answers while the command loads its models)."""
    from likeness.orchestration.resident_server import resident_server
    from likeness.orchestration.stack import running_stack

    if "PREFECT_API_URL" in os.environ:
        return PrefectInUse(has_workers=False)
    settings = get_settings()
    stack = running_stack(settings)
    if stack is not None:
        os.environ["PREFECT_API_URL"] = stack
        errors.print(f"[dim]using the Prefect server of `likeness up` at {stack}[/dim]")
        return PrefectInUse(has_workers=True)
    server, started = resident_server(settings)
    os.environ["PREFECT_API_URL"] = server.api_url
    ui = server.api_url.removesuffix("/api")
    if not started:
        errors.print(f"[dim]using the Prefect server kept for likeness commands at {ui}[/dim]")
    else:
        errors.print(
            f"[dim]no `likeness up` running: starting a Prefect server at {ui}, kept for "
            "the next commands (`likeness stop` ends it)[/dim]"
        )
    return PrefectInUse(has_workers=False, resident=server)


def load_models_in_background() -> None:
    """Load the models in a thread of their own while this process starts its flow: its
    first chunk waits only for what is not loaded yet. A model that cannot be loaded is
    reported by the run, per character, as without it."""
    settings = get_settings()

    def load_models() -> None:
        from likeness.face.engine import get_face_engine

        try:
            get_face_engine(settings)
        except Exception:
            logging.getLogger(__name__).debug("models not loaded ahead", exc_info=True)

    threading.Thread(target=load_models, name="load_models", daemon=True).start()


def _face_json(face: Any) -> dict[str, Any]:
    return {
        "bounding_box": face.bounding_box.as_dict(),
        "confidence": round(face.confidence, 6),
        "embedding": [float(value) for value in face.embedding],
    }


@app.command()
def extract(paths: Annotated[list[Path], typer.Argument(help="Image files.")]) -> None:
    """Faces and embeddings of image files, as JSON; stores nothing (docs/integrate.md).

    Detect and embed faces in images (stateless; prints JSON, one object per image).
    """
    from likeness.face.engine import get_face_engine
    from likeness.face.image_loading import load_configured
    from likeness.identity.errors import ImageError

    settings = get_settings()
    engine = get_face_engine(settings)
    failed = False
    for path in paths:
        result: dict[str, Any]
        try:
            image = load_configured(path, settings)
            faces = engine.detect_image(image)
            result = {"faces": [_face_json(face) for face in faces], "count": len(faces)}
        except ImageError as error:
            failed = True
            result = {"error": {"code": error.code, "message": error.message}}
        if len(paths) > 1:
            result = {"image": str(path), **result}
        typer.echo(json.dumps(result))
    if failed:
        raise typer.Exit(1)


@app.command(name="import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="Image files or directories.")],
    project: Annotated[str, typer.Option(help="Project the characters belong to.")] = "default",
) -> None:
    """One pending character per image file or folder of images (docs/operate.md).

    Create one character per image (copied into the storage root), status pending.
    """
    from likeness.storage.image_formats import expand_image_paths

    try:
        images = expand_image_paths(paths)
    except FileNotFoundError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    if images:
        # Their extraction needs a Prefect server: it starts while the database opens, the
        # photos are copied and the next command is typed. Only a head start: the import
        # goes ahead without it.
        try:
            use_prefect()
        except Exception as error:
            errors.print(f"[dim]no Prefect server started for the extraction yet: {error}[/dim]")
    from likeness.extraction_requests import import_files  # after the server's start

    use_database()
    ids = import_files(images, project=project)
    console.print(f"imported {len(ids)} character(s) into project {project!r}: ids {ids}")


@app.command()
def backfill(
    scope: Annotated[str, typer.Option(help="missing | failed | stale | all")] = "missing",
    project: Annotated[str | None, typer.Option(help="Only this project.")] = None,
    chunk_size: Annotated[
        int, typer.Option(min=1, help="Characters per chunk.")
    ] = BACKFILL_CHUNK_SIZE,
    fan_out: Annotated[
        bool | None,
        typer.Option(
            help="Run chunks as flow runs shared by the workers of pool gpu "
            "[default: when `likeness up` runs, whose warm workers then do the work]"
        ),
    ] = None,
) -> None:
    """Extract every character of a scope, resumable, with progress (docs/operate.md).

    Extract every character in the scope through the backfill flow, with a progress bar.

    Uses the Prefect server and workers of a running `likeness up` on the same data
    directory; without one, the Prefect server kept for likeness commands (started by the
    first, while this process loads its models) and this process's own models.
    Interrupted (Ctrl-C, crash)? Run it again: it resumes where it stopped.
    """
    try:
        chosen = Scope(scope)
    except ValueError as error:
        errors.print(f"[red]unknown scope {scope!r}: use missing, failed, stale or all[/red]")
        raise typer.Exit(2) from error
    from likeness.expectations.check_process import checks_in_their_own_process

    prefect = use_prefect()  # first: the server starts while the database opens
    chunks_on_workers = prefect.has_workers if fan_out is None else fan_out
    with ExitStack() as in_this_process:
        in_this_process.enter_context(recording_ctrl_c())  # asked between chunks
        if not chunks_on_workers:
            # Great Expectations imports in a process of its own, the models in a thread,
            # while this process opens the database and imports Prefect and its flows.
            in_this_process.enter_context(checks_in_their_own_process())
            load_models_in_background()
        with none_while_importing():  # imported once, up front: no collection meanwhile
            use_database()
            import likeness.flows.backfill  # noqa: F401  what run_backfill runs
        counts = run_backfill(prefect, chosen, project, chunk_size, chunks_on_workers)
    summary = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
    total = sum(counts.values())
    console.print(f"backfill {chosen}: {total} character(s) — {summary or 'nothing to do'}")


def run_backfill(
    prefect: PrefectInUse,
    scope: Scope,
    project: str | None,
    chunk_size: int,
    chunks_on_workers: bool,
) -> dict[str, int]:
    """The backfill flow, with a progress bar read from its job's items."""
    from likeness.db import repository
    from likeness.db.session import transaction
    from likeness.flows.backfill import backfill_embeddings
    from likeness.orchestration.flow_heartbeats import without_flow_heartbeats
    from likeness.orchestration.progress import run_with_progress

    def run_flow() -> dict[str, int]:
        with without_flow_heartbeats():
            return backfill_embeddings(scope.value, project, chunk_size, chunks_on_workers)

    prefect.wait()

    def job_progress() -> tuple[int, int] | None:
        with transaction() as session:
            counts = repository.latest_backfill_counts(session, scope=scope, project=project)
        done = sum(n for status, n in counts.items() if status != "todo")
        return (done, sum(counts.values())) if counts else None

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=errors) as progress:
            bar = progress.add_task(f"backfill {scope}", total=None)
            return run_with_progress(
                run_flow,
                job_progress,
                lambda done, total: progress.update(bar, total=total, completed=done),
            )
    except Exception as error:
        if raised_by_ctrl_c(error):
            raise KeyboardInterrupt from error
        errors.print(f"[red]backfill failed: {error}[/red]")
        raise typer.Exit(1) from error


def raised_by_ctrl_c(error: BaseException) -> bool:
    """Whether ``error`` was raised while a Ctrl-C unwound: Prefect's crash handling can
    fail in turn (a task stopped before its run was created: "Task run is not set"), and
    its error then stands for the interruption."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__context__
    return False


@app.command()
def similar(
    character_id: int,
    k: Annotated[int, typer.Option(min=1, max=100)] = 10,
    max_distance: Annotated[float | None, typer.Option(min=0.0, max=2.0)] = None,
) -> None:
    """The characters that look most like one character (docs/integrate.md).

    Characters that look like CHARACTER_ID: nearest first, with cosine distance.
    """
    use_database()
    from likeness.db import repository
    from likeness.db.session import transaction

    try:
        with transaction() as session:
            found = repository.similar_characters(
                session, character_id=character_id, k=k, max_distance=max_distance
            )
    except (repository.NotFound, repository.NoEmbedding) as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from error
    table = Table("id", "name", "project", "distance")
    for row in found:
        table.add_row(str(row.id), row.name, str(row.project_id), f"{row.distance:.4f}")
    (console if console.is_terminal else Console(width=240)).print(table)


@app.command()
def verify(
    character_id: int,
    paths: Annotated[list[Path], typer.Argument(help="Image files.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per image.")] = False,
) -> None:
    """Is each face in these images the character? Stores nothing (docs/integrate.md).

    Compare each face in the images with CHARACTER_ID's identity template: similarity and
    verdict (same person / not sure / different person). Runs here; stores nothing.
    """
    use_database()
    print_checks(paths, as_json, character_id=character_id)


@app.command()
def identify(
    project: str,
    paths: Annotated[list[Path], typer.Argument(help="Image files.")],
    k: Annotated[int, typer.Option("-k", min=1, max=20, help="Candidates per face.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per image.")] = False,
) -> None:
    """Who each face in these images is among a project's characters (docs/integrate.md).

    Find who each face in the images is among PROJECT's characters (the k nearest, with
    similarity and verdict). Runs here; stores nothing.
    """
    use_database()
    print_checks(paths, as_json, project=project, k=k)


def print_checks(paths: list[Path], as_json: bool, **against: Any) -> None:
    from likeness.db import repository
    from likeness.identity.verdicts import VERDICT_WORDS, Verdict
    from likeness.likeness_checks import NotComparable, check_files

    try:
        checked = check_files(paths, **against)
    except (repository.NotFound, NotComparable) as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    table = Table("image", "face", "box", "confidence", "character", "similarity", "verdict")
    for item in checked:
        if item.error is not None:
            problem = {"code": item.error.code, "message": item.error.message}
            if as_json:
                typer.echo(json.dumps({"image": item.image, "error": problem}))
            table.add_row(item.image, "", "", "", "", "", f"[red]{item.error.message}[/red]")
            continue
        if as_json:
            typer.echo(json.dumps({"image": item.image, "faces": _check_json(item.rows)}))
        if not item.rows:
            table.add_row(item.image, "", "", "", "", "", "no face found")
        for row in item.rows:
            box = row["bounding_box"]
            verdict = row.get("verdict")
            similarity = row.get("similarity")
            table.add_row(
                item.image if row["face_index"] == 0 and row.get("rank", 0) == 0 else "",
                str(row["face_index"]) if row.get("rank", 0) == 0 else "",
                f"{box['x']},{box['y']} {box['width']}x{box['height']}",
                f"{row['confidence']:.2f}",
                str(row.get("character_id") or "nobody"),
                "" if similarity is None else f"{similarity:.3f}",
                VERDICT_WORDS[Verdict(verdict)] if verdict else "",
            )
    if not as_json:
        (console if console.is_terminal else Console(width=240)).print(table)
    if any(item.error for item in checked):
        raise typer.Exit(1)


def _check_json(rows: Any) -> list[dict[str, Any]]:
    """One entry per face; identify's candidates nearest first."""
    faces: dict[int, dict[str, Any]] = {}
    for row in rows:
        face = faces.setdefault(
            row["face_index"],
            {"bounding_box": row["bounding_box"], "confidence": round(row["confidence"], 6)},
        )
        result = {key: row.get(key) for key in ("character_id", "similarity", "verdict")}
        if "rank" in row:
            found = face.setdefault("candidates", [])
            found += [result] if result["character_id"] is not None else []
        else:
            face |= result | {"nearest_reference_id": row.get("nearest_reference_id")}
    return list(faces.values())


@app.command()
def erase(character_id: int) -> None:
    """Erase a character's biometric data: embedding, faces, history (docs/operate.md).

    Erase a character's biometric data: embedding, detected faces and history.
    """
    use_database()
    from likeness.db import repository
    from likeness.services.erasure import erase_biometrics

    try:
        erase_biometrics(character_id)
    except (repository.NotFound, repository.Conflict) as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from error
    console.print(f"biometric data of character {character_id} erased")


@app.command()
def reap(
    stuck_after: Annotated[
        int | None,
        typer.Option(
            help="Seconds in `extracting` that mean the run was lost; unset: "
            "LIKENESS_STUCK_AFTER_S."
        ),
    ] = None,
) -> None:
    """Start again the characters whose run was lost (docs/operate.md).

    Re-queue characters a lost run left `extracting` (the scheduled reaper, now).
    """
    prefect = use_prefect()  # first: the server starts while the database opens
    use_database()

    from likeness.orchestration.reconciler import requeue_lost_extractions

    seconds = get_settings().stuck_after_s if stuck_after is None else stuck_after
    reaped = requeue_lost_extractions(timedelta(seconds=seconds), prefect_ready=prefect.wait)
    for item in reaped:
        if item.flow_run_id is None:
            errors.print(f"[red]character {item.character_id}: {item.error}[/red]")
        else:
            console.print(f"character {item.character_id} re-queued as run {item.flow_run_id}")
    console.print(f"{len(reaped)} character(s) stuck in extracting for over {seconds} s")
    if any(item.flow_run_id is None for item in reaped):
        raise typer.Exit(1)


@app.command()
def status() -> None:
    """A table of the characters with status, confidence and face count (docs/faces.md).

    A table of characters with status, confidence and face count.
    """
    use_database()
    from likeness.db import repository
    from likeness.db.session import transaction

    with transaction() as session:
        rows = repository.character_overview(session)
    table = Table("id", "name", "project", "status", "confidence", "faces", "model", "error")
    for row in rows:
        table.add_row(
            str(row.id),
            row.name,
            row.project,
            row.status.value,
            f"{row.confidence:.3f}" if row.confidence is not None else "",
            str(row.face_count),
            row.model or "",
            row.error or "",
        )
    # Piped output is read by scripts: no wrapping to a guessed 80-column terminal.
    (console if console.is_terminal else Console(width=240)).print(table)


@app.command()
def demo(
    project: Annotated[str, typer.Option(help="Project for the sample characters.")] = "demo",
) -> None:
    """Import the sample photos, extract them, show the table (README.md).

    Import the sample photos (once), extract them through Prefect, show the table.
    """
    use_prefect()  # first: the server starts while the database opens
    use_database()
    from likeness.devtools.samples import import_demo_once

    settings = get_settings()
    imported = import_demo_once(settings, project)
    if imported:
        console.print(f"imported {imported} sample images into project {project!r}")
    backfill(scope="missing", project=project)
    status()
    console.print(f"data directory: {settings.home}")


@app.command()
def check(
    delete_unowned: Annotated[
        bool, typer.Option(help="Delete the photos in storage that no character owns.")
    ] = False,
    grace: Annotated[
        float,
        typer.Option(help="Leave alone photos younger than this (s): an upload in progress."),
    ] = UPLOAD_GRACE_S,
) -> None:
    """Run the data checks and look for photos no character owns (docs/operate.md).

    Run the data-quality suites over the whole database and look for photos in storage
    that no character owns; exit 1 when a suite fails or such a photo is left.
    """
    prefect = use_prefect()  # first: the server starts while the database opens
    use_database()

    from likeness.expectations.runner import data_docs_index
    from likeness.flows.data_quality import DataQualityFailed, embedding_data_quality
    from likeness.orchestration.flow_heartbeats import without_flow_heartbeats

    unowned = report_unowned_photos(delete=delete_unowned, grace_s=grace)
    report_quality_distribution()
    prefect.wait()
    try:
        with without_flow_heartbeats():
            results = embedding_data_quality()
    except DataQualityFailed as error:
        errors.print(f"[red]{error}[/red]")
        typer.echo(f"Data Docs: {data_docs_index(get_settings().home)}", err=True)
        raise typer.Exit(1) from error
    for result in results:
        console.print(f"{result.suite}: passed ({len(result.outcomes)} expectations)")
    if not results:
        console.print("no characters yet: nothing to check")
    else:
        typer.echo(f"Data Docs: {data_docs_index(get_settings().home)}")
    if unowned:
        raise typer.Exit(1)


def report_quality_distribution() -> None:
    """Per project, the quality scores of the characters' chosen faces."""
    from likeness.db import repository
    from likeness.db.session import transaction

    with transaction() as session:
        weak_below = {
            project.id: repository.effective_config(
                session, project_id=project.id
            ).quality_min_score
            for project in repository.list_projects(session)
        }
        rows = repository.quality_distribution(session, weak_below=weak_below)
    if not rows:
        return
    table = Table(
        "project", "faces", "not measured", "p10", "median", "p90", "weak", title="face quality"
    )
    for row in rows:
        table.add_row(
            row.project,
            str(row.faces),
            str(row.unmeasured),
            *(
                "—" if value is None else f"{value:.0f}"
                for value in (row.low, row.median, row.high)
            ),
            f"{row.weak} (below {weak_below[row.project_id]:.0f})",
        )
    (console if console.is_terminal else Console(width=240)).print(table)


def report_unowned_photos(*, delete: bool, grace_s: float) -> int:
    """Delete the photos queued for deletion (an erasure's, a removed reference's), then
    print (and with ``delete`` remove) stored photos no character owns; returns how many
    are left, queued ones that the store still refuses included."""
    from likeness.db import repository
    from likeness.db.session import transaction
    from likeness.services.erasure import delete_queued_photos

    store = get_store()
    still_queued = delete_queued_photos()
    if still_queued:
        errors.print(
            f"[red]storage: {still_queued} photo(s) queued for deletion that "
            f"{store.describe()} refuses for now (retried by every worker)[/red]"
        )
    with transaction() as session:
        unowned = unowned_keys(store, repository.owned_image_paths(session), older_than_s=grace_s)
    if not unowned:
        console.print(f"storage ({store.describe()}): every photo belongs to a character")
        return still_queued
    if delete:
        store.delete(unowned)
        console.print(f"storage: deleted {len(unowned)} photo(s) that no character owned")
        return still_queued
    errors.print(
        f"[red]storage: {len(unowned)} photo(s) that no character owns "
        "(likeness check --delete-unowned deletes them):[/red]"
    )
    for key in unowned:
        errors.print(f"  {store.label(key)}")
    return still_queued + len(unowned)


@app.command()
def deploy() -> None:
    """Create work pool gpu and register the deployments (docs/deploy.md).

    Create work pool "gpu" and register the deployments of deployments/prefect.yaml.
    """
    from likeness.orchestration.deploy import register_deployments

    for name in register_deployments():
        console.print(f"deployment {name} on work pool gpu")


@app.command()
def doctor() -> None:
    """What this machine has and lacks to run likeness, each with its fix (docs/deploy.md).

    What this machine has and lacks for likeness (models, CUDA, database, Prefect,
    storage, memory), each ok or what to fix; exit 1 when a worker could not run here.
    Run it first on a new machine (docs/deploy.md).
    """
    from likeness.doctor import run_checks

    missing = False
    for finding in run_checks(get_settings()):
        mark = "[green]ok  [/green]" if finding.ok else "[red]FAIL[/red]"
        if not finding.ok and not finding.needed:
            mark = "[yellow]warn[/yellow]"
        console.print(
            f"{mark} {finding.name:<14} {finding.detail}", highlight=False, soft_wrap=True
        )
        missing |= finding.needed and not finding.ok
    if missing:
        raise typer.Exit(1)


@app.command()
def worker() -> None:
    """A warm extraction worker on work pool gpu (docs/deploy.md).

    A warm extraction worker on work pool "gpu" (uses PREFECT_API_URL): loads the models
    once, then runs flow runs until SIGTERM or Ctrl-C, finishing the runs in hand.
    """
    use_database()
    from likeness.orchestration.warm_worker import WarmWorker

    logging.getLogger("likeness.worker").setLevel(logging.INFO)
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.INFO)
    WarmWorker(get_settings()).serve()


@app.command()
def up(
    demo: Annotated[bool, typer.Option(help="Import the sample photos and extract them.")] = False,
    worker: Annotated[
        bool,
        typer.Option(help="Run a worker here too (--no-worker: the workers run on GPU hosts)."),
    ] = True,
) -> None:
    """The whole local stack: PostgreSQL, Prefect, a worker, the API and UI (docs/operate.md).

    The whole local stack: PostgreSQL, Prefect server + UI, work pool, worker, API + UI.

    Ctrl-C stops everything. Several machines: docs/deploy.md.
    """
    from likeness.orchestration.resident_server import stop_resident_server
    from likeness.orchestration.stack import run_local_stack

    settings = get_settings()
    if stop_resident_server(settings):
        console.print("stopped the Prefect server kept for commands: this stack runs its own")

    def say(message: str) -> None:
        errors.print(f"[yellow]{message}[/yellow]")

    run_local_stack(
        settings,
        deploy=deploy,
        serve=lambda logs: serve_api(settings, demo, logs),
        say=say,
        tell=console.print,
        with_worker=worker,
    )
    console.print("stopped")


def serve_api(settings: Any, demo: bool, logs: Path) -> None:
    """Queue the demo if asked, print the addresses, and serve the API until Ctrl-C."""
    if demo:
        queue_demo(settings)
    if settings.api_token is None:
        errors.print(
            "[yellow]warning: LIKENESS_API_TOKEN is not set: the API and UI accept "
            "anyone who can reach them[/yellow]"
        )
    base = f"http://{settings.api_host}"
    console.print(
        f"\n  likeness UI   {base}:{settings.api_port}/\n"
        f"  API docs      {base}:{settings.api_port}/docs\n"
        f"  Prefect UI    {settings.prefect_url}/runs\n"
        f"  logs          {logs}\n\nCtrl-C stops everything.\n"
    )
    import uvicorn

    from likeness.api.app import create_app

    # No lifespan handlers: with lifespan on, Ctrl-C printed a CancelledError traceback.
    uvicorn.run(
        create_app(),
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        lifespan="off",
    )


def queue_demo(settings: Any, project: str = "demo") -> None:
    """Import the sample photos once and queue an extraction run for each pending one."""
    from likeness.db import repository
    from likeness.db.session import transaction
    from likeness.devtools.samples import import_demo_once
    from likeness.extraction_requests import start
    from likeness.identity.status import Status

    import_demo_once(settings, project)
    with transaction() as session:
        pending = repository.list_characters(session, status=Status.PENDING)
    for character in pending:
        start(character)
    console.print(f"queued {len(pending)} sample extraction(s) on work pool gpu")


@app.command()
def bench(
    images: Annotated[
        Path | None, typer.Option(help="Folder of images (default: samples).")
    ] = None,
    rounds: Annotated[int, typer.Option(min=1, help="Passes over the images for b, c, d.")] = 48,
    chunk_size: Annotated[
        int, typer.Option(min=1, help="Characters per backfill chunk in c.")
    ] = BACKFILL_CHUNK_SIZE,
    repeats: Annotated[
        int, typer.Option(min=1, help="Runs of d and c, alternated; each reports its median.")
    ] = 3,
    vectors: Annotated[int, typer.Option(min=1000, help="Synthetic vectors for search.")] = 100_000,
    queries: Annotated[int, typer.Option(min=10)] = 200,
    only: Annotated[
        str | None,
        typer.Option(
            help="throughput | search | latency | load | references | verify | quality | startup "
            "| chaos"
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="The fault schedule of chaos [default: a random one]")
    ] = None,
    uploads: Annotated[int, typer.Option(min=1, help="Concurrent uploads for load.")] = 200,
    load_workers: Annotated[int, typer.Option(min=1, help="Warm workers for load.")] = 1,
) -> None:
    """Measure speed and accuracy: throughput, search, latency, checks (docs/benchmarks.md).

    Throughput (a: process per image, b: warm FaceAnalysis, c: backfill, d: model floor),
    similarity search latency and recall, upload latency (one at a time, alone and during a
    backfill) and concurrent uploads (load) through the API to terminal status, on a stack
    started as `likeness up` starts it, in a scratch database; whether a template of
    several references matches a person better than one reference (references); the
    match thresholds, one verify's latency and a batch check's speed (verify); whether
    the face quality score predicts recognition (quality); whole commands from the
    shell to exit on a fresh data directory (startup); and a burst of uploads with a
    backfill while the stack's parts die at random (chaos: exits 1 on any miss).
    """
    use_database()
    import tempfile

    from likeness.devtools import bench as b
    from likeness.devtools import bench_report as report
    from likeness.devtools import identity_evidence
    from likeness.devtools.bench_load import concurrent_uploads, latency

    parts = (
        "throughput",
        "search",
        "latency",
        "load",
        "references",
        "verify",
        "quality",
        "startup",
        "chaos",
    )
    if only not in (None, *parts):
        errors.print(f"[red]unknown --only {only!r}: {', '.join(parts)}[/red]")
        raise typer.Exit(2)
    if only == "chaos":  # on a data directory of its own, whose PostgreSQL it stops
        chaos = [sys.executable, "-m", "likeness.devtools.chaos"]
        seeded = ["--seed", str(seed)] if seed is not None else []
        raise typer.Exit(subprocess.run([*chaos, *seeded], check=False).returncode)

    settings = get_settings()
    with (
        tempfile.TemporaryDirectory(prefix="likeness-bench-") as work_dir,
        b.scratch_database() as url,
    ):
        paths = b.image_files(images, Path(work_dir))
        console.print(f"{len(paths)} images x {rounds} rounds; {b.machine()}")
        if only in (None, "throughput"):
            bb = b.face_analysis_loop(paths, settings, rounds)
            dc = b.floor_and_backfill(paths, rounds, url, chunk_size, repeats)
            a = b.one_process_per_image(paths)
        if only in (None, "search"):
            build, search = b.similarity_search(
                url, vectors=vectors, queries=queries, ef_values=[20, 40, 64, 100]
            )
        if only in (None, "latency"):
            latencies = latency(url, b.varied_photos(Path(work_dir), 20))
        if only in (None, "load"):
            load = concurrent_uploads(url, paths, uploads, load_workers)
        if only in (None, "references"):
            identities = identity_evidence.measure(Path(work_dir))
        if only in (None, "quality"):
            from likeness.devtools.bench_quality import quality_evidence

            quality = quality_evidence(Path(work_dir))
        if only in (None, "verify"):
            from likeness.devtools import bench_verify

            labelled = bench_verify.labelled_similarities(Path(work_dir))
            probes = b.varied_photos(Path(work_dir), 20)
            timings = bench_verify.verify_timings(url, probes, paths, rounds)
        if only in (None, "startup"):
            from likeness.devtools import bench_startup

            held_out = b.varied_photos(Path(work_dir), max(bench_startup.CAST_SIZES))
            startup = bench_startup.measure(
                Path(work_dir), {n: held_out[:n] for n in bench_startup.CAST_SIZES}
            )
    if only in (None, "throughput"):
        report.print_throughput(console, a, bb, dc)
    if only in (None, "search"):
        report.print_search(console, vectors, queries, build, search)
    if only in (None, "latency"):
        report.print_latency(console, latencies)
    if only in (None, "references"):
        report.print_identity(console, identities)
    if only in (None, "verify"):
        report.print_verify(console, labelled, timings)
    if only in (None, "quality"):
        report.print_quality(console, quality)
    if only in (None, "startup"):
        report.print_startup(console, startup)
    if only in (None, "load"):
        report.print_load(console, load, load_workers)
        if load.lost or load.extra_runs or load.accepted < load.uploads:
            raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the database migrations (docs/operate.md).

    Apply the migrations (creates the embedded server on first use).
    """
    from likeness.db import migrate
    from likeness.db.session import start_database

    migrate.upgrade(start_database(), revision=revision)
    console.print(f"database at revision {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: str = "base") -> None:
    """Revert the database migrations down to a revision (docs/operate.md).

    Revert the migrations down to REVISION (default: everything).
    """
    from likeness.db import migrate
    from likeness.db.session import start_database

    migrate.downgrade(start_database(), revision=revision)
    console.print(f"database at revision {revision}")


@db_app.command("url")
def db_url() -> None:
    """Print the database URL in use (docs/configure.md).

    Print the database URL in use.
    """
    from likeness.db.session import open_database

    typer.echo(open_database())


@app.command()
def stop() -> None:
    """Stop the Prefect server and PostgreSQL that commands keep running (docs/operate.md).

    Stop what commands leave running for the next ones: the Prefect server kept for
    them, then the embedded PostgreSQL (its database is there).
    """
    from likeness.db.embedded import stop_embedded_postgres
    from likeness.orchestration.resident_server import stop_resident_server

    settings = get_settings()
    stopped = stop_resident_server(settings)
    console.print("Prefect server stopped" if stopped else "no Prefect server kept")
    stopped = stop_embedded_postgres(settings.postgres_dir)
    console.print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL not running")


# The kept Prefect server's database is the embedded one: stopping one stops both.
db_app.command("stop", help="The same as `likeness stop` (docs/operate.md).")(stop)
