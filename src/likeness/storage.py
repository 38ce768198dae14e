"""The storage root of face photos: one private folder per project, files readable by
their owner only, and a file is only ever read where it really is, inside the root."""

from __future__ import annotations

import os
import stat
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from likeness.face.errors import ImageMissing, ImageOutsideStorage

FILE_MODE = 0o600  # face photos are biometric data: the service's own user only
DIR_MODE = 0o700
PARTIAL_SUFFIX = ".partial"
# A file is written before its character's row commits: younger ones may still be claimed.
UPLOAD_GRACE_S = 300


def safe_folder_name(project: str) -> str:
    """A project name as one path segment (no separators, no '..')."""
    cleaned = "".join(c if c.isalnum() or c in "-_" else "_" for c in project.strip())
    return cleaned.strip("_") or "default"


def private_dir(path: Path) -> Path:
    """``path`` and any missing parents created owner-only (an existing one is tightened)."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    path.chmod(DIR_MODE)
    return path


def project_folder(storage_root: Path, project: str) -> Path:
    """``<storage root>/<safe project name>/``, created owner-only."""
    private_dir(storage_root)
    return private_dir(storage_root / safe_folder_name(project))


def in_project_folder(storage_root: Path, project: str, path: Path) -> bool:
    """True when ``path`` (already resolved) lies in ``project``'s folder: a file belongs
    to the project it was uploaded for."""
    return path.is_relative_to(storage_root.resolve() / safe_folder_name(project))


def new_file(folder: Path, suffix: str) -> tuple[Path, BinaryIO]:
    """A new owner-only file ``<folder>/<random><suffix>.partial``, open for writing, and
    the final path it is renamed to once complete (see :func:`publish`)."""
    target = folder / f"{uuid.uuid4().hex}{suffix}"
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    return target, os.fdopen(descriptor, "wb")


def publish(target: Path) -> None:
    """Rename the complete ``.partial`` file to ``target`` (atomic: never half a photo)."""
    target.with_name(target.name + PARTIAL_SUFFIX).replace(target)


def discard(paths: Iterable[Path | str | None]) -> None:
    """Remove files (and their partial copies) that no character will own."""
    for path in paths:
        if path:
            Path(path).unlink(missing_ok=True)
            Path(f"{path}{PARTIAL_SUFFIX}").unlink(missing_ok=True)


def open_inside(storage_root: Path, path: str | Path) -> BinaryIO:
    """Open ``path`` (absolute or relative to the root) for reading, then check the file
    actually opened: a regular file inside the storage root. Checking after opening means
    a symlink swapped in after an earlier check cannot lead anywhere else.

    Raises :class:`ImageOutsideStorage` or :class:`ImageMissing`.
    """
    root = storage_root.resolve()
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = root / candidate
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
