"""A cheap fingerprint of the loaded data, so a long-running process knows when to rebuild."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import AttackBundle, Release


def data_version(session: Session) -> str:
    """Changes whenever a release or an ATT&CK bundle is loaded, replaced or removed.

    Two small selects over a few dozen rows; no mapping rows are read.  Through the session's
    connection rather than the ORM: it runs before every coverage answer, and the ORM's statement
    handling was a quarter of its cost.
    """
    h = hashlib.sha256()
    conn = session.connection()
    for rid, sha, loaded in conn.execute(
        select(Release.id, Release.sha256, Release.loaded_at).order_by(Release.id)
    ):
        h.update(f"r{rid}:{sha}:{loaded.isoformat() if loaded else ''};".encode())
    for domain, sha, loaded in conn.execute(
        select(AttackBundle.domain, AttackBundle.sha256, AttackBundle.loaded_at).order_by(AttackBundle.domain)
    ):
        h.update(f"b{domain}:{sha}:{loaded.isoformat() if loaded else ''};".encode())
    return h.hexdigest()[:16]
