"""One home for "a request": a new photo or a re-run becomes a character (or a reference)
committed ``pending``, and its run is started. The API's routes, the webhook, ``likeness
import``, the demo and the command line all come here.

A request is three steps, always in this order: the photo stored (queued for deletion until
a committed row owns it, so a process killed in between leaves no orphan), the row made
``pending`` in one transaction that takes the photo off that queue (a refused request keeps
no photo), and the run started after the commit (``orchestration.requests``: when Prefect
cannot be reached the row stays ``pending`` for the reconciler).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from uuid import UUID

from likeness.config import get_settings
from likeness.db import repository
from likeness.db.models import Character
from likeness.db.session import transaction
from likeness.db.unit_of_work import UnitOfWork
from likeness.orchestration.requests import start_or_leave_pending
from likeness.storage import UPLOAD_GRACE_S, discard_unowned, get_store, in_project
from likeness.storage.uploads import save_upload

# Makes the row of a request, in its transaction, for the key of the photo just stored.
RowFor = Callable[[UnitOfWork, str], Character]


@dataclass(frozen=True)
class Requested:
    row: Character  # as committed: ``pending``
    flow_run_id: UUID | None  # None: Prefect did not answer, the reconciler starts it


class NotInProject(ValueError):
    """A stored photo named for a character of another project."""


def new_character(photo: BinaryIO, *, name: str, project: str) -> Requested:
    def create(work: UnitOfWork, key: str) -> Character:
        project_row = repository.get_or_create_project(work, name=project)
        character = repository.create_character(
            work, project_id=project_row.id, name=name, source_image_path=key
        )
        work.refresh(character)
        return character

    return start(_with_photo(photo, project, create))


def new_source_image(character_id: int, photo: BinaryIO) -> Requested:
    """Refused (``repository.Conflict``) while an extraction of the character runs."""
    return start(_with_photo(photo, _project_of(character_id), _extraction_of(character_id)))


def new_reference(character_id: int, photo: BinaryIO) -> Requested:
    def create(work: UnitOfWork, key: str) -> Character:
        return repository.create_reference(work, character_id=character_id, source_image_path=key)

    return start(_with_photo(photo, _project_of(character_id), create))


def new_reference_image(character_id: int, reference_id: int, photo: BinaryIO) -> Requested:
    with transaction() as work:
        reference = repository.get_reference(
            work, character_id=character_id, reference_id=reference_id
        )
        project = repository.project_name(work, project_id=reference.project_id)
    return start(_with_photo(photo, project, _extraction_of(reference_id)))


def extract_again(character_id: int) -> Requested:
    with transaction() as work:
        character = repository.request_extraction(work, character_id=character_id)
    return start(character)


def stored_source_image(work: UnitOfWork, *, character_id: int, key: str) -> Character:
    """A photo already in the store (the webhook's upload service put it there; its key
    from ``storage.existing_key``) as the character's new source image, in the caller's
    transaction; start its run after the commit with :func:`start`. :class:`NotInProject`
    when it lies in another project's folder."""
    character = repository.get_character(work, character_id=character_id)
    project = repository.project_name(work, project_id=character.project_id)
    if not in_project(key, project):
        raise NotInProject(
            f"{key} is not in the storage folder of project {project!r}: a file belongs "
            "to the project it was uploaded for"
        )
    return repository.request_extraction(work, character_id=character_id, source_image_path=key)


def start(row: Character) -> Requested:
    """The run of a request just committed (``orchestration.requests``)."""
    return Requested(row, start_or_leave_pending(row))


def import_files(paths: list[Path], *, project: str) -> list[int]:
    """One ``pending`` character per image file, named after it, in one transaction;
    returns their ids. Their runs are started by the caller (``likeness backfill``, or the
    reconciler of a running stack); nothing is left in the store when the import fails."""
    keys: list[str] = []
    try:
        for path in paths:
            keys.append(_copy(path, project))
    except BaseException:
        discard_unowned(keys)
        raise
    with _owning(keys) as work:
        project_row = repository.get_or_create_project(work, name=project)
        ids = [
            repository.create_character(
                work, project_id=project_row.id, name=path.stem, source_image_path=key
            ).id
            for path, key in zip(paths, keys, strict=True)
        ]
    return ids


def _project_of(character_id: int) -> str:
    """The project whose storage folder a character's new photo goes into (``NotFound``
    for an unknown character, before any byte is stored)."""
    with transaction() as work:
        character = repository.get_character(work, character_id=character_id)
        return repository.project_name(work, project_id=character.project_id)


def _extraction_of(row_id: int) -> RowFor:
    def request(work: UnitOfWork, key: str) -> Character:
        return repository.request_extraction(work, character_id=row_id, source_image_path=key)

    return request


def _with_photo(photo: BinaryIO, project: str, row_for: RowFor) -> Character:
    """Store the photo, then make the request that uses it in one transaction; a refused
    request keeps no photo."""
    key = _store(photo, project)
    with _owning([key]) as work:
        row = row_for(work, key)
    return row


@contextmanager
def _owning(keys: list[str]) -> Iterator[UnitOfWork]:
    """The transaction that makes the rows owning these stored photos, and takes them off
    the deletion queue. An error before it commits discards them at once: no row owns
    them. An error as it commits (the database gone as it answered) leaves them to their
    queued deletion: the commit may have reached the database, rows then own them, and
    their deletion is no longer queued."""
    committing = False
    try:
        with transaction() as work:
            repository.unqueue_photo_deletions(work, photos=keys)
            yield work
            committing = True
    except BaseException:
        if not committing:
            discard_unowned(keys)
        raise


def _store(photo: BinaryIO, project: str) -> str:
    settings = get_settings()
    return save_upload(
        photo,
        store=get_store(settings),
        project=project,
        max_bytes=settings.max_image_bytes,
        before_write=_queue_until_owned,
    )


def _copy(path: Path, project: str) -> str:
    """A file copied as it is (its type is judged when it is extracted, as a failure of
    its own character, not of the whole import)."""
    store = get_store()
    with store.new_photo(project, path.suffix.lower()) as (key, out), path.open("rb") as data:
        _queue_until_owned(key)
        shutil.copyfileobj(data, out)
    return key


def _queue_until_owned(key: str) -> None:
    """Queue the photo's deletion before its bytes are written, to take effect once its
    request has had time to commit: a process killed in between leaves a photo that the
    reconciler deletes, not an orphan."""
    with transaction() as work:
        repository.queue_photo_deletions(work, photos=[key], after_s=UPLOAD_GRACE_S)
