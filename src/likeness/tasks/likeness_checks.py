"""A likeness check's steps as Prefect tasks (``likeness.likeness_checks`` holds what they
do): plan, score the images (a progress artifact for a batch), finish (a summary artifact)."""

from __future__ import annotations

from typing import cast
from uuid import UUID

from prefect import task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE

from likeness import likeness_checks
from likeness.likeness_checks import Finished, Plan
from likeness.services.erasure import delete_queued_photos
from likeness.tasks.retry import database_task, retry_on_transient


@database_task("plan_check")
def plan_check(check_id: int) -> Plan | None:
    """Mark the check running and read what it compares with (None: already finished)."""
    return likeness_checks.plan_check(check_id)


@task(
    name="score_images",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[1, 4],
    retry_condition_fn=retry_on_transient,
)
def score_images(plan: Plan) -> None:
    """Decode, detect and compare every image not yet scored; a retry resumes."""
    if plan.image_count == 1:  # one probe: its answer is the progress
        likeness_checks.score_images(plan)
        return
    progress = cast(
        UUID,
        create_progress_artifact(
            progress=0.0,
            key=f"likeness-check-{plan.check_id}-progress",
            description=f"likeness check {plan.check_id}: images scored",
        ),
    )  # sync inside a flow

    def show(done: int, total: int) -> None:
        update_progress_artifact(artifact_id=progress, progress=100.0 * done / max(1, total))

    likeness_checks.score_images(plan, show)


@database_task("finish_check")
def finish_check(check_id: int) -> Finished:
    """Summary, data check, event; the probes uploaded only for this check deleted."""
    finished = likeness_checks.finish(check_id)
    if finished.discarded:
        delete_queued_photos()
    if finished.check.image_count > 1:
        create_markdown_artifact(
            key=f"likeness-check-{check_id}",
            markdown=summary_markdown(finished),
            description=f"likeness check {check_id}",
        )
    return finished


def summary_markdown(finished: Finished) -> str:
    check, summary = finished.check, finished.check.summary or {}
    target = (
        f"character {check.character_id}" if check.character_id else f"project {check.project_id}"
    )
    lines = [
        f"## Likeness check {check.id}: {check.kind} against {target} ({check.status})",
        "",
        "| images | scored | failed | faces | match rate | lowest similarity | median |",
        "|---|---|---|---|---|---|---|",
        f"| {summary.get('images')} | {summary.get('scored')} | {summary.get('failed')} | "
        f"{summary.get('faces')} | {summary.get('match_rate')} | "
        f"{summary.get('lowest_similarity')} | {summary.get('median_similarity')} |",
        "",
        "Worst frames:",
        "",
        "| image | similarity | verdict |",
        "|---|---|---|",
        *(
            f"| {frame['image_key']} | {frame['similarity']} | {frame['verdict'] or 'none'} |"
            for frame in summary.get("worst_frames", [])
        ),
        "",
        finished.data_check.markdown(),
    ]
    return "\n".join(lines)
