"""Import image files as characters: copy into the storage root, one character per image."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

from likeness.db import repository
from likeness.db.session import transaction

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
    """Copy ``source`` under the storage root with a unique name; return the stored path."""
    folder = storage_root / project
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{uuid.uuid4().hex}{source.suffix.lower()}"
    shutil.copyfile(source, target)
    return target


def import_images(paths: list[Path], *, project: str, storage_root: Path) -> list[int]:
    """One character per image, named after the file; returns their ids."""
    stored = [(path.stem, store_source_image(path, storage_root, project)) for path in paths]
    with transaction() as session:
        project_row = repository.get_or_create_project(session, name=project)
        return [
            repository.create_character(
                session, project_id=project_row.id, name=name, source_image_path=str(target)
            ).id
            for name, target in stored
        ]
