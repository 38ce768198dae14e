"""Why an extraction failed, as a kind the code branches on and a reason people read."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

# How a failed data check is reported on a character and in errors.
DATA_CHECK_FAILED = "data check failed: "

# A URL or a host:port in an error's text: an internal address a reason must not show.
_ADDRESS = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"]+|\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b", re.I)


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
        """The error's text for people, without an internal address (logs keep it whole)."""
        return cls(FailureKind.UNEXPECTED, f"extraction error: {_ADDRESS.sub('…', str(error))}")


class FacesRejected(RuntimeError):
    """Faces failed their data checks and were not written (the characters are ``failed``
    with the failed expectations)."""
