"""What the repository refuses with: a missing row, a state that forbids the change."""

from __future__ import annotations


class NotFound(LookupError):
    """A character, project or face that does not exist (or belongs to another character)."""


class NoSourceImage(ValueError):
    """The character has no source image to extract from."""


class NoEmbedding(ValueError):
    """The character has no embedding to compare."""


class Conflict(RuntimeError):
    """The character's state does not allow the change (e.g. extraction already running)."""


class NotRequested(RuntimeError):
    """A run for a character with no extraction requested (e.g. erased meanwhile), or for
    an image other than the one requested: it writes nothing. Flow parameters come from
    Prefect's API, which anyone on its network can call, so they are checked here."""
