"""The repository: every read and write the pipeline makes, keyword-only and parameterised,
one module per concern.

Callers own the transaction (see :func:`likeness.db.session.transaction`): every function
takes the caller's session and nothing here commits, so several calls compose into one
atomic change.
"""

from __future__ import annotations

from likeness.db.repository.backfill import (
    backfill_counts as backfill_counts,
)
from likeness.db.repository.backfill import (
    backfill_failures as backfill_failures,
)
from likeness.db.repository.backfill import (
    backfill_scope as backfill_scope,
)
from likeness.db.repository.backfill import (
    backfill_todo as backfill_todo,
)
from likeness.db.repository.backfill import (
    characters_in_scope as characters_in_scope,
)
from likeness.db.repository.backfill import (
    finish_backfill_job as finish_backfill_job,
)
from likeness.db.repository.backfill import (
    latest_backfill_counts as latest_backfill_counts,
)
from likeness.db.repository.backfill import (
    mark_backfill_items as mark_backfill_items,
)
from likeness.db.repository.backfill import (
    open_backfill_job as open_backfill_job,
)
from likeness.db.repository.browser_sessions import (
    add_browser_session as add_browser_session,
)
from likeness.db.repository.browser_sessions import (
    browser_session_live as browser_session_live,
)
from likeness.db.repository.browser_sessions import (
    end_browser_session as end_browser_session,
)
from likeness.db.repository.characters import (
    IN_PROGRESS as IN_PROGRESS,
)
from likeness.db.repository.characters import (
    CharacterOverview as CharacterOverview,
)
from likeness.db.repository.characters import (
    character_overview as character_overview,
)
from likeness.db.repository.characters import (
    create_character as create_character,
)
from likeness.db.repository.characters import (
    get_character as get_character,
)
from likeness.db.repository.characters import (
    list_characters as list_characters,
)
from likeness.db.repository.characters import (
    lock_characters as lock_characters,
)
from likeness.db.repository.characters import (
    set_embeddings as set_embeddings,
)
from likeness.db.repository.characters import (
    set_statuses as set_statuses,
)
from likeness.db.repository.characters import (
    source_image_paths as source_image_paths,
)
from likeness.db.repository.characters import (
    update_character as update_character,
)
from likeness.db.repository.errors import (
    Conflict as Conflict,
)
from likeness.db.repository.errors import (
    NoEmbedding as NoEmbedding,
)
from likeness.db.repository.errors import (
    NoSourceImage as NoSourceImage,
)
from likeness.db.repository.errors import (
    NotFound as NotFound,
)
from likeness.db.repository.errors import (
    NotRequested as NotRequested,
)
from likeness.db.repository.extraction import (
    BegunExtractions as BegunExtractions,
)
from likeness.db.repository.extraction import (
    ExtractionJob as ExtractionJob,
)
from likeness.db.repository.extraction import (
    begin_extractions as begin_extractions,
)
from likeness.db.repository.extraction import (
    claim_lost_extraction as claim_lost_extraction,
)
from likeness.db.repository.extraction import (
    put_back_to_pending as put_back_to_pending,
)
from likeness.db.repository.extraction import (
    request_extraction as request_extraction,
)
from likeness.db.repository.extraction import (
    unfinished_of as unfinished_of,
)
from likeness.db.repository.extraction import (
    unfinished_since as unfinished_since,
)
from likeness.db.repository.faces import (
    QualityDistribution as QualityDistribution,
)
from likeness.db.repository.faces import (
    face_to_select as face_to_select,
)
from likeness.db.repository.faces import (
    faces_of_character as faces_of_character,
)
from likeness.db.repository.faces import (
    make_primary as make_primary,
)
from likeness.db.repository.faces import (
    primary_face_boxes as primary_face_boxes,
)
from likeness.db.repository.faces import (
    primary_faces as primary_faces,
)
from likeness.db.repository.faces import (
    quality_distribution as quality_distribution,
)
from likeness.db.repository.faces import (
    store_detected_faces as store_detected_faces,
)
from likeness.db.repository.history import (
    archive_embedding as archive_embedding,
)
from likeness.db.repository.history import (
    erase_biometrics as erase_biometrics,
)
from likeness.db.repository.history import (
    history_of as history_of,
)
from likeness.db.repository.history import (
    latest_drift as latest_drift,
)
from likeness.db.repository.history import (
    latest_histories as latest_histories,
)
from likeness.db.repository.history import (
    mark_quality_scores_stale as mark_quality_scores_stale,
)
from likeness.db.repository.history import (
    owned_image_paths as owned_image_paths,
)
from likeness.db.repository.history import (
    record_drift as record_drift,
)
from likeness.db.repository.likeness_checks import (
    Candidate as Candidate,
)
from likeness.db.repository.likeness_checks import (
    ImageResult as ImageResult,
)
from likeness.db.repository.likeness_checks import (
    VerifyTarget as VerifyTarget,
)
from likeness.db.repository.likeness_checks import (
    check_counts as check_counts,
)
from likeness.db.repository.likeness_checks import (
    check_images as check_images,
)
from likeness.db.repository.likeness_checks import (
    check_results as check_results,
)
from likeness.db.repository.likeness_checks import (
    checks_of_character as checks_of_character,
)
from likeness.db.repository.likeness_checks import (
    create_check as create_check,
)
from likeness.db.repository.likeness_checks import (
    finish_check as finish_check,
)
from likeness.db.repository.likeness_checks import (
    get_check as get_check,
)
from likeness.db.repository.likeness_checks import (
    images_to_score as images_to_score,
)
from likeness.db.repository.likeness_checks import (
    mark_results_stale as mark_results_stale,
)
from likeness.db.repository.likeness_checks import (
    nearest_characters as nearest_characters,
)
from likeness.db.repository.likeness_checks import (
    record_image_results as record_image_results,
)
from likeness.db.repository.likeness_checks import (
    set_check_run as set_check_run,
)
from likeness.db.repository.likeness_checks import (
    set_thresholds as set_thresholds,
)
from likeness.db.repository.likeness_checks import (
    stale_result_counts as stale_result_counts,
)
from likeness.db.repository.likeness_checks import (
    start_check as start_check,
)
from likeness.db.repository.likeness_checks import (
    stored_thresholds as stored_thresholds,
)
from likeness.db.repository.likeness_checks import (
    unfinished_checks as unfinished_checks,
)
from likeness.db.repository.likeness_checks import (
    verify_target as verify_target,
)
from likeness.db.repository.outbox import (
    EVENT_CHANNEL as EVENT_CHANNEL,
)
from likeness.db.repository.outbox import (
    OUTBOX_LOCK_KEY as OUTBOX_LOCK_KEY,
)
from likeness.db.repository.outbox import (
    add_outbox_event as add_outbox_event,
)
from likeness.db.repository.outbox import (
    events_after as events_after,
)
from likeness.db.repository.outbox import (
    reserve_outbox_ids as reserve_outbox_ids,
)
from likeness.db.repository.photo_deletions import (
    count_photo_deletions as count_photo_deletions,
)
from likeness.db.repository.photo_deletions import (
    photo_deletions_failed as photo_deletions_failed,
)
from likeness.db.repository.photo_deletions import (
    queue_photo_deletions as queue_photo_deletions,
)
from likeness.db.repository.photo_deletions import (
    queued_photo_deletions as queued_photo_deletions,
)
from likeness.db.repository.photo_deletions import (
    unqueue_photo_deletions as unqueue_photo_deletions,
)
from likeness.db.repository.projects import (
    drift_levels as drift_levels,
)
from likeness.db.repository.projects import (
    effective_config as effective_config,
)
from likeness.db.repository.projects import (
    get_or_create_project as get_or_create_project,
)
from likeness.db.repository.projects import (
    list_projects as list_projects,
)
from likeness.db.repository.projects import (
    project_id_of as project_id_of,
)
from likeness.db.repository.projects import (
    project_name as project_name,
)
from likeness.db.repository.projects import (
    project_override as project_override,
)
from likeness.db.repository.projects import (
    studio_config as studio_config,
)
from likeness.db.repository.projects import (
    update_project_override as update_project_override,
)
from likeness.db.repository.projects import (
    update_studio_config as update_studio_config,
)
from likeness.db.repository.references import (
    create_reference as create_reference,
)
from likeness.db.repository.references import (
    delete_reference as delete_reference,
)
from likeness.db.repository.references import (
    get_reference as get_reference,
)
from likeness.db.repository.references import (
    keep_reference as keep_reference,
)
from likeness.db.repository.references import (
    primary_face as primary_face,
)
from likeness.db.repository.references import (
    reference_counts as reference_counts,
)
from likeness.db.repository.references import (
    references_by_owner as references_by_owner,
)
from likeness.db.repository.references import (
    references_of as references_of,
)
from likeness.db.repository.references import (
    set_template as set_template,
)
from likeness.db.repository.search import (
    RERANK_FACTOR as RERANK_FACTOR,
)
from likeness.db.repository.search import (
    DuplicatePair as DuplicatePair,
)
from likeness.db.repository.search import (
    SimilarCharacter as SimilarCharacter,
)
from likeness.db.repository.search import (
    duplicate_pairs as duplicate_pairs,
)
from likeness.db.repository.search import (
    similar_characters as similar_characters,
)
from likeness.db.repository.source_checks import (
    record_source_check as record_source_check,
)
from likeness.db.repository.source_checks import (
    same_photo_characters as same_photo_characters,
)
from likeness.db.repository.source_checks import (
    source_checks_of as source_checks_of,
)
from likeness.db.repository.webhooks import (
    find_webhook_delivery as find_webhook_delivery,
)
from likeness.db.repository.webhooks import (
    record_webhook_delivery as record_webhook_delivery,
)
from likeness.identity.backfill_scope import Scope as Scope  # the repository's callers name it
