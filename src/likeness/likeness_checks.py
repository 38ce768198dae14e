"""Likeness checks: new images compared with what ``likeness`` knows of a character.

A check's images are decoded and detected side by side, as a backfill chunk's are; each
face is compared with the character's identity template and its references (verify), or
with the project's nearest characters through the HNSW index (identify); results are
written every :data:`CHUNK` images, so a check resumed after a crash scores only what is
left. When the last image is scored the check gets its summary, the likeness-results suite
runs over its results, an event announces it, and probes uploaded only for it leave the
store. Every result names the embedding version it was measured against; a change of the
embedding flags it stale (``services.references.announce_stale_results``).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from likeness.config import get_settings
from likeness.db import repository
from likeness.db.models import LikenessCheck, LikenessCheckImage, LikenessCheckResult
from likeness.db.repository import Candidate, ImageResult, VerifyTarget
from likeness.db.session import transaction
from likeness.db.unit_of_work import UnitOfWork
from likeness.expectations.likeness_results import check_likeness_results
from likeness.expectations.results import CheckResult
from likeness.face.engine import get_face_engine
from likeness.face.image_loading import load_configured
from likeness.identity.errors import ImageError
from likeness.identity.events import LIKENESS_CHECK_FINISHED, PublishedEvent
from likeness.identity.faces import Face
from likeness.identity.verdicts import MatchThresholds, verdict
from likeness.pipeline import Extracted, extract_streamed
from likeness.services.outbox import publish
from likeness.services.verification import thresholds_in_force, unusable_reason

CHUNK = 32  # images scored per transaction
WORST_FRAMES = 5  # the lowest-scoring images a summary names


# -- comparing one face ---------------------------------------------------------------------


def compare_with_character(
    face: Face, target: VerifyTarget, thresholds: MatchThresholds | None
) -> dict[str, Any]:
    """One result row: the face against the template, and its nearest reference."""
    assert target.template is not None
    similarity = float(np.dot(face.embedding, target.template))
    nearest = max(
        ((r.row_id, float(np.dot(face.embedding, r.embedding))) for r in target.references),
        key=lambda pair: pair[1],
        default=(None, None),
    )
    found = verdict(similarity, thresholds)
    return {
        "character_id": target.character_id,
        "embedding_version": target.embedding_version,
        "similarity": similarity,
        "verdict": None if found is None else found.value,
        "nearest_reference_id": nearest[0],
        "nearest_reference_similarity": nearest[1],
    }


def candidate_rows(
    candidates: Sequence[Candidate], thresholds: MatchThresholds | None
) -> list[dict[str, Any]]:
    """Result rows of an identified face, nearest first (one empty row without any)."""
    if not candidates:
        return [{"rank": 0}]
    rows = []
    for rank, candidate in enumerate(candidates):
        found = verdict(candidate.similarity, thresholds)
        rows.append(
            {
                "rank": rank,
                "character_id": candidate.character_id,
                "embedding_version": candidate.embedding_version,
                "similarity": candidate.similarity,
                "verdict": None if found is None else found.value,
            }
        )
    return rows


@dataclass(frozen=True)
class Comparison:
    """What an image's faces are compared with: a character (``target``) or the project's
    ``candidates`` nearest characters of one model pack."""

    project_id: int
    model_pack: str
    candidates: int
    thresholds: MatchThresholds | None
    target: VerifyTarget | None


def face_rows(
    session: UnitOfWork, comparison: Comparison, faces: Sequence[Face]
) -> list[dict[str, Any]]:
    """The result rows of an image's faces (identify reads the HNSW index)."""
    rows = []
    for index, face in enumerate(faces):
        common = {
            "face_index": index,
            "bounding_box": face.bounding_box.as_dict(),
            "confidence": face.confidence,
        }
        if comparison.target is not None:
            rows.append(
                common | compare_with_character(face, comparison.target, comparison.thresholds)
            )
            continue
        candidates = repository.nearest_characters(
            session,
            project_id=comparison.project_id,
            model_pack=comparison.model_pack,
            embedding=face.embedding,
            k=comparison.candidates,
        )
        rows += [common | row for row in candidate_rows(candidates, comparison.thresholds)]
    return rows


