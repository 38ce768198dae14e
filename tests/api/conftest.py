from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from likeness.api.app import create_app


@pytest.fixture
def client(prefect_server: object) -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client
