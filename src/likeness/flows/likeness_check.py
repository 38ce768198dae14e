"""run_likeness_check: a check's images compared with a character or a project."""

from __future__ import annotations

from prefect import flow

from likeness import likeness_checks
from likeness.tasks.likeness_checks import finish_check, plan_check, score_images
from likeness.tasks.notify import notify


@flow(name="likeness-check", flow_run_name="likeness-check-{check_id}")
def run_likeness_check(check_id: int) -> str:
    """Score every image of the check and finish it; returns its status. An error that
    is no image's fault fails the whole check with the reason (a bad image fails alone)."""
    plan = plan_check(check_id)
    if plan is None:
        return "finished before"
    try:
        score_images(plan)
    except Exception as error:
        likeness_checks.fail(check_id, f"the check stopped: {error}")
        raise
    finished = finish_check(check_id)
    notify(finished.events)
    return finished.check.status
