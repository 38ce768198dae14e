"""Webhook deliveries, remembered so a repeated delivery starts nothing new."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.dialects.postgresql import insert

from likeness.db.models import (
    WebhookDelivery,
)
from likeness.db.unit_of_work import UnitOfWork


def find_webhook_delivery(session: UnitOfWork, *, delivery_id: str) -> WebhookDelivery | None:
    return session.get(WebhookDelivery, delivery_id)


def record_webhook_delivery(
    session: UnitOfWork, *, delivery_id: str, character_id: int, flow_run_id: UUID | None = None
) -> None:
    """Insert the delivery, or set its flow run id (idempotent)."""
    statement = insert(WebhookDelivery).values(
        delivery_id=delivery_id, character_id=character_id, flow_run_id=flow_run_id
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[WebhookDelivery.delivery_id],
            set_={"flow_run_id": statement.excluded.flow_run_id},
        )
    )
