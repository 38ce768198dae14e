from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from likeness.api.app import create_app
from likeness.config import get_settings

TOKEN = "s3cret-token"


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``LIKENESS_API_TOKEN`` set for the test."""
    monkeypatch.setenv("LIKENESS_API_TOKEN", TOKEN)
    get_settings.cache_clear()
    yield TOKEN
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def client(prefect_server: object) -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client
