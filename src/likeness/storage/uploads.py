"""Store uploaded images in the photo store; the bytes decide the type, not the name."""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

from likeness.storage import Store
from likeness.storage.image_formats import sniff_suffix

CHUNK = 1024 * 1024


class UploadRejected(ValueError):
    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


def save_upload(
    stream: BinaryIO,
    *,
    store: Store,
    project: str,
    max_bytes: int,
    before_write: Callable[[str], None] = lambda key: None,
) -> str:
    """Store the upload as ``<project folder>/<random>.<type>`` and return its key; refuse
    non-images (415) and files over ``max_bytes`` (413) without leaving anything behind.
    ``before_write`` is given the key before any byte is stored."""
    head = stream.read(16)
    suffix = sniff_suffix(head)
    if not head:
        raise UploadRejected("the uploaded file is empty", 422)
    if suffix is None:
        raise UploadRejected(
            "the uploaded file is not a JPEG, PNG, GIF, BMP, TIFF or WebP image", 415
        )
    size = len(head)
    with store.new_photo(project, suffix) as (key, out):
        before_write(key)
        out.write(head)
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise UploadRejected(f"the upload is over the limit of {max_bytes} bytes", 413)
            out.write(chunk)
    return key
