"""Biometric data erasure, for the API and the CLI alike: rows and photos, announced; and
the deletion of photos nobody owns any more, retried until the store confirms it."""

from __future__ import annotations

import logging

from likeness.db import repository
from likeness.db.session import transaction
from likeness.identity.errors import ImageOutsideStorage
from likeness.services import record
from likeness.storage import StorageUnavailable, get_store

log = logging.getLogger(__name__)


def erase_biometrics(character_id: int) -> None:
    """Erase the character's embedding, faces and history in one transaction, which also
    queues the photos only they used; those are deleted after the commit (a refused
    erasure keeps them), and one the store cannot delete now is retried later.

    Raises ``NotFound``, or ``Conflict`` while an extraction runs.
    """
    with transaction() as session:
        unowned = record.erase_biometrics(session, character_id=character_id)
        repository.queue_photo_deletions(session, photos=unowned)
    delete_queued_photos()


def delete_queued_photos(limit: int = 1000) -> int:
    """Delete queued photos from the store; each one the store confirms leaves the queue,
    the rest stay for the next pass (every worker's reconciler, ``likeness check``).
    Returns how many are still queued from this pass."""
    store = get_store()
    with transaction() as session:
        photos = repository.queued_photo_deletions(session, limit=limit)
        keys = []
        for photo in photos:
            try:
                keys.append(store.key_of(photo))
            except ImageOutsideStorage:  # never in the store: nothing of it to delete
                continue
        try:
            store.delete(keys)
        except StorageUnavailable as error:
            log.warning("%d photo(s) stay queued for deletion: %s", len(photos), error)
            repository.photo_deletions_failed(session, photos=photos, error=str(error))
            return len(photos)
        repository.unqueue_photo_deletions(session, photos=photos)
    return 0
