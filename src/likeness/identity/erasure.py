"""Biometric data erasure, for the API and the CLI alike: rows and photos, announced."""

from __future__ import annotations

from likeness.db.session import transaction
from likeness.identity import record
from likeness.storage import discard


def erase_biometrics(character_id: int) -> None:
    """Erase the character's embedding, faces and history in one transaction, then the
    photos only they used (after the commit: a refused erasure keeps them).

    Raises ``NotFound``, or ``Conflict`` while an extraction runs.
    """
    with transaction() as session:
        unowned = record.erase_biometrics(session, character_id=character_id)
    discard(unowned)
