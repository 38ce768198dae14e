"""Import image files as characters: copy into the photo store, one character per image."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from likeness.db import repository
from likeness.db.session import transaction
from likeness.storage import Store, discard_unowned
from likeness.storage.image_formats import IMAGE_SUFFIXES


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


def store_source_image(source: Path, store: Store, project: str) -> str:
    """Copy ``source`` into the project's folder of the store, with a unique name; returns
    its key."""
    with store.new_photo(project, source.suffix.lower()) as (key, out), source.open("rb") as data:
        shutil.copyfileobj(data, out)
    return key


def import_images(paths: list[Path], *, project: str, store: Store) -> list[int]:
    """One character per image, named after the file; returns their ids. Nothing is left
    in the store when the import fails."""
    stored: list[tuple[str, str]] = []
    try:
        for path in paths:
            stored.append((path.stem, store_source_image(path, store, project)))
        with transaction() as session:
            project_row = repository.get_or_create_project(session, name=project)
            return [
                repository.create_character(
                    session, project_id=project_row.id, name=name, source_image_path=key
                ).id
                for name, key in stored
            ]
    except BaseException:
        discard_unowned(key for _, key in stored)
        raise
