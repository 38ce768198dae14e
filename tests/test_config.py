"""Settings and the two database paths: embedded by default, any server by URL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from likeness.config import Settings


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "likeness", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIKENESS_")}
    env.update(overrides)
    return env


def test_defaults_follow_the_design(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIKENESS_HOME", str(tmp_path))
    monkeypatch.delenv("LIKENESS_DATABASE_URL")
    settings = Settings()
    assert settings.model_pack == "buffalo_s"
    assert settings.database_url is None
    assert settings.resolved_storage_root == tmp_path / "storage"
    assert (settings.api_host, settings.api_port, settings.prefect_port) == (
        "127.0.0.1",
        8000,
        4200,
    )


@pytest.mark.parametrize(
    ("url", "location", "folder"),
    [
        (None, "{home}/storage", "{home}/storage"),  # the default: a folder in the home
        ("{home}/photos", "{home}/photos", "{home}/photos"),  # a folder named by the URL
        ("s3://bucket/studio", "s3://bucket/studio", "{home}/storage"),  # a bucket
    ],
)
def test_the_storage_url_names_a_folder_or_a_bucket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str | None, location: str, folder: str
) -> None:
    monkeypatch.setenv("LIKENESS_HOME", str(tmp_path))
    if url is not None:
        monkeypatch.setenv("LIKENESS_STORAGE_URL", url.format(home=tmp_path))
    settings = Settings()
    assert settings.storage_location == location.format(home=tmp_path)
    assert settings.resolved_storage_root == Path(folder.format(home=tmp_path))


@pytest.mark.parametrize("url", ["s3://", "https://bucket/studio", "s3:///prefix"])
def test_a_storage_url_that_names_no_folder_or_bucket_is_refused(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("LIKENESS_STORAGE_URL", url)
    with pytest.raises(ValidationError, match="storage_url"):
        Settings()


def test_invalid_setting_is_refused_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("LIKENESS_MAX_IMAGE_PIXELS", "-5")
    with pytest.raises(ValidationError, match="max_image_pixels"):
        Settings()


def test_without_a_url_an_embedded_server_is_started_and_reused(tmp_path: Path) -> None:
    env = clean_env(LIKENESS_HOME=str(tmp_path))
    try:
        first = run_cli("db", "url", env=env)
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith("postgresql+psycopg://")
        assert str(tmp_path / "postgres") in first.stdout
        upgraded = run_cli("db", "upgrade", env=env)
        assert upgraded.returncode == 0, upgraded.stderr
        second = run_cli("status", env=env)  # a later command reuses the running server
        assert second.returncode == 0, second.stderr
        assert run_cli("db", "url", env=env).stdout == first.stdout
    finally:
        stopped = run_cli("db", "stop", env=env)
    assert "stopped" in stopped.stdout
    url = first.stdout.strip().replace("postgresql+psycopg://", "postgresql://", 1)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=3)  # the server is really gone


def test_with_a_url_that_server_is_used(tmp_path: Path, database_url: str) -> None:
    plain_url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    env = clean_env(LIKENESS_HOME=str(tmp_path), LIKENESS_DATABASE_URL=plain_url)

    result = run_cli("db", "url", env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == database_url
    assert not (tmp_path / "postgres").exists()  # no embedded server was started
    assert run_cli("status", env=env).returncode == 0
