"""What routes are given by FastAPI rather than fetch themselves, so that a test can
override it (``app.dependency_overrides``): the request's unit of work and the settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends

from likeness.config import Settings, get_settings
from likeness.db.session import transaction
from likeness.db.unit_of_work import UnitOfWork


def unit_of_work() -> Iterator[UnitOfWork]:
    with transaction() as work:
        yield work


# One transaction around the route's function, committed before the response is sent
# (scope "function"): a client never reads a success whose write did not commit. A route
# that starts a run after its commit, or waits, opens its own transactions instead.
WorkDep = Annotated[UnitOfWork, Depends(unit_of_work, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
