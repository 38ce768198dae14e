"""Where face photos live: one interface (:class:`Store`), two backends chosen by
``LIKENESS_STORAGE_URL``: a local folder (the default, ``HOME/storage``) or an S3-compatible
bucket (``s3://bucket/prefix``) that several machines share."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import lru_cache

from likeness.config import Settings, get_settings
from likeness.identity.errors import ImageMissing
from likeness.storage.base import (
    UPLOAD_GRACE_S,
    StorageUnavailable,
    Store,
    in_project,
    project_folder_name,
    unowned_keys,
)
from likeness.storage.local import LocalStore, project_folder

__all__ = [
    "UPLOAD_GRACE_S",
    "LocalStore",
    "StorageUnavailable",
    "Store",
    "discard_unowned",
    "existing_key",
    "get_store",
    "in_project",
    "project_folder",
    "project_folder_name",
    "store_at",
    "unowned_keys",
]


log = logging.getLogger(__name__)


def get_store(settings: Settings | None = None) -> Store:
    """The store the settings name (one per location and process: a bucket store keeps
    its connections)."""
    return store_at((settings or get_settings()).storage_location)


@lru_cache(maxsize=4)
def store_at(location: str) -> Store:
    if location.startswith("s3://"):
        from likeness.storage.bucket import BucketStore  # obstore: only where a bucket is used

        return BucketStore(location)
    from pathlib import Path

    return LocalStore(Path(location))


def existing_key(given: str) -> str:
    """The key of a photo already in the store, named by a key, a path inside the storage
    folder or an s3:// URL inside the bucket: ``ImageOutsideStorage`` for anything else,
    ``ImageMissing`` when nothing is stored there."""
    store = get_store()
    key = store.key_of(given)
    if not store.exists(key):
        raise ImageMissing(f"no stored image at {given}")
    return key


def discard_unowned(keys: Iterable[str]) -> None:
    """Best effort, for photos that no row came to own (a refused or failed request): one
    the store cannot delete now is left for ``likeness check`` to report."""
    try:
        get_store().delete(keys)
    except StorageUnavailable as error:
        log.warning("photos not deleted: %s", error)
