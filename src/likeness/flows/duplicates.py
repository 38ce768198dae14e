"""find_duplicate_characters: a project's likely duplicates as a table in the Prefect UI."""

from __future__ import annotations

from dataclasses import dataclass

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from likeness.db import repository
from likeness.db.session import transaction
from likeness.identity.policy import DUPLICATE_DISTANCE


@dataclass(frozen=True)
class ProjectDuplicates:
    project_id: int
    pairs: list[repository.DuplicatePair]


@task(name="find_duplicates", cache_policy=NO_CACHE)
def find_duplicates(project: str, max_distance: float) -> ProjectDuplicates:
    with transaction() as session:
        project_id = repository.project_id_of(session, name=project)
        pairs = repository.duplicate_pairs(
            session, project_id=project_id, max_distance=max_distance
        )
    return ProjectDuplicates(project_id, pairs)


@flow(name="find-duplicate-characters", flow_run_name="duplicates-{project}")
def find_duplicate_characters(
    project: str, max_distance: float = DUPLICATE_DISTANCE
) -> list[tuple[int, int, float]]:
    """Pairs of the project's characters within ``max_distance`` (cosine, same model pack),
    closest first, as the table artifact ``duplicates-<project id>``; returns (first id,
    second id, distance) for each."""
    found = find_duplicates(project, max_distance)
    create_table_artifact(
        key=f"duplicates-{found.project_id}",
        table=[
            {
                "first": f"{pair.first_name} ({pair.first_id})",
                "second": f"{pair.second_name} ({pair.second_id})",
                "distance": round(pair.distance, 4),
            }
            for pair in found.pairs
        ],
        description=f"characters of project {project!r} within cosine distance {max_distance}",
    )
    get_run_logger().info("project %s: %d likely duplicate pair(s)", project, len(found.pairs))
    return [(pair.first_id, pair.second_id, pair.distance) for pair in found.pairs]
