"""Which controls exist: every capability the loaded data knows, for checking what a team says it has."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Capability


@dataclass(frozen=True, slots=True)
class KnownControl:
    framework: str
    capability_id: str  # canonical
    id_as_written: str
    name: str


def known_controls(session: Session) -> list[KnownControl]:
    """Every capability of every framework, in framework and ID order."""
    rows = session.execute(
        select(
            Capability.framework, Capability.capability_id, Capability.id_as_written, Capability.name
        ).order_by(Capability.framework, Capability.capability_id)
    ).all()
    return [KnownControl(f, c, w or c, (n or "").strip()) for f, c, w, n in rows]
