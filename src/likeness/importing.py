"""Import image files as characters: copy into the storage root, one character per image."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from likeness.db import repository
from likeness.db.session import transaction
from likeness.storage import discard, new_photo

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


def expand_image_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given; directories contribute their image files, sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")
    return found


def store_source_image(source: Path, storage_root: Path, project: str) -> Path:
    """Copy ``source`` into the project's folder, owner-only, with a unique name."""
    with (
        new_photo(storage_root, project, source.suffix.lower()) as (target, out),
        source.open("rb") as data,
    ):
        shutil.copyfileobj(data, out)
    return target


def import_images(paths: list[Path], *, project: str, storage_root: Path) -> list[int]:
    """One character per image, named after the file; returns their ids. Nothing is left
    in storage when the import fails."""
    stored: list[tuple[str, Path]] = []
    try:
        for path in paths:
            stored.append((path.stem, store_source_image(path, storage_root, project)))
        with transaction() as session:
            project_row = repository.get_or_create_project(session, name=project)
            return [
                repository.create_character(
                    session, project_id=project_row.id, name=name, source_image_path=str(target)
                ).id
                for name, target in stored
            ]
    except BaseException:
        discard(target for _, target in stored)
        raise
