"""The local folder store (the default, ``HOME/storage``): one private folder per project,
files readable by their owner only, and a file is only ever read where it really is, inside
the root."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from likeness.identity.errors import ImageMissing, ImageOutsideStorage, ImageTooLarge
from likeness.storage.base import new_key, project_folder_name

FILE_MODE = 0o600  # face photos are biometric data: the service's own user only
DIR_MODE = 0o700
PARTIAL_SUFFIX = ".partial"


def private_dir(path: Path) -> Path:
    """``path`` and any missing parents created owner-only (an existing one is tightened)."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    path.chmod(DIR_MODE)
    return path


def project_folder(storage_root: Path, project: str) -> Path:
    """``<storage root>/<project folder name>/``, created owner-only."""
    private_dir(storage_root)
    return private_dir(storage_root / project_folder_name(project))


class LocalStore:
    """Photos under ``root``. Keys are paths relative to it; a path stored by an older
    version (absolute, inside the root) names the same photo."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return f"folder {self.root}"

    @contextmanager
    def new_photo(self, project: str, suffix: str) -> Iterator[tuple[str, BinaryIO]]:
        """Written as ``<name>.partial`` and renamed when the block ends: a reader never
        sees half a photo."""
        key = new_key(project, suffix)
        project_folder(self.root, project)
        target = self.root / key
        partial = target.with_name(target.name + PARTIAL_SUFFIX)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        descriptor = os.open(partial, flags, FILE_MODE)
        try:
            with os.fdopen(descriptor, "wb") as out:
                yield key, out
            partial.replace(target)
        except BaseException:
            self.delete([key])
            raise

    def open(self, key: str, max_bytes: int | None = None) -> BinaryIO:
        """Open first, then check the file actually opened: a regular file inside the
        root. Checking after opening means a symlink swapped in after an earlier check
        cannot lead anywhere else."""
        root = self.root.resolve()
        candidate = self._path(key)
        flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK  # a FIFO must not block the read
        try:
            descriptor = os.open(candidate, flags)
        except (FileNotFoundError, NotADirectoryError) as error:
            raise ImageMissing(f"image not found: {self.label(key)}") from error
        except OSError as error:
            raise ImageMissing(f"image cannot be opened: {self.label(key)}") from error
        try:
            opened = Path(os.readlink(f"/proc/self/fd/{descriptor}"))
            if not opened.is_relative_to(root):
                raise ImageOutsideStorage(
                    f"image path is outside the storage root: {self.label(key)}"
                )
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):
                raise ImageMissing(f"not a regular file: {self.label(key)}")
            if max_bytes is not None and status.st_size > max_bytes:
                raise ImageTooLarge(
                    f"image file is {status.st_size} bytes, over the limit of {max_bytes}: "
                    f"{self.label(key)}"
                )
            os.set_blocking(descriptor, True)
            return os.fdopen(descriptor, "rb")
        except BaseException:
            os.close(descriptor)
            raise

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            path = self._path(key)
            path.unlink(missing_ok=True)
            Path(f"{path}{PARTIAL_SUFFIX}").unlink(missing_ok=True)

    def listing(self) -> list[tuple[str, float]]:
        if not self.root.is_dir():
            return []
        return sorted(
            (path.relative_to(self.root).as_posix(), path.stat().st_mtime)
            for path in self.root.rglob("*")
            if path.is_file()
        )

    def key_of(self, given: str) -> str:
        """The key of a path relative to the root or absolute inside it; a path that
        leads outside (``..``, a symlink on the way) is :class:`ImageOutsideStorage`."""
        root = self.root.resolve()
        resolved = self._path(given).resolve()
        if not resolved.is_relative_to(root) or resolved == root:
            raise ImageOutsideStorage(f"image path is outside the storage root: {given}")
        return resolved.relative_to(root).as_posix()

    def label(self, key: str) -> str:
        """Relative to the root (never the server's absolute path), or only the file's
        name when it lies elsewhere."""
        candidate = Path(key)
        if not candidate.is_absolute():
            return key
        for root in (self.root, self.root.resolve()):
            if candidate.is_relative_to(root):
                return str(candidate.relative_to(root))
        return candidate.name

    def _path(self, key: str) -> Path:
        candidate = Path(key)
        return candidate if candidate.is_absolute() else self.root / candidate
