"""The cyclic garbage collector, tuned for processes that import a great deal.

A command imports Prefect, Great Expectations, pandas and the model runtimes as it starts:
hundreds of thousands of objects, none of them garbage. At Python's default threshold
(a collection every 700 new objects) the collector runs thousands of times meanwhile, many
of them passes over everything imported so far: 0.8 of the 4.6 s of importing the
backfill's flows and data checks, measured on 2 cores. A collection every 10,000 objects
gives that back with the same peak memory (measured), and still collects the cycles of a
process that runs for days.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

NEW_OBJECTS_PER_COLLECTION = 10_000


def collect_less_often() -> None:
    """Collect the youngest generation every :data:`NEW_OBJECTS_PER_COLLECTION` objects;
    the older generations keep Python's ratios."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(NEW_OBJECTS_PER_COLLECTION, older, oldest)


@contextmanager
def none_while_importing() -> Iterator[None]:
    """No collection at all in the block; then what it made is frozen (never scanned
    again: the modules, classes and functions of a process that imports once, up front)
    and collection resumes. Even the collections of :func:`collect_less_often` took 0.17
    of the 2 s of CPU that importing Great Expectations takes. The cycles the imports left
    as garbage stay, frozen with the rest: 3,500 objects, 2 MB, measured."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
