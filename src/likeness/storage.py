"""The storage root of face photos: one private folder per project, files readable by
their owner only, and a file is only ever read where it really is, inside the root."""

from __future__ import annotations

import hashlib
import os
import stat
import string
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from likeness.face.errors import ImageMissing, ImageOutsideStorage

FILE_MODE = 0o600  # face photos are biometric data: the service's own user only
DIR_MODE = 0o700
PARTIAL_SUFFIX = ".partial"
# A file is written before its character's row commits: younger ones may still be claimed.
UPLOAD_GRACE_S = 300


_PLAIN = frozenset(string.ascii_letters + string.digits + "-_")
_LONGEST_FOLDER = 120  # bytes; a path segment may have 255


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


def private_dir(path: Path) -> Path:
    """``path`` and any missing parents created owner-only (an existing one is tightened)."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    path.chmod(DIR_MODE)
    return path


def project_folder(storage_root: Path, project: str) -> Path:
    """``<storage root>/<project folder name>/``, created owner-only."""
    private_dir(storage_root)
    return private_dir(storage_root / project_folder_name(project))


def in_project_folder(storage_root: Path, project: str, path: Path) -> bool:
    """True when ``path`` (already resolved) lies in ``project``'s folder: a file belongs
    to the project it was uploaded for."""
    return path.is_relative_to(storage_root.resolve() / project_folder_name(project))


@contextmanager
def new_photo(storage_root: Path, project: str, suffix: str) -> Iterator[tuple[Path, BinaryIO]]:
    """A new owner-only file in the project's folder under a random name, open for
    writing as ``<name>.partial``: renamed to its final path (yielded with the file) when
    the block ends, removed if the block fails, so there is never half a photo."""
    target = project_folder(storage_root, project) / f"{uuid.uuid4().hex}{suffix}"
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        with os.fdopen(descriptor, "wb") as out:
            yield target, out
        partial.replace(target)
    except BaseException:
        discard([target])
        raise


def discard(paths: Iterable[Path | str | None]) -> None:
    """Remove files (and their partial copies) that no character will own."""
    for path in paths:
        if path:
            Path(path).unlink(missing_ok=True)
            Path(f"{path}{PARTIAL_SUFFIX}").unlink(missing_ok=True)


def in_root(root: Path, path: str | Path) -> Path:
    """``path`` as given when absolute, else relative to ``root``."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else root / candidate


def resolve_inside(storage_root: Path, image_path: str | Path) -> Path:
    """The real path of ``image_path`` (relative to the storage root or absolute);
    :class:`ImageOutsideStorage` when it, or a symlink on the way, leads outside the root."""
    root = storage_root.resolve()
    resolved = in_root(root, image_path).resolve()
    if not resolved.is_relative_to(root):
        raise ImageOutsideStorage(f"image path is outside the storage root: {image_path}")
    return resolved


def open_inside(storage_root: Path, path: str | Path) -> BinaryIO:
    """Open ``path`` (absolute or relative to the root) for reading, then check the file
    actually opened: a regular file inside the storage root. Checking after opening means
    a symlink swapped in after an earlier check cannot lead anywhere else.

    Raises :class:`ImageOutsideStorage` or :class:`ImageMissing`.
    """
    root = storage_root.resolve()
    candidate = in_root(root, path)
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK  # a FIFO must not block the read
    try:
        descriptor = os.open(candidate, flags)
    except (FileNotFoundError, NotADirectoryError) as error:
        raise ImageMissing(f"image not found: {label(storage_root, path)}") from error
    except OSError as error:
        raise ImageMissing(f"image cannot be opened: {label(storage_root, path)}") from error
    try:
        opened = Path(os.readlink(f"/proc/self/fd/{descriptor}"))
        if not opened.is_relative_to(root):
            raise ImageOutsideStorage(
                f"image path is outside the storage root: {label(storage_root, path)}"
            )
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise ImageMissing(f"not a regular file: {label(storage_root, path)}")
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def label(storage_root: Path, path: str | Path) -> str:
    """How a stored file is named to users: relative to the storage root (never the
    server's absolute path), or only its name when it lies elsewhere."""
    candidate = Path(path)
    for root in (storage_root, storage_root.resolve()):
        if candidate.is_relative_to(root):
            return str(candidate.relative_to(root))
    return candidate.name


def stored_files(storage_root: Path) -> list[Path]:
    """Every file under the storage root, sorted (partial uploads included)."""
    if not storage_root.is_dir():
        return []
    return sorted(path for path in storage_root.rglob("*") if path.is_file())


def unowned_files(
    storage_root: Path, owned: Iterable[str], *, older_than_s: float = UPLOAD_GRACE_S
) -> list[Path]:
    """Files under the storage root that no character (or archived embedding) owns,
    leaving out those changed in the last ``older_than_s`` (an upload in progress)."""
    kept = {str(Path(path).resolve()) for path in owned}
    settled = time.time() - older_than_s
    return [
        path
        for path in stored_files(storage_root)
        if str(path.resolve()) not in kept and path.stat().st_mtime < settled
    ]
