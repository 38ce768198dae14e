"""REST routes for characters, their source images, extraction and faces."""

from __future__ import annotations

import logging
import mimetypes
from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Query, UploadFile, status
from fastapi.responses import Response

from likeness import extraction_requests
from likeness.api.dependencies import WorkDep
from likeness.api.params import FormName, RowId, RowIdFilter
from likeness.api.schemas import (
    CharacterCreated,
    CharacterOut,
    DetectedFaceOut,
    EmbeddingStatusOut,
    ExtractionStarted,
    HistoryOut,
    SelectFaceIn,
    SelectFaceOut,
    SimilarOut,
    SourceImageCheckOut,
)
from likeness.db import repository
from likeness.db.models import Character
from likeness.db.session import transaction
from likeness.db.unit_of_work import UnitOfWork
from likeness.extraction_requests import Requested
from likeness.identity.errors import ImageError
from likeness.identity.status import Status
from likeness.services import erasure, record
from likeness.storage import get_store

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/characters", tags=["characters"])

ImageUpload = Annotated[UploadFile, File(description="JPEG, PNG, GIF, BMP, TIFF or WebP")]


def started(requested: Requested) -> ExtractionStarted:
    return ExtractionStarted(
        character_id=requested.row.id, status="pending", flow_run_id=requested.flow_run_id
    )


def choose_face(session: UnitOfWork, *, row_id: int, face_id: int) -> SelectFaceOut:
    """A person's face choice in a character's (or a reference's) image."""
    new_status, _ = record.select_face(session, character_id=row_id, face_id=face_id)
    row = repository.get_character(session, character_id=row_id)
    return SelectFaceOut(
        character_id=row_id,
        face_id=face_id,
        status=new_status.value,
        confidence=row.face_detection_confidence or 0.0,
    )


def described(session: UnitOfWork, characters: list[Character]) -> list[CharacterOut]:
    """Characters with their drift and identity-changed flag (level per project) and their
    reference count."""
    ids = [c.id for c in characters]
    drift = repository.latest_drift(session, character_ids=ids)
    references = repository.reference_counts(session, character_ids=ids)
    levels = {
        project_id: repository.effective_config(session, project_id=project_id).drift_threshold
        for project_id in {c.project_id for c in characters}
    }
    return [
        CharacterOut.of(c, drift.get(c.id), levels[c.project_id], references.get(c.id, 0))
        for c in characters
    ]


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=CharacterCreated)
def create_character(
    name: FormName,
    image: ImageUpload,
    project: FormName = "default",
) -> CharacterCreated:
    """Create a character from an uploaded source image; extraction starts in the background."""
    requested = extraction_requests.new_character(image.file, name=name, project=project)
    return CharacterCreated(
        **CharacterOut.of(requested.row).model_dump(), flow_run_id=requested.flow_run_id
    )


@router.get("", response_model=list[CharacterOut])
def list_characters(
    work: WorkDep,
    project_id: RowIdFilter = None,
    status_filter: Annotated[Status | None, Query(alias="status")] = None,
) -> list[CharacterOut]:
    characters = repository.list_characters(work, project_id=project_id, status=status_filter)
    return described(work, characters)


@router.get("/{character_id}", response_model=CharacterOut)
def get_character(character_id: RowId, work: WorkDep) -> CharacterOut:
    character = repository.get_character(work, character_id=character_id)
    return described(work, [character])[0]


@router.get("/{character_id}/source-image", response_class=Response)
def get_source_image(character_id: RowId) -> Response:
    """The stored image, through the API's own authentication (nothing in the store is
    public); a local file is read only if the file opened really lies in the folder."""
    with transaction() as session:
        character = repository.get_character(session, character_id=character_id)
    try:
        with get_store().open(character.source_image_path or "") as stream:
            content = stream.read()
    except ImageError as error:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, "character has no stored source image"
        ) from error
    media_type = mimetypes.guess_type(character.source_image_path or "")[0]
    return Response(content, media_type=media_type or "application/octet-stream")


