"""The S3-compatible bucket store (``s3://bucket/prefix``): photos shared by every machine
that has the URL and the usual ``AWS_*`` variables (AWS, MinIO, Ceph, R2, GCS's S3 API).

Through obstore (Rust's ``object_store``): one wheel with no Python dependencies, typed, a
connection pool per store, and the AWS environment variables read as the AWS tools read
them. Nothing is ever made public: objects get the bucket's default (private) access, and
the API serves photos with its own authentication.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import BinaryIO
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import BaseError
from obstore.store import S3Store

from likeness.identity.errors import ImageMissing, ImageOutsideStorage, ImageTooLarge
from likeness.storage.base import StorageUnavailable, new_key


class BucketStore:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"not an s3://bucket/prefix URL: {url}")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.url = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
        # A local S3 server (MinIO, moto) speaks plain HTTP; AWS itself is always HTTPS.
        self._store = S3Store.from_url(
            self.url, client_options={"allow_http": endpoint.startswith("http://")}
        )

    def describe(self) -> str:
        return self.url

    @contextmanager
    def new_photo(self, project: str, suffix: str) -> Iterator[tuple[str, BinaryIO]]:
        """Collected in memory (uploads are limited in size) and put in one request when
        the block ends: an object is whole or absent."""
        key = new_key(project, suffix)
        out = io.BytesIO()
        yield key, out
        with _unavailable_on_error(f"could not store {key} in {self.url}"):
            obstore.put(self._store, key, out.getvalue())

    def open(self, key: str, max_bytes: int | None = None) -> BinaryIO:
        key = self.key_of(key)
        try:
            result = obstore.get(self._store, key)
        except FileNotFoundError as error:
            raise ImageMissing(f"image not found: {key}") from error
        except BaseError as error:
            raise StorageUnavailable(f"could not read {key} from {self.url}: {error}") from error
        size = result.meta["size"]
        if max_bytes is not None and size > max_bytes:  # known before the body is read
            raise ImageTooLarge(f"image file is {size} bytes, over the limit of {max_bytes}: {key}")
        with _unavailable_on_error(f"could not read {key} from {self.url}"):
            return io.BytesIO(bytes(result.bytes()))

    def exists(self, key: str) -> bool:
        try:
            obstore.head(self._store, self.key_of(key))
        except FileNotFoundError:
            return False
        except BaseError as error:
            raise StorageUnavailable(f"could not reach {self.url}: {error}") from error
        return True

    def delete(self, keys: Iterable[str]) -> None:
        paths = [self.key_of(key) for key in keys]
        if paths:
            with _unavailable_on_error(f"could not delete {len(paths)} object(s) in {self.url}"):
                obstore.delete(self._store, paths)

    def listing(self) -> list[tuple[str, float]]:
        with _unavailable_on_error(f"could not list {self.url}"):
            return sorted(
                (meta["path"], meta["last_modified"].timestamp())
                for chunk in obstore.list(self._store)
                for meta in chunk
            )

    def key_of(self, given: str) -> str:
        """A key under the prefix, or the whole ``s3://bucket/prefix/key`` URL; a key
        with an empty, ``.`` or ``..`` segment, or a URL of another bucket or prefix, is
        :class:`ImageOutsideStorage`."""
        key = given
        if given.startswith("s3://"):
            inside = f"{self.url}/"
            if not given.startswith(inside):
                raise ImageOutsideStorage(f"image is outside the storage bucket: {given}")
            key = given[len(inside) :]
        if not key or any(part in ("", ".", "..") for part in key.split("/")) or "\\" in key:
            raise ImageOutsideStorage(f"image key is outside the storage bucket: {given}")
        return key

    def label(self, key: str) -> str:
        return key


@contextmanager
def _unavailable_on_error(what: str) -> Iterator[None]:
    try:
        yield
    except (BaseError, OSError) as error:
        raise StorageUnavailable(f"{what}: {error}") from error
