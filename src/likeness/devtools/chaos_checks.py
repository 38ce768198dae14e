"""What must hold after a chaos run (``devtools.chaos``), read from the database, the store
and the Prefect server: each check a name, whether it held, and what was found."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import httpx
from sqlalchemy import text

from likeness.db.models import STATUS_BY_ID
from likeness.db.repository import IN_PROGRESS, owned_image_paths
from likeness.db.session import engine_for, transaction
from likeness.identity.events import EVENT_FOR_STATUS
from likeness.identity.status import Status
from likeness.storage import get_store, unowned_keys

Finding = tuple[str, bool, str]

CHARACTERS = (
    "SELECT c.id, c.name, p.name AS project, c.embedding_status_id AS status, "
    "c.face_embedding IS NOT NULL AS embedded, extract(epoch FROM c.updated_at) AS updated "
    "FROM characters c JOIN projects p ON p.id = c.project_id WHERE p.name = ANY(:projects)"
)


def characters(url: str, projects: Iterable[str]) -> list[dict[str, object]]:
    with engine_for(url).connect() as connection:
        rows = connection.execute(text(CHARACTERS), {"projects": list(projects)}).mappings()
        return [dict(row) for row in rows]


def unfinished(url: str, projects: Iterable[str]) -> int:
    return sum(row["status"] in IN_PROGRESS for row in characters(url, projects))


def check(
    url: str,
    prefect_api: str,
    *,
    uploads_project: str,
    backfill_project: str,
    backfill_size: int,
    accepted: dict[int, int],  # upload index: character id
    refused: dict[int, tuple[int, bool]],  # upload index: (HTTP status, answered JSON)
) -> list[Finding]:
    rows = characters(url, (uploads_project, backfill_project))
    by_id = {int(str(row["id"])): row for row in rows}
    findings: list[Finding] = []

    not_terminal = [
        cid for cid in accepted.values() if cid not in by_id or by_id[cid]["status"] in IN_PROGRESS
    ]
    findings.append(
        (
            "every upload answered 202 reached a terminal status",
            not not_terminal,
            f"{len(accepted) - len(not_terminal)} of {len(accepted)}"
            + (f"; not: {sorted(not_terminal)[:10]}" if not_terminal else ""),
        )
    )
    names = {str(row["name"]) for row in rows if row["project"] == uploads_project}
    bad_refusals = [
        index
        for index, (code, json_answer) in refused.items()
        if not (500 <= code < 600 and json_answer) or f"chaos-{index}" in names
    ]
    findings.append(
        (
            "every refused upload got a 5xx JSON answer and left no character",
            not bad_refusals,
            f"{len(refused)} refused" + (f"; wrong: {bad_refusals[:10]}" if bad_refusals else ""),
        )
    )
    stuck = [cid for cid, row in by_id.items() if row["status"] in IN_PROGRESS]
    findings.append(
        (
            "every character of the run is terminal (unanswered uploads too)",
            not stuck,
            f"{len(by_id)} characters" + (f"; in progress: {sorted(stuck)[:10]}" if stuck else ""),
        )
    )
    hollow = [
        cid
        for cid, row in by_id.items()
        if STATUS_BY_ID[int(str(row["status"]))] is Status.COMPLETED and not row["embedded"]
    ]
    findings.append(
        ("no character completed without an embedding", not hollow, f"{len(hollow)} found")
    )
    findings.extend(_extracted_once(url, prefect_api, by_id, accepted))
    findings.extend(_outbox(url, by_id))
    findings.append(_orphans())
    findings.append(_backfill_job(url, backfill_project, backfill_size))
    return findings


def _extracted_once(
    url: str, prefect_api: str, by_id: dict[int, dict[str, object]], accepted: dict[int, int]
) -> list[Finding]:
    with engine_for(url).connect() as connection:
        archived = connection.execute(
            text("SELECT count(*) FROM embedding_history WHERE character_id = ANY(:ids)"),
            {"ids": list(by_id)},
        ).scalar_one()
    completed_runs: Counter[str] = Counter()
    names: dict[str, list[str]] = {}  # tag: the completed runs' names, to say which
    offset = 0
    with httpx.Client(base_url=prefect_api, timeout=60) as client:
        while True:
            page = client.post(
                "/flow_runs/filter",
                json={
                    "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
                    "limit": 200,
                    "offset": offset,
                },
            ).json()
            for run in page:
                for tag in run["tags"]:
                    if tag.startswith("character-"):
                        completed_runs[tag] += 1
                        names.setdefault(tag, []).append(run["name"])
            if len(page) < 200:
                break
            offset += 200
    wrong = {
        cid: names[f"character-{cid}"]
        for cid in accepted.values()
        if completed_runs[f"character-{cid}"] > 1
    }
    # At most one: an upload accepted while Prefect was down has no run of its own; the
    # reconciler's run or another's burst sweep extracts it.
    return [
        (
            "no character extracted twice (no archived embedding, at most one completed run "
            "per upload)",
            archived == 0 and not wrong,
            f"{archived} archived; uploads with more than one completed run: "
            f"{dict(list(wrong.items())[:10]) or 'none'}",
        )
    ]


def _outbox(url: str, by_id: dict[int, dict[str, object]]) -> list[Finding]:
    outcome_types = list(EVENT_FOR_STATUS.values())
    with engine_for(url).connect() as connection:
        events = connection.execute(
            text(
                "SELECT character_id, event_type FROM outbox_events "
                "WHERE character_id = ANY(:ids) AND event_type = ANY(:types)"
            ),
            {"ids": list(by_id), "types": outcome_types},
        ).all()
        transactions = connection.execute(
            text(
                "SELECT created_at, count(*), max(id) - min(id) + 1 FROM outbox_events "
                "GROUP BY created_at HAVING max(id) - min(id) + 1 <> count(*)"
            )
        ).all()
    announced = Counter(character_id for character_id, _ in events)
    kinds = {character_id: event_type for character_id, event_type in events}
    wrong = [
        cid
        for cid, row in by_id.items()
        if row["status"] not in IN_PROGRESS
        and (
            announced[cid] != 1
            or kinds.get(cid) != EVENT_FOR_STATUS[STATUS_BY_ID[int(str(row["status"]))]]
        )
    ]
    return [
        (
            "every status change announced once, as its status",
            not wrong,
            f"{len(events)} outcome events"
            + (
                f"; wrong for {sorted(wrong)[:10]} ({[announced[c] for c in sorted(wrong)[:10]]})"
                if wrong
                else ""
            ),
        ),
        (
            "outbox ids gapless within each transaction",
            not transactions,
            f"{len(transactions)} transactions with gaps",
        ),
    ]


def _orphans() -> Finding:
    store = get_store()
    with transaction() as session:
        owned = owned_image_paths(session)
        queued = {row[0] for row in session.execute(text("SELECT photo FROM photo_deletions"))}
    orphans = [key for key in unowned_keys(store, owned, older_than_s=0) if key not in queued]
    return (
        "no orphaned photo (every stored photo is owned, or queued for deletion)",
        not orphans,
        f"{len(orphans)} orphaned, {len(queued)} queued for deletion"
        + (f": {orphans[:5]}" if orphans else ""),
    )


def _backfill_job(url: str, project: str, size: int) -> Finding:
    with engine_for(url).connect() as connection:
        job = connection.execute(
            text(
                "SELECT j.id, j.finished_at IS NOT NULL, count(i.character_id), "
                "count(i.status) FROM backfill_jobs j "
                "LEFT JOIN backfill_items i ON i.job_id = j.id WHERE j.project = :project "
                "GROUP BY j.id ORDER BY j.id"
            ),
            {"project": project},
        ).all()
    ok = len(job) == 1 and job[0][1] and job[0][2] == size and job[0][3] == size
    return (
        "the backfill finished every character once, and its job says so",
        bool(ok),
        f"jobs (id, finished, items, done): {[tuple(row) for row in job]}",
    )