@router.put(
    "/{character_id}/source-image",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExtractionStarted,
)
def replace_source_image(character_id: RowId, image: ImageUpload) -> ExtractionStarted:
    """Store a new source image and re-extract (refused while an extraction runs)."""
    return started(extraction_requests.new_source_image(character_id, image.file))


@router.post(
    "/{character_id}/extract-embedding",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExtractionStarted,
)
def extract_embedding(character_id: RowId) -> ExtractionStarted:
    return started(extraction_requests.extract_again(character_id))


@router.get("/{character_id}/embedding-status", response_model=EmbeddingStatusOut)
def embedding_status(character_id: RowId, work: WorkDep) -> EmbeddingStatusOut:
    character = repository.get_character(work, character_id=character_id)
    faces = repository.faces_of_character(work, character_id=character_id)
    threshold = repository.effective_config(
        work, project_id=character.project_id
    ).confidence_threshold
    return EmbeddingStatusOut(
        character_id=character.id,
        status=character.status.value,
        confidence=character.face_detection_confidence,
        face_count=len(faces),
        extracted_at=character.embedding_extracted_at,
        model=character.embedding_model,
        error=character.embedding_error,
        threshold=threshold,
    )


@router.get("/{character_id}/detected-faces", response_model=list[DetectedFaceOut])
def detected_faces(character_id: RowId, work: WorkDep) -> list[DetectedFaceOut]:
    """Every face found in the image (never a vector), with its quality components and the
    problems they point to, by the character's project's thresholds."""
    faces = repository.faces_of_character(work, character_id=character_id)
    character = repository.get_character(work, character_id=character_id)
    config = repository.effective_config(work, project_id=character.project_id)
    return [DetectedFaceOut.of(face, config) for face in faces]


@router.get("/{character_id}/source-image-check", response_model=SourceImageCheckOut)
def source_image_check(character_id: RowId, work: WorkDep) -> SourceImageCheckOut:
    """The image-level check of the current image; 404 until its run has finished."""
    repository.get_character(work, character_id=character_id)
    found = repository.source_checks_of(work, character_ids=[character_id])
    if character_id not in found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the image has not been checked yet")
    row = found[character_id]
    return SourceImageCheckOut(
        character_id=character_id, result=row.result, checks=row.checks, checked_at=row.checked_at
    )


@router.post("/{character_id}/select-face", response_model=SelectFaceOut)
def select_face(character_id: RowId, body: SelectFaceIn, work: WorkDep) -> SelectFaceOut:
    """A person picks the primary face; the status follows that face's confidence."""
    return choose_face(work, row_id=character_id, face_id=body.face_id)


@router.get("/{character_id}/embedding-history", response_model=list[HistoryOut])
def embedding_history(character_id: RowId, work: WorkDep) -> list[HistoryOut]:
    """Archived embeddings, newest first, with the drift measured against each (no vectors)."""
    return [HistoryOut.of(row) for row in repository.history_of(work, character_id=character_id)]


@router.get("/{character_id}/similar", response_model=list[SimilarOut])
def similar(
    character_id: RowId,
    work: WorkDep,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    max_distance: Annotated[float | None, Query(ge=0.0, le=2.0)] = None,
) -> list[SimilarOut]:
    """Nearest characters by cosine distance (same model pack only), nearest first."""
    found = repository.similar_characters(
        work, character_id=character_id, k=k, max_distance=max_distance
    )
    return [
        SimilarOut(character_id=s.id, name=s.name, project_id=s.project_id, distance=s.distance)
        for s in found
    ]


@router.delete("/{character_id}/biometrics", status_code=status.HTTP_204_NO_CONTENT)
def erase_biometrics(character_id: RowId) -> None:
    """Erase the embedding, detected faces and embedding history (biometric data erasure);
    an ``embedding.erased`` event is sent. An extraction still queued is withdrawn (its run
    writes nothing); refused (409) while one runs."""
    erasure.erase_biometrics(character_id)
