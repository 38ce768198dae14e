"""Likeness checks: an image verified against a character, identified within a project,
or a batch of stored images (a shot's frames) checked as one flow run; and the match
thresholds of each model pack.

The models stay on the worker pool: the API stores the probe, queues the check's run on
the interactive queue and waits for its rows (``LIKENESS_CHECK_WAIT_S``), so a GPU machine
does the work and the API stays light. Past the wait it answers 202 with the check to poll.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile, status
from fastapi.responses import JSONResponse

from likeness.api.check_schemas import (
    MAX_CANDIDATES,
    BatchIn,
    CheckOut,
    CheckStarted,
    FaceOut,
    IdentifyOut,
    ThresholdsIn,
    ThresholdsOut,
    VerifyOut,
    best_face,
    check_out,
    faces_of,
)
from likeness.api.params import RowId
from likeness.config import get_settings
from likeness.db import repository
from likeness.db.models import LikenessCheck
from likeness.db.session import transaction
from likeness.db.unit_of_work import UnitOfWork
from likeness.identity.errors import ImageMissing, ImageOutsideStorage
from likeness.identity.status import Status
from likeness.identity.verdicts import MatchThresholds
from likeness.orchestration.requests import RunNotStarted, start_likeness_check
from likeness.services import verification
from likeness.services.verification import unusable_reason
from likeness.storage import discard_unowned, existing_key, get_store
from likeness.storage.uploads import save_upload

log = logging.getLogger(__name__)

router = APIRouter(tags=["likeness checks"])

POLL_S = 0.02
ProbeUpload = Annotated[UploadFile | None, File(description="The image to check.")]
StoredKey = Annotated[
    str | None, Form(max_length=1000, description="Or the key of an image in the storage.")
]
Keep = Annotated[bool, Form(description="Keep the uploaded image in the storage.")]


def _key_in_store(given: str) -> str:
    try:
        return existing_key(given)
    except ImageOutsideStorage as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from error
    except ImageMissing as error:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no image {given!r} in the storage"
        ) from error


def _probe(image: UploadFile | None, key: str | None, project: str) -> tuple[str, bool]:
    """The probe's key, and whether it was uploaded for this check (exactly one given)."""
    if (image is None) == (key is None):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "send either an image or the key of one"
        )
    if key is not None:
        return _key_in_store(key), False
    assert image is not None
    settings = get_settings()
    return save_upload(
        image.file, store=get_store(settings), project=project, max_bytes=settings.max_image_bytes
    ), True


def _queue(check: LikenessCheck, *, waited_for: bool, uploaded: list[str]) -> None:
    """Start the check's run; when Prefect refuses, the check fails and its upload goes."""
    try:
        run_id = start_likeness_check(check.id, waited_for=waited_for)
    except RunNotStarted as error:
        with transaction() as session:
            repository.finish_check(
                session, check_id=check.id, status="failed", summary=None, error=str(error)
            )
        discard_unowned(uploaded)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "the work pool cannot be reached: try again"
        ) from error
    with transaction() as session:
        repository.set_check_run(session, check_id=check.id, flow_run_id=run_id)


def _wait(check_id: int) -> LikenessCheck | None:
    """The finished check, or None once the wait is over."""
    deadline = time.monotonic() + get_settings().check_wait_s
    while time.monotonic() < deadline:
        with transaction() as session:
            check = repository.get_check(session, check_id=check_id)
            if check.status in ("completed", "failed"):
                session.expunge(check)
                return check
        time.sleep(POLL_S)
    return None


def _still_running(check_id: int) -> JSONResponse:
    return JSONResponse(
        {
            "check_id": check_id,
            "status": "running",
            "url": f"/api/likeness-checks/{check_id}",
            "detail": "the work pool has not answered yet: poll the check",
        },
        status_code=status.HTTP_202_ACCEPTED,
    )


def _thresholds(session: UnitOfWork, project_id: int | None, model: str) -> ThresholdsOut:
    """The thresholds in force for the project (None: the studio's) and a model pack."""
    in_force = verification.thresholds_in_force(session, project_id=project_id, model_pack=model)
    return ThresholdsOut.of(model, in_force.thresholds, measured=in_force.measured)


def _failed(check: LikenessCheck) -> HTTPException:
    with transaction() as session:
        images = repository.check_images(session, check_id=check.id)
    error = images[0].error if images and images[0].error else check.error
    code = status.HTTP_422_UNPROCESSABLE_CONTENT if images and images[0].error else 409
    return HTTPException(code, error or "the check failed")


def _create(
    *,
    kind: str,
    project_id: int,
    character_id: int | None,
    model: str,
    keys: list[str],
    discard: bool,
    candidates: int,
) -> LikenessCheck:
    with transaction() as session:
        check = repository.create_check(
            session,
            kind=kind,
            project_id=project_id,
            character_id=character_id,
            model_pack=model,
            image_keys=keys,
            discard_after=discard,
            candidates=candidates,
        )
        session.expunge(check)
    return check