@dataclass(frozen=True)
class Plan:
    """A running check: its id, size and what it compares with, read once at its start."""

    check_id: int
    image_count: int
    comparison: Comparison


# -- running a check ------------------------------------------------------------------------


def plan_check(check_id: int) -> Plan | None:
    """Mark the check running and read what it compares with; None when it has finished.
    A verify target that became unusable, or a model pack the workers do not run, fails
    the check with the reason."""
    model = get_face_engine().model_id
    with transaction() as session:
        check = repository.start_check(session, check_id=check_id)
        if check.status not in ("queued", "running"):
            return None
        thresholds = thresholds_in_force(
            session, project_id=check.project_id, model_pack=check.model_pack
        ).thresholds
        target = None
        problem = None
        if check.character_id is not None:
            target = repository.verify_target(session, character_id=check.character_id)
            problem = unusable_reason(target)
            if problem is None and target.model_pack != model:
                problem = (
                    f"the character's embedding is of {target.model_pack}; workers run {model}"
                )
        if check.model_pack != model:
            problem = f"the check asks for {check.model_pack}; workers run {model}"
        if problem is not None:
            repository.finish_check(
                session, check_id=check_id, status="failed", summary=None, error=problem
            )
            return None
        comparison = Comparison(
            check.project_id, check.model_pack, check.candidates, thresholds, target
        )
        return Plan(check.id, check.image_count, comparison)


def score_images(
    plan: Plan, progress: Callable[[int, int], None] = lambda done, total: None
) -> None:
    """Every image not yet scored, decoded and detected side by side; each chunk is
    written in a thread of its own while the next one is extracted, so the models never
    wait for the database (one chunk written at a time, in order)."""
    with transaction() as session:
        todo = [
            (image.position, image.image_key)
            for image in repository.images_to_score(session, check_id=plan.check_id)
        ]
    done = plan.image_count - len(todo)
    chunk: list[tuple[int, Extracted | ImageError]] = []
    found_all = extract_streamed(key for _, key in todo)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="check-writer") as writer:
        writing: Future[None] | None = None
        for (position, _), found in zip(todo, found_all, strict=True):
            chunk.append((position, found))
            if len(chunk) == CHUNK or position == todo[-1][0]:
                if writing is not None:
                    writing.result()
                    progress(done, plan.image_count)
                writing = writer.submit(_write, plan, chunk)
                done += len(chunk)
                chunk = []
        if writing is not None:
            writing.result()
            progress(done, plan.image_count)


def _write(plan: Plan, found: list[tuple[int, Extracted | ImageError]]) -> None:
    with transaction() as session:
        results = [
            ImageResult(position, error=extracted.message)
            if isinstance(extracted, ImageError)
            else ImageResult(
                position,
                size=extracted.source_size,
                rows=face_rows(session, plan.comparison, extracted.faces),
                face_count=len(extracted.faces),
            )
            for position, extracted in found
        ]
        repository.record_image_results(session, check_id=plan.check_id, results=results)


@dataclass(frozen=True)
class Finished:
    check: LikenessCheck
    data_check: CheckResult
    events: list[PublishedEvent]
    discarded: list[str]


def finish(check_id: int) -> Finished:
    """Summary, data check, event and the probes to discard, in one transaction."""
    with transaction() as session:
        check = repository.get_check(session, check_id=check_id, lock=True)
        images = repository.check_images(session, check_id=check_id)
        results = repository.check_results(session, check_id=check_id)
        faces = sum(image.face_count or 0 for image in images)
        data_check = check_likeness_results(results, faces=faces, candidates=check.candidates)
        summary = summarise(images, results) | {"data_check": data_check.success}
        status = "completed" if data_check.success else "failed"
        error = None if data_check.success else f"data check failed: {data_check.failures}"
        repository.finish_check(
            session, check_id=check_id, status=status, summary=summary, error=error
        )
        payload = {"check_id": check_id, "kind": check.kind, "status": status} | summary
        event = publish(
            session,
            event_type=LIKENESS_CHECK_FINISHED,
            character_id=check.character_id,
            payload=payload,
        )
        discarded = [image.image_key for image in images if image.discard_after]
        repository.queue_photo_deletions(session, photos=discarded)
        session.expunge(check)
    return Finished(check, data_check, [event], discarded)


