"""Whether a character can be verified against (it needs an embedding a person or the
pipeline settled on), and the thresholds its verdicts are read by."""

from __future__ import annotations

from dataclasses import dataclass

from likeness.db import repository
from likeness.db.repository import VerifyTarget
from likeness.db.unit_of_work import UnitOfWork
from likeness.identity.status import Status
from likeness.identity.verdicts import MEASURED_THRESHOLDS, MatchThresholds


def unusable_reason(target: VerifyTarget) -> str | None:
    """Why a new image cannot be compared with the character, or None when it can. A
    ``low_confidence`` character can: the answer warns instead."""
    subject = f"character {target.character_id}"
    if target.status is Status.MULTI_FACE_PENDING:
        return f"{subject} has several faces in its source image: pick one first"
    if target.status in (Status.PENDING, Status.EXTRACTING):
        return f"{subject} is waiting for its extraction: verify once it has finished"
    if target.status is Status.FAILED:
        return f"{subject} has no usable embedding: its extraction failed or was erased"
    if target.template is None:
        return f"{subject} has no embedding"
    return None


@dataclass(frozen=True)
class ThresholdsInForce:
    thresholds: MatchThresholds | None  # None: nobody measured the model pack
    measured: bool  # the measured default, not a studio's or project's setting


def thresholds_in_force(
    session: UnitOfWork, *, project_id: int | None, model_pack: str
) -> ThresholdsInForce:
    """The project's override, else the studio's setting, else the measured default;
    none for a model pack nobody measured (no verdicts, similarity only)."""
    for scope in ([project_id] if project_id is not None else []) + [None]:
        found = repository.stored_thresholds(session, project_id=scope, model_pack=model_pack)
        if found is not None:
            return ThresholdsInForce(MatchThresholds(match=found[0], no_match=found[1]), False)
    measured = MEASURED_THRESHOLDS.get(model_pack)
    return ThresholdsInForce(measured, measured is not None)


def set_thresholds(
    session: UnitOfWork,
    *,
    project_id: int | None,
    model_pack: str,
    thresholds: MatchThresholds | None,
) -> None:
    repository.set_thresholds(
        session,
        project_id=project_id,
        model_pack=model_pack,
        thresholds=None if thresholds is None else (thresholds.match, thresholds.no_match),
    )
