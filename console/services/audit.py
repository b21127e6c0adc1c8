"""Append-only audit log."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from console.models import AuditEvent


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: object = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an audit event to the session; it commits with the change it describes."""
    session.add(
        AuditEvent(
            actor=actor,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            detail=detail,
        )
    )
