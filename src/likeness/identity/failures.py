"""Why an extraction failed, as a kind the code branches on and a reason people read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

# How a failed data check is reported on a character and in errors.
DATA_CHECK_FAILED = "data check failed: "


class FailureKind(StrEnum):
    NO_SOURCE_IMAGE = "no_source_image"
    IMAGE = "image"  # missing, empty, not an image, corrupt or too large: the character fails
    DATA_CHECK = "data_check"  # faces that failed the face-batch suite: the run fails too
    MODEL = "model"  # the worker's models could not be loaded: the run fails too
    UNEXPECTED = "unexpected"  # anything else: the run fails too


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    reason: str  # as the character's embedding_error shows it

    @classmethod
    def data_check(cls, failed_expectations: Sequence[str]) -> Failure:
        return cls(FailureKind.DATA_CHECK, DATA_CHECK_FAILED + ", ".join(failed_expectations))

    @classmethod
    def model(cls, error: BaseException) -> Failure:
        return cls(FailureKind.MODEL, f"face model could not be loaded: {error}")

    @classmethod
    def unexpected(cls, error: BaseException) -> Failure:
        return cls(FailureKind.UNEXPECTED, f"extraction error: {error}")


class FacesRejected(RuntimeError):
    """Faces failed their data checks and were not written (the characters are ``failed``
    with the failed expectations)."""
