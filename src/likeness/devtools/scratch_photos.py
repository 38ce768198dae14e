"""Photos a bench stores for a project of its own, removed when it ends (a folder or a
bucket alike)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from likeness.storage import get_store, in_project


def remove_project_photos(*projects: str) -> None:
    store = get_store()
    store.delete(
        [key for key, _ in store.listing() if any(in_project(key, name) for name in projects)]
    )


@contextmanager
def project_photos_removed_after(*projects: str) -> Iterator[None]:
    try:
        yield
    finally:
        remove_project_photos(*projects)
