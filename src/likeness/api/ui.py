"""Server-rendered UI: character cards, the multi-face selector, upload and replace, and a
project's likely duplicates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Cookie, Depends, Form, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from PIL import Image

from likeness.api.auth import client_address, require_login, token_matches
from likeness.api.params import RowId, RowIdFilter
from likeness.api.schemas import QualityOut
from likeness.api.sessions import COOKIE, end_session, new_session, token_throttle
from likeness.config import get_settings
from likeness.db import repository
from likeness.db.models import Character
from likeness.db.session import snapshot, transaction
from likeness.identity.decisions import identity_changed
from likeness.identity.errors import ImageError
from likeness.identity.policy import DUPLICATE_DISTANCE
from likeness.services import references
from likeness.storage import get_store

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_login)])
login_router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _common() -> dict[str, object]:
    settings = get_settings()
    return {
        "prefect_ui_url": f"{settings.prefect_url}/runs",
        "signed_in": settings.api_token is not None,
    }


def _cards_context() -> dict[str, object]:
    with snapshot() as session:
        characters = repository.list_characters(session)
        ids = [c.id for c in characters]
        counts = repository.reference_counts(session, character_ids=ids)
        configs = {
            project_id: repository.effective_config(session, project_id=project_id)
            for project_id in {c.project_id for c in characters}
        }
        primaries = repository.primary_faces(session, character_ids=ids)
        owners = {c.id: c.project_id for c in characters}
        quality = {
            character_id: QualityOut.of(face, configs[owners[character_id]])
            for character_id, face in primaries.items()
        }
        image_checks = repository.source_checks_of(session, character_ids=ids)
    return {
        **_common(),
        "characters": characters,
        "extra_references": counts,
        "quality": quality,
        "image_checks": image_checks,
        "any_in_progress": any(c.embedding_status_id in repository.IN_PROGRESS for c in characters),
    }


def _image_size(character: Character) -> tuple[int, int] | None:
    """Display size of the stored image, read from its header (EXIF rotation applied)."""
    if not character.source_image_path:
        return None
    try:
        with (
            get_store().open(character.source_image_path) as f,
            Image.open(f) as image,
        ):
            width, height = image.size
            orientation = image.getexif().get(0x0112, 1)
    except (ImageError, OSError, ValueError):
        return None
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _panel_context(character_id: int) -> dict[str, object]:
    """A character's (or one reference's) image, faces, history and, for a character, the
    strip of its references, read at one moment (it stops refreshing when all are done)."""
    with snapshot() as session:
        character = repository.get_character(session, character_id=character_id)
        faces = repository.faces_of_character(session, character_id=character_id)
        config = repository.effective_config(session, project_id=character.project_id)
        history = repository.history_of(session, character_id=character_id)
        owner = (
            repository.get_character(session, character_id=character.reference_of)
            if character.reference_of is not None
            else None
        )
        extras = (
            repository.references_of(session, character_id=character_id) if owner is None else []
        )
        checked = repository.source_checks_of(session, character_ids=[character_id])
    image_check = checked.get(character_id)
    drift = history[0].drift_similarity if history else None
    in_progress = any(
        row.embedding_status_id in repository.IN_PROGRESS for row in [character, *extras]
    )
    select_url = (
        f"/api/characters/{character_id}/select-face"
        if owner is None
        else f"/api/characters/{owner.id}/references/{character_id}/select-face"
    )
    return {
        **_common(),
        "character": character,
        "owner": owner,
        "references": extras,
        "source_in_template": references.source_in_template(character, extras),
        "select_url": select_url,
        "faces": faces,
        "face_words": {face.id: QualityOut.of(face, config) for face in faces},
        "image_check": image_check,
        "threshold": config.confidence_threshold,
        "history": history,
        "drift": drift,
        "drift_level": config.drift_threshold,
        "identity_changed": identity_changed(drift, config.drift_threshold),
        "image_size": _image_size(character),
        "in_progress": in_progress,  # the panel refreshes itself until all are done
        "extracting": character.embedding_status_id in repository.IN_PROGRESS,
    }


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "index.html", _cards_context())


@router.get("/ui/cards", response_class=HTMLResponse)
def cards_fragment(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "_cards.html", _cards_context())


@router.get("/characters/{character_id}", response_class=HTMLResponse)
def character_page(request: Request, character_id: RowId) -> HTMLResponse:
    """The panel, and the character's likeness checks with their stale marks."""
    context = _panel_context(character_id)
    with transaction() as session:
        checks = repository.checks_of_character(session, character_id=character_id)
        stale = repository.stale_result_counts(session, check_ids=[check.id for check in checks])
    context |= {"checks": checks, "stale": stale}
    return templates.TemplateResponse(request, "character.html", context)


@router.get("/ui/characters/{character_id}/panel", response_class=HTMLResponse)
def panel_fragment(request: Request, character_id: RowId) -> HTMLResponse:
    return templates.TemplateResponse(request, "_panel.html", _panel_context(character_id))


@router.get("/duplicates", response_class=HTMLResponse)
def duplicates_page(
    request: Request,
    project_id: RowIdFilter = None,
    max_distance: Annotated[float, Query(ge=0.0, le=2.0)] = DUPLICATE_DISTANCE,
) -> HTMLResponse:
    """A project's likely duplicates side by side (the first project when none is chosen)."""
    with transaction() as session:
        projects = repository.list_projects(session)
        chosen = project_id if project_id is not None else (projects[0].id if projects else None)
        pairs = (
            repository.duplicate_pairs(session, project_id=chosen, max_distance=max_distance)
            if chosen is not None
            else []
        )
    context = {
        **_common(),
        "projects": projects,
        "chosen": chosen,
        "max_distance": max_distance,
        "pairs": pairs,
    }
    return templates.TemplateResponse(request, "duplicates.html", context)


@login_router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "login.html", {**_common(), "signed_in": False, "error": None}
    )


@login_router.post("/login", response_model=None)
def login(request: Request, token: Annotated[str, Form()]) -> Response:
    """A session cookie (HttpOnly, SameSite=Strict, expiring, kept server-side) for the
    right token; repeated wrong tokens from one address, here or as bearer headers, must
    wait longer and longer (429)."""
    client = client_address(request)
    wait = token_throttle.wait_s(client)
    if wait:
        return templates.TemplateResponse(
            request,
            "login.html",
            {**_common(), "signed_in": False, "error": f"too many wrong tokens: wait {wait} s"},
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": str(wait)},
        )
    if get_settings().api_token is None or not token_matches(token):
        token_throttle.failed(client)
        return templates.TemplateResponse(
            request,
            "login.html",
            {**_common(), "signed_in": False, "error": "wrong token"},
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    token_throttle.succeeded(client)
    response = RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        COOKIE,
        new_session(),
        max_age=int(get_settings().session_hours * 3600),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@login_router.post("/logout", response_model=None)
def logout(likeness_session: Annotated[str | None, Cookie()] = None) -> RedirectResponse:
    """End the browser's session: deleted server-side (the cookie no longer works, even
    kept), and the cookie removed."""
    end_session(likeness_session)
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE, httponly=True, samesite="strict")
    return response
