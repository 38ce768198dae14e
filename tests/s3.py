"""An S3-compatible endpoint for the tests: moto's standalone server on a free loopback
port (it speaks the S3 HTTP protocol), or the endpoint LIKENESS_TEST_S3_URL names (a real
MinIO or other store, with the AWS_* credentials of the environment)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import httpx

from likeness.orchestration.stack import free_port, running


@contextmanager
def s3_endpoint() -> Iterator[dict[str, str]]:
    """The AWS_* environment of a running endpoint, for the stack and the test alike."""
    given = os.environ.get("LIKENESS_TEST_S3_URL")
    if given:
        yield {
            "AWS_ENDPOINT_URL": given,
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", ""),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
            "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        }
        return
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with running([server]):
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(endpoint, timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.2)
        yield {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "likeness-test",
            "AWS_SECRET_ACCESS_KEY": "likeness-test-secret",
            "AWS_REGION": "us-east-1",
        }


def new_bucket(env: dict[str, str]) -> str:
    """A fresh private bucket on the endpoint; returns its name."""
    name = f"likeness-{uuid.uuid4().hex[:12]}"
    client(env).create_bucket(Bucket=name)
    return name


def client(env: dict[str, str]) -> object:
    return boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_REGION"],
    )


def object_keys(env: dict[str, str], bucket: str) -> list[str]:
    """Every key in the bucket, as the S3 API lists them (prefix included)."""
    listed = client(env).list_objects_v2(Bucket=bucket)  # type: ignore[attr-defined]
    return sorted(item["Key"] for item in listed.get("Contents", []))