def _check_one(
    *,
    kind: str,
    project_id: int,
    character_id: int | None,
    model: str,
    probe: str,
    uploaded: bool,
    keep: bool,
    candidates: int,
) -> tuple[LikenessCheck, list[FaceOut], ThresholdsOut] | JSONResponse:
    """One image checked on the pool while the caller waits: the finished check, its faces
    and the thresholds they were read by; 202 once the wait is over."""
    check = _create(
        kind=kind,
        project_id=project_id,
        character_id=character_id,
        model=model,
        keys=[probe],
        discard=uploaded and not keep,
        candidates=candidates,
    )
    _queue(check, waited_for=True, uploaded=[probe] if uploaded else [])
    finished = _wait(check.id)
    if finished is None:
        return _still_running(check.id)
    if finished.status == "failed":
        raise _failed(finished)
    with transaction() as session:
        faces = faces_of(repository.check_results(session, check_id=check.id), kind)
        thresholds = _thresholds(session, project_id, finished.model_pack)
    return finished, faces, thresholds


@router.post("/api/characters/{character_id}/verify", response_model=VerifyOut)
def verify(
    character_id: RowId,
    image: ProbeUpload = None,
    key: StoredKey = None,
    keep: Keep = False,
) -> VerifyOut | JSONResponse:
    """Every face of the image against the character's identity template: similarity,
    verdict and the nearest of its references. 409 when the character has no usable
    embedding; the uploaded image is deleted afterwards unless ``keep``."""
    settings = get_settings()
    with transaction() as session:
        target = repository.verify_target(session, character_id=character_id)
        project = repository.project_name(session, project_id=target.project_id)
    reason = unusable_reason(target)
    if reason is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, reason)
    probe, uploaded = _probe(image, key, project)
    answered = _check_one(
        kind="verify",
        project_id=target.project_id,
        character_id=character_id,
        model=target.model_pack or settings.model_pack,
        probe=probe,
        uploaded=uploaded,
        keep=keep,
        candidates=1,
    )
    if isinstance(answered, JSONResponse):
        return answered
    check, faces, thresholds = answered
    warning = None
    if target.status is Status.LOW_CONFIDENCE:
        warning = (
            f"the character's own face was detected with low confidence "
            f"({target.confidence or 0:.2f}): a verdict may be less reliable"
        )
    return VerifyOut(
        check_id=check.id,
        character_id=character_id,
        model=check.model_pack,
        thresholds=thresholds,
        reference_warning=warning,
        image_key=probe if keep or not uploaded else None,
        faces=faces,
        best=best_face(faces),
        message=f"{len(faces)} face(s) compared" if faces else "no face found in the image",
    )


@router.post("/api/projects/{project_id}/identify", response_model=IdentifyOut)
def identify(
    project_id: RowId,
    image: ProbeUpload = None,
    key: StoredKey = None,
    keep: Keep = False,
    k: Annotated[int, Query(ge=1, le=MAX_CANDIDATES)] = 3,
) -> IdentifyOut | JSONResponse:
    """Every face of the image against the project's characters: the k nearest by the
    HNSW index, each with similarity and verdict. A face that matches nobody says so."""
    settings = get_settings()
    with transaction() as session:
        project = repository.project_name(session, project_id=project_id)
    probe, uploaded = _probe(image, key, project)
    answered = _check_one(
        kind="identify",
        project_id=project_id,
        character_id=None,
        model=settings.model_pack,
        probe=probe,
        uploaded=uploaded,
        keep=keep,
        candidates=k,
    )
    if isinstance(answered, JSONResponse):
        return answered
    check, faces, thresholds = answered
    matched = sum(1 for face in faces if face.verdict == "match")
    return IdentifyOut(
        check_id=check.id,
        project_id=project_id,
        model=check.model_pack,
        thresholds=thresholds,
        image_key=probe if keep or not uploaded else None,
        faces=faces,
        message=(
            f"{len(faces)} face(s): {matched} matched a character, "
            f"{len(faces) - matched} matched nobody"
            if faces
            else "no face found in the image"
        ),
    )


def _batch(
    *, kind: str, project_id: int, character_id: int | None, model: str, body: BatchIn
) -> CheckStarted:
    store = get_store()
    try:
        keys = [store.key_of(key) for key in body.image_keys]
    except ImageOutsideStorage as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from error
    check = _create(
        kind=kind,
        project_id=project_id,
        character_id=character_id,
        model=model,
        keys=keys,
        discard=False,
        candidates=body.candidates if kind == "identify" else 1,
    )
    _queue(check, waited_for=False, uploaded=[])
    with transaction() as session:
        check = repository.get_check(session, check_id=check.id)
        return CheckStarted(
            check_id=check.id,
            status=check.status,
            flow_run_id=check.flow_run_id,
            url=f"/api/likeness-checks/{check.id}",
        )


