"""What every photo store offers, and the rules shared by all of them: a key names a photo
inside the store (``<project folder>/<random name>.<type>``), never a machine's path."""

from __future__ import annotations

import hashlib
import string
import time
import uuid
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import BinaryIO, Protocol

from likeness.identity.errors import ImageOutsideStorage

# A file is written before its character's row commits: younger ones may still be claimed.
UPLOAD_GRACE_S = 300

_PLAIN = frozenset(string.ascii_letters + string.digits + "-_")
_LONGEST_FOLDER = 120  # bytes; a path segment may have 255


class StorageUnavailable(ConnectionError):
    """The store could not be reached or refused the operation (the network, the bucket's
    service, credentials): not the photo's fault, worth a retry."""


def project_folder_name(project: str) -> str:
    """A project's folder: its name, with every character but ASCII letters, digits, '-'
    and '_' percent-encoded (``a b`` → ``a%20b``, ``..`` → ``%2E%2E``), so two names never
    share a folder and none is a separator, ``.`` or ``..``. A blank or very long name
    becomes ``~`` and its SHA-256 (``~`` appears in no encoding)."""
    encoded = "".join(
        c if c in _PLAIN else "".join(f"%{byte:02X}" for byte in c.encode()) for c in project
    )
    if not encoded or len(encoded) > _LONGEST_FOLDER:
        return "~" + hashlib.sha256(project.encode()).hexdigest()
    return encoded


def new_key(project: str, suffix: str) -> str:
    """A fresh key in the project's folder under a random name."""
    return f"{project_folder_name(project)}/{uuid.uuid4().hex}{suffix}"


def in_project(key: str, project: str) -> bool:
    """True when ``key`` lies in ``project``'s folder: a file belongs to the project it
    was uploaded for."""
    folder, _, name = key.partition("/")
    return bool(name) and folder == project_folder_name(project)


class Store(Protocol):
    """Where face photos are kept. Every place that writes, reads, serves or deletes a
    photo goes through one of these (:func:`likeness.storage.get_store`)."""

    def describe(self) -> str:
        """Where the photos are, for people (a folder, or ``s3://bucket/prefix``)."""
        ...

    def new_photo(self, project: str, suffix: str) -> AbstractContextManager[tuple[str, BinaryIO]]:
        """A new photo of ``project``, open for writing: stored under the yielded key when
        the block ends, nothing stored when it fails (never half a photo)."""
        ...

    def open(self, key: str, max_bytes: int | None = None) -> BinaryIO:
        """The photo's bytes, read once. :class:`ImageMissing` when there is none,
        :class:`ImageOutsideStorage` for a key that leads out of the store,
        :class:`ImageTooLarge` (checked before the bytes are read) past ``max_bytes``."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, keys: Iterable[str]) -> None:
        """Remove these photos (one already gone is fine); :class:`StorageUnavailable`
        when the store refuses or cannot be reached."""
        ...

    def listing(self) -> list[tuple[str, float]]:
        """Every stored photo's key with when it was last written (Unix seconds)."""
        ...

    def key_of(self, given: str) -> str:
        """The key that ``given`` names (a key, or the store's own long form: a path inside
        the folder, an ``s3://`` URL inside the bucket and prefix); raises
        :class:`ImageOutsideStorage` for anything else."""
        ...

    def label(self, key: str) -> str:
        """How a photo is named to users: its key, never a server's path."""
        ...


def unowned_keys(
    store: Store, owned: Iterable[str], *, older_than_s: float = UPLOAD_GRACE_S
) -> list[str]:
    """Stored photos that no character (or archived embedding) owns, leaving out those
    written in the last ``older_than_s`` (an upload in progress)."""
    kept = set()
    for value in owned:
        try:
            kept.add(store.key_of(value))
        except ImageOutsideStorage:  # a row naming a photo elsewhere owns nothing here
            continue
    settled = time.time() - older_than_s
    return sorted(key for key, written in store.listing() if key not in kept and written < settled)
