"""REST routes for a character's reference images: its source image (the primary
reference) and the extra ones whose agreement makes its identity template."""

from __future__ import annotations

from fastapi import APIRouter, status

from likeness import extraction_requests
from likeness.api.characters import ImageUpload, choose_face, started
from likeness.api.dependencies import WorkDep
from likeness.api.params import RowId
from likeness.api.schemas import (
    ExtractionStarted,
    ReferenceCreated,
    ReferenceOut,
    SelectFaceIn,
    SelectFaceOut,
)
from likeness.db import repository
from likeness.db.session import transaction
from likeness.services import references
from likeness.services.erasure import delete_queued_photos

router = APIRouter(prefix="/api/characters/{character_id}/references", tags=["references"])

PRIMARY_IS_THE_SOURCE_IMAGE = (
    "this is the character's source image, its primary reference: replace it with "
    "PUT /api/characters/{id}/source-image"
)


def reference_list(character_id: int) -> list[ReferenceOut]:
    """The source image first, then the extra references, oldest first."""
    with transaction() as session:
        owner = repository.get_character(session, character_id=character_id)
        if owner.reference_of is not None:
            raise repository.NotFound(
                f"{character_id} is a reference of character {owner.reference_of}"
            )
        extras = repository.references_of(session, character_id=character_id)
        config = repository.effective_config(session, project_id=owner.project_id)
        return [
            ReferenceOut.of(
                owner,
                repository.faces_of_character(session, character_id=owner.id),
                character_id=character_id,
                in_template=references.source_in_template(owner, extras),
                config=config,
            ),
            *(
                ReferenceOut.of(
                    row,
                    repository.faces_of_character(session, character_id=row.id),
                    character_id=character_id,
                    in_template=row.in_template,
                    config=config,
                )
                for row in extras
            ),
        ]


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=ReferenceCreated)
def add_reference(character_id: RowId, image: ImageUpload) -> ReferenceCreated:
    """Add a reference image (another angle, expression or light); its extraction starts
    in the background and its result joins the character's template."""
    requested = extraction_requests.new_reference(character_id, image.file)
    return ReferenceCreated(
        reference_id=requested.row.id,
        character_id=character_id,
        status="pending",
        flow_run_id=requested.flow_run_id,
    )


@router.get("", response_model=list[ReferenceOut])
def list_references(character_id: RowId) -> list[ReferenceOut]:
    """Every reference with its status, faces and place in the template (no vectors)."""
    return reference_list(character_id)


@router.put(
    "/{reference_id}/image", status_code=status.HTTP_202_ACCEPTED, response_model=ExtractionStarted
)
def replace_reference_image(
    character_id: RowId, reference_id: RowId, image: ImageUpload
) -> ExtractionStarted:
    """A new image for an extra reference: its embedding is archived, then re-extracted."""
    return started(extraction_requests.new_reference_image(character_id, reference_id, image.file))


@router.delete("/{reference_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_reference(character_id: RowId, reference_id: RowId) -> None:
    """Remove an extra reference, its faces, history and photos; the template is
    recomputed without it."""
    if reference_id == character_id:
        raise repository.Conflict(PRIMARY_IS_THE_SOURCE_IMAGE)
    with transaction() as session:
        photos = references.remove_reference(
            session, character_id=character_id, reference_id=reference_id
        )
        repository.queue_photo_deletions(session, photos=photos)
    delete_queued_photos()


@router.post("/{reference_id}/select-face", response_model=SelectFaceOut)
def select_reference_face(
    character_id: RowId, reference_id: RowId, body: SelectFaceIn, work: WorkDep
) -> SelectFaceOut:
    """A person picks the face that is the character in a reference with several faces."""
    if reference_id != character_id:
        repository.get_reference(work, character_id=character_id, reference_id=reference_id)
    return choose_face(work, row_id=reference_id, face_id=body.face_id)


@router.post("/{reference_id}/keep", response_model=list[ReferenceOut])
def keep_reference(character_id: RowId, reference_id: RowId) -> list[ReferenceOut]:
    """A person confirms a flagged reference shows the character: it joins the template.
    Answers the references as they are now."""
    if reference_id == character_id:
        raise repository.Conflict(PRIMARY_IS_THE_SOURCE_IMAGE)
    with transaction() as session:
        references.keep_reference(session, character_id=character_id, reference_id=reference_id)
    return reference_list(character_id)
