"""Start-up and health checks of the database the bot serves from."""

from __future__ import annotations

from sqlalchemy import Engine, select, text

from store.db import served_file_problem
from store.models import Release


def has_mapping_data(engine: Engine) -> bool:
    """Whether any release is loaded (without one, every question is answered with "nothing")."""
    with engine.connect() as conn:
        return conn.execute(select(Release.id).limit(1)).first() is not None


def database_answers(engine: Engine) -> bool:
    """One round trip; raises what the driver raises when the database does not answer."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return True


def database_problem(engine: Engine) -> str | None:
    """Why the database cannot serve now (the file gone or replaced, no answer), else None."""

    problem = served_file_problem(engine)
    if problem:
        return problem
    try:
        database_answers(engine)
    except Exception as exc:  # the driver's own error, named in one line
        return f"unreachable ({exc.__class__.__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})"
    return None
