"""What the last sync or ingest changed: the releases it loaded or replaced, and for each the
release of the same framework and domain it follows (for "what changed")."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.app_state import SyncRun
from store.coverage_views import ReleaseFacts
from store.reads.coverage import all_releases


@dataclass(frozen=True, slots=True)
class ReleaseChange:
    """A release the run loaded, and the newest older release of its framework and domain
    (None: the framework's first release in that domain)."""

    release: ReleaseFacts
    previous: ReleaseFacts | None


@dataclass(frozen=True, slots=True)
class LastChange:
    kind: str  # sync | ingest
    finished_at: dt.datetime | None
    changes: tuple[ReleaseChange, ...]
    attack_domains: tuple[str, ...]  # ATT&CK bundles the run loaded


_LABEL = re.compile(r"^(\S+) (.+) / ATT&CK (\S+) (\S+)$")


def _key(label: str) -> tuple[str, str, str, str] | None:
    """A run's release label (``nist_800_53 rev5 / ATT&CK 16.1 enterprise``) as a release key."""
    m = _LABEL.match(label)
    return (m.group(1), m.group(2), m.group(3), m.group(4)) if m else None


def last_change(session: Session) -> LastChange | None:
    """The newest run that changed anything, with its releases; None when none ever did."""
    run = session.execute(
        select(SyncRun).where(SyncRun.finished_at.is_not(None)).order_by(SyncRun.id.desc()).limit(20)
    ).scalars()
    runs = list(run)
    # The newest run that loaded mapping releases; else the newest that loaded ATT&CK alone.
    latest = next((r for r in runs if r.releases_changed), None) or next(
        (r for r in runs if (r.summary or {}).get("attack_domains")), None
    )
    if latest is None:
        return None
    keys = {_key(str(label)) for label in latest.releases_changed or ()}
    releases = all_releases(session)  # newest first
    pks = {r.pk for r in releases if (r.framework, r.framework_version, r.attack_version, r.domain) in keys}
    changes = []
    for at, r in enumerate(releases):
        if r.pk not in pks:
            continue
        older = [
            o
            for o in releases[at + 1 :]
            if (o.framework, o.domain) == (r.framework, r.domain) and o.pk not in pks  # not of this run
        ]
        # The same framework version at an older ATT&CK version first (only the mappings moved),
        # else the framework's previous version.
        previous = next((o for o in older if o.framework_version == r.framework_version), None) or next(
            iter(older), None
        )
        changes.append(ReleaseChange(r, previous))
    domains = tuple(str(d) for d in (latest.summary or {}).get("attack_domains") or ())
    return LastChange(latest.kind, latest.finished_at, tuple(changes), domains)