def summarise(
    images: Sequence[LikenessCheckImage], results: Sequence[LikenessCheckResult]
) -> dict[str, Any]:
    """Images, faces, the share of scored images with a match, the lowest and median best
    similarity of an image, and the worst frames. No vector."""
    best: dict[int, LikenessCheckResult] = {}
    for result in results:
        if result.rank == 0 and result.similarity is not None:
            current = best.get(result.position)
            if current is None or result.similarity > (current.similarity or -1.0):
                best[result.position] = result
    scored = [image for image in images if image.status == "scored"]
    similarities = [row.similarity for row in best.values() if row.similarity is not None]
    keys = {image.position: image.image_key for image in images}
    worst = sorted(best.values(), key=lambda row: row.similarity or 0.0)[:WORST_FRAMES]
    matched = sum(1 for row in best.values() if row.verdict == "match")
    return {
        "images": len(images),
        "scored": len(scored),
        "failed": sum(1 for image in images if image.status == "failed"),
        "faces": sum(image.face_count or 0 for image in scored),
        "images_without_face": sum(1 for image in scored if not image.face_count),
        "matched_images": matched,
        "match_rate": round(matched / len(scored), 4) if scored else None,
        "lowest_similarity": round(min(similarities), 4) if similarities else None,
        "median_similarity": round(statistics.median(similarities), 4) if similarities else None,
        "worst_frames": [
            {
                "position": row.position,
                "image_key": keys[row.position],
                "similarity": round(row.similarity or 0.0, 4),
                "verdict": row.verdict,
            }
            for row in worst
        ],
    }


def fail(check_id: int, error: str) -> None:
    """A check that could not run to its end (not one image's fault)."""
    with transaction() as session:
        repository.finish_check(
            session, check_id=check_id, status="failed", summary=None, error=error
        )


# -- files on this machine (the command line) --------------------------------------------


class NotComparable(ValueError):
    """Nothing the images could be compared with: a character without a usable embedding,
    or one of another model pack than this machine runs."""


@dataclass(frozen=True)
class FileCheck:
    image: str
    error: ImageError | None = None
    rows: Sequence[dict[str, Any]] = ()


def check_files(
    paths: Sequence[Path],
    *,
    character_id: int | None = None,
    project: str | None = None,
    k: int = 3,
) -> list[FileCheck]:
    """Image files compared here, with the models loaded in this process and nothing
    stored: with the character (verify) or the project's ``k`` nearest characters."""
    settings, engine = get_settings(), get_face_engine()
    with transaction() as session:
        target = None
        if character_id is not None:
            target = repository.verify_target(session, character_id=character_id)
            problem = unusable_reason(target)
            if problem is None and target.model_pack != engine.model_id:
                problem = f"character {character_id} has a {target.model_pack} embedding; "
                problem += f"this machine runs {engine.model_id}"
            if problem is not None:
                raise NotComparable(problem)
            project_id = target.project_id
        else:
            project_id = repository.project_id_of(session, name=project or "")
        thresholds = thresholds_in_force(
            session, project_id=project_id, model_pack=engine.model_id
        ).thresholds
        comparison = Comparison(project_id, engine.model_id, k, thresholds, target)
        checked = []
        for path in paths:
            try:
                faces = engine.detect_image(load_configured(path, settings))
            except ImageError as error:
                checked.append(FileCheck(str(path), error=error))
                continue
            checked.append(FileCheck(str(path), rows=face_rows(session, comparison, faces)))
    return checked
