"""A process that imports once, up front, collects nothing while it imports, and collects
its later cycles as usual."""

from __future__ import annotations

import gc
import weakref

from likeness.garbage_collection import none_while_importing


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


def test_no_collection_while_importing_then_collection_as_usual() -> None:
    try:
        with none_while_importing():
            collecting_inside = gc.isenabled()
            left_by_an_import = weakref.ref(Node())
        made_later = weakref.ref(Node())
        gc.collect()

        assert not collecting_inside
        assert gc.isenabled()
        assert left_by_an_import() is not None  # frozen with the imports: the known cost
        assert made_later() is None  # a cycle made after the imports is collected
    finally:
        gc.unfreeze()
