"""Schema management.  Placeholder until the Alembic environment lands (issue 2)."""

from __future__ import annotations

from sqlalchemy import Engine

from store.models import Base


def upgrade_to_head(engine: Engine) -> None:
    Base.metadata.create_all(engine)


def current_revision(engine: Engine) -> str | None:
    return None


def head_revision() -> str:
    return "(no migrations yet)"
