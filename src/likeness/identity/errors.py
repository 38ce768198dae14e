"""Typed errors for images the pipeline cannot use; never retried."""

from __future__ import annotations


class ImageError(Exception):
    """An image that cannot be used. ``code`` is stable and machine-readable."""

    code = "image_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ImageMissing(ImageError):
    code = "image_missing"


class ImageEmpty(ImageError):
    code = "image_empty"


class NotAnImage(ImageError):
    code = "not_an_image"


class ImageCorrupt(ImageError):
    code = "image_corrupt"


class ImageTooLarge(ImageError):
    code = "image_too_large"


class ImageOutsideStorage(ImageError):
    """The path, or a symlink on the way, leads outside the storage root."""

    code = "image_outside_storage"