@router.post(
    "/api/characters/{character_id}/likeness-checks",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CheckStarted,
)
def start_verify_batch(character_id: RowId, body: BatchIn) -> CheckStarted:
    """Up to 10,000 stored images (their keys) verified against the character as one flow
    run on the pool; a frame that cannot be read fails alone. Progress: the check's URL."""
    with transaction() as session:
        target = repository.verify_target(session, character_id=character_id)
    reason = unusable_reason(target)
    if reason is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, reason)
    return _batch(
        kind="verify",
        project_id=target.project_id,
        character_id=character_id,
        model=target.model_pack or get_settings().model_pack,
        body=body,
    )


@router.post(
    "/api/projects/{project_id}/likeness-checks",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CheckStarted,
)
def start_identify_batch(project_id: RowId, body: BatchIn) -> CheckStarted:
    """Up to 10,000 stored images identified among the project's characters as one run."""
    with transaction() as session:
        repository.project_name(session, project_id=project_id)
    return _batch(
        kind="identify",
        project_id=project_id,
        character_id=None,
        model=get_settings().model_pack,
        body=body,
    )


@router.get("/api/likeness-checks/{check_id}", response_model=CheckOut)
def get_check(
    check_id: RowId,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=0, le=1000)] = 100,
) -> CheckOut:
    """Status, progress, summary and the results of images ``offset`` to ``offset+limit``."""
    with transaction() as session:
        check = repository.get_check(session, check_id=check_id)
        images = repository.check_images(session, check_id=check_id)[offset : offset + limit]
        rows = repository.check_results(
            session, check_id=check_id, positions=[image.position for image in images]
        )
        counts = repository.check_counts(session, check_id=check_id)
        stale = repository.stale_result_counts(session, check_ids=[check_id]).get(check_id, 0)
        return check_out(check, images, rows, counts, stale)


@router.get("/api/characters/{character_id}/likeness-checks", response_model=list[CheckOut])
def list_checks(character_id: RowId) -> list[CheckOut]:
    """The character's latest checks (newest first) with their summaries, without images."""
    with transaction() as session:
        repository.get_character(session, character_id=character_id)
        checks = repository.checks_of_character(session, character_id=character_id)
        stale = repository.stale_result_counts(session, check_ids=[c.id for c in checks])
        return [
            check_out(
                check,
                [],
                [],
                repository.check_counts(session, check_id=check.id),
                stale.get(check.id, 0),
            )
            for check in checks
        ]


# -- thresholds ---------------------------------------------------------------------------


def _thresholds_in(body: ThresholdsIn) -> MatchThresholds:
    try:
        return MatchThresholds(match=body.match, no_match=body.no_match)
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from error


@router.get("/api/settings/match-thresholds/{model}", response_model=ThresholdsOut)
def get_studio_thresholds(model: str) -> ThresholdsOut:
    """The studio's thresholds for a model pack (measured default unless set)."""
    with transaction() as session:
        return _thresholds(session, None, model)


@router.put("/api/settings/match-thresholds/{model}", response_model=ThresholdsOut)
def put_studio_thresholds(model: str, body: ThresholdsIn) -> ThresholdsOut:
    """Set the studio's thresholds for a model pack."""
    thresholds = _thresholds_in(body)
    with transaction() as session:
        verification.set_thresholds(
            session, project_id=None, model_pack=model, thresholds=thresholds
        )
    return get_studio_thresholds(model)


@router.delete("/api/settings/match-thresholds/{model}", response_model=ThresholdsOut)
def delete_studio_thresholds(model: str) -> ThresholdsOut:
    """Back to the measured default (none for a pack nobody measured)."""
    with transaction() as session:
        verification.set_thresholds(session, project_id=None, model_pack=model, thresholds=None)
    return get_studio_thresholds(model)


@router.get("/api/projects/{project_id}/match-thresholds/{model}", response_model=ThresholdsOut)
def get_project_thresholds(project_id: RowId, model: str) -> ThresholdsOut:
    """The thresholds in force in the project for a model pack."""
    with transaction() as session:
        repository.project_name(session, project_id=project_id)
        return _thresholds(session, project_id, model)


@router.put("/api/projects/{project_id}/match-thresholds/{model}", response_model=ThresholdsOut)
def put_project_thresholds(project_id: RowId, model: str, body: ThresholdsIn) -> ThresholdsOut:
    """Override the thresholds in the project."""
    return _set_project_thresholds(project_id, model, _thresholds_in(body))


@router.delete("/api/projects/{project_id}/match-thresholds/{model}", response_model=ThresholdsOut)
def delete_project_thresholds(project_id: RowId, model: str) -> ThresholdsOut:
    """Back to the studio's thresholds."""
    return _set_project_thresholds(project_id, model, None)


def _set_project_thresholds(
    project_id: int, model: str, thresholds: MatchThresholds | None
) -> ThresholdsOut:
    with transaction() as session:
        repository.project_name(session, project_id=project_id)
        verification.set_thresholds(
            session, project_id=project_id, model_pack=model, thresholds=thresholds
        )
        return _thresholds(session, project_id, model)
