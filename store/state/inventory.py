"""A team's own controls: an inventory per workspace, overridable per channel, with an audit trail.

Every change runs in one write transaction that first takes the scope's row (``inventory_scopes``)
for update and bumps its version, so two admins editing at once are applied one after the other
and an interrupted import leaves the previous inventory as it was.  The channel ID ``""`` is the
workspace's own inventory; a channel with entries of its own overrides it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine, Index, Integer, String, Text, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.db import session_scope, write_session
from store.models import Base, utcnow

Status = Literal["deployed", "planned"]
STATUSES: tuple[Status, ...] = ("deployed", "planned")
WORKSPACE = ""  # the channel_id of a workspace-wide inventory


class InventoryScope(Base):
    """One row per inventory; its version is bumped by every change (the serialisation point)."""

    __tablename__ = "inventory_scopes"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class InventoryEntry(Base):
    __tablename__ = "inventory_entries"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    framework: Mapped[str] = mapped_column(String(32), primary_key=True)
    capability_id: Mapped[str] = mapped_column(String(200), primary_key=True)  # canonical
    status: Mapped[str] = mapped_column(String(16), default="deployed")
    added_by: Mapped[str | None] = mapped_column(String(64))
    added_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class InventoryChange(Base):
    """The audit trail: who changed what, and when (one row per control touched)."""

    __tablename__ = "inventory_changes"
    __table_args__ = (Index("ix_inventory_changes_scope_time", "team_id", "channel_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))  # add | remove | status | clear | import
    framework: Mapped[str | None] = mapped_column(String(32))
    capability_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str | None] = mapped_column(String(16))
    user_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True, slots=True, order=True)
class Control:
    """A control the team has, by framework key and canonical capability ID."""

    framework: str
    capability_id: str
    status: Status = "deployed"

    @property
    def key(self) -> tuple[str, str]:
        return (self.framework, self.capability_id)


@dataclass(frozen=True, slots=True)
class Inventory:
    team_id: str
    channel_id: str  # WORKSPACE for the workspace's own
    controls: tuple[Control, ...]
    version: int
    updated_by: str | None
    updated_at: dt.datetime | None

    @property
    def is_channel(self) -> bool:
        return self.channel_id != WORKSPACE

    def deployed(self) -> frozenset[tuple[str, str]]:
        return frozenset(c.key for c in self.controls if c.status == "deployed")

    def planned(self) -> frozenset[tuple[str, str]]:
        return frozenset(c.key for c in self.controls if c.status == "planned")


@dataclass(frozen=True, slots=True)
class ChangeResult:
    """What a change did: the controls newly added, updated (status), removed, and left alone."""

    added: tuple[Control, ...] = ()
    updated: tuple[Control, ...] = ()
    removed: tuple[Control, ...] = ()
    unchanged: tuple[Control, ...] = ()
    version: int = 0


@dataclass(frozen=True, slots=True)
class AuditLine:
    at: dt.datetime
    user_id: str | None
    action: str
    framework: str | None
    capability_id: str | None
    status: str | None
    detail: str | None


# --------------------------------------------------------------------------- reads


def _entries(session: Session, team_id: str, channel_id: str) -> list[Control]:
    rows = session.execute(
        select(InventoryEntry.framework, InventoryEntry.capability_id, InventoryEntry.status)
        .where(InventoryEntry.team_id == team_id, InventoryEntry.channel_id == channel_id)
        .order_by(InventoryEntry.framework, InventoryEntry.capability_id)
    ).all()
    return [Control(f, c, "planned" if s == "planned" else "deployed") for f, c, s in rows]


def _scope(session: Session, team_id: str, channel_id: str) -> InventoryScope | None:
    return session.get(InventoryScope, (team_id, channel_id))


def read_inventory(session: Session, team_id: str, channel_id: str = WORKSPACE) -> Inventory:
    """The inventory stored for exactly this scope (empty when there is none)."""
    controls = _entries(session, team_id, channel_id)
    scope = _scope(session, team_id, channel_id)
    return Inventory(
        team_id,
        channel_id,
        tuple(controls),
        scope.version if scope else 0,
        scope.updated_by if scope else None,
        scope.updated_at if scope else None,
    )


def effective_inventory(engine: Engine, team_id: str, channel_id: str | None) -> Inventory | None:
    """The channel's own inventory if it has entries, else the workspace's, else None."""
    with session_scope(engine) as session:
        return effective_in(session, team_id, channel_id)


def effective_in(session: Session, team_id: str, channel_id: str | None) -> Inventory | None:
    """``effective_inventory`` inside a session the caller holds (digests compose in one)."""
    if channel_id:
        own = read_inventory(session, team_id, channel_id)
        if own.controls:
            return own
    workspace = read_inventory(session, team_id, WORKSPACE)
    return workspace if workspace.controls else None


def inventory(engine: Engine, team_id: str, channel_id: str = WORKSPACE) -> Inventory:
    with session_scope(engine) as session:
        return read_inventory(session, team_id, channel_id)


def inventory_versions(engine: Engine, team_id: str, channel_id: str | None) -> tuple[int, int]:
    """(workspace version, channel version): a cheap key for caches of coverage answers."""
    keys = [WORKSPACE] + ([channel_id] if channel_id else [])
    # A plain connection, no ORM session: this runs for every message of a team.
    with engine.connect() as conn:
        rows = {
            c: v
            for c, v in conn.execute(
                select(InventoryScope.channel_id, InventoryScope.version).where(
                    InventoryScope.team_id == team_id, InventoryScope.channel_id.in_(keys)
                )
            )
        }
    return (rows.get(WORKSPACE, 0), rows.get(channel_id, 0) if channel_id else 0)


def audit_trail(
    engine: Engine, team_id: str, channel_id: str = WORKSPACE, limit: int = 50
) -> list[AuditLine]:
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                InventoryChange.at,
                InventoryChange.user_id,
                InventoryChange.action,
                InventoryChange.framework,
                InventoryChange.capability_id,
                InventoryChange.status,
                InventoryChange.detail,
            )
            .where(InventoryChange.team_id == team_id, InventoryChange.channel_id == channel_id)
            .order_by(InventoryChange.at.desc(), InventoryChange.id.desc())
            .limit(limit)
        ).all()
    return [AuditLine(*row) for row in rows]


def scopes_with_inventory(engine: Engine, team_id: str) -> list[tuple[str, int]]:
    """Every scope of a team that holds entries, with its entry count (App Home)."""
    with session_scope(engine) as session:
        rows = session.execute(
            select(InventoryEntry.channel_id, func.count())
            .where(InventoryEntry.team_id == team_id)
            .group_by(InventoryEntry.channel_id)
            .order_by(InventoryEntry.channel_id)
        ).all()
    return [(c, int(n)) for c, n in rows]


# --------------------------------------------------------------------------- writes


def _lock_scope(session: Session, team_id: str, channel_id: str, user_id: str | None) -> int:
    """Create the scope row if needed and bump its version.  The UPDATE holds the row
    (PostgreSQL) or the database (SQLite, BEGIN IMMEDIATE) until the transaction ends, so
    concurrent changes to one inventory are applied one after the other."""
    upsert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        upsert(InventoryScope)
        .values(team_id=team_id, channel_id=channel_id, version=0, updated_at=utcnow())
        .on_conflict_do_nothing()
    )
    bumped = session.execute(
        update(InventoryScope)
        .where(InventoryScope.team_id == team_id, InventoryScope.channel_id == channel_id)
        .values(version=InventoryScope.version + 1, updated_by=user_id, updated_at=utcnow())
        .returning(InventoryScope.version)
    ).scalar_one()
    return int(bumped)


def _audit(
    session: Session,
    team_id: str,
    channel_id: str,
    action: str,
    user_id: str | None,
    controls: Iterable[Control] = (),
    detail: str | None = None,
) -> None:
    rows = [
        {
            "team_id": team_id,
            "channel_id": channel_id,
            "action": action,
            "framework": c.framework,
            "capability_id": c.capability_id,
            "status": c.status,
            "user_id": user_id,
            "detail": detail,
        }
        for c in controls
    ]
    if not rows:
        rows = [
            {
                "team_id": team_id,
                "channel_id": channel_id,
                "action": action,
                "framework": None,
                "capability_id": None,
                "status": None,
                "user_id": user_id,
                "detail": detail,
            }
        ]
    session.execute(insert(InventoryChange), rows)


def _insert_entries(
    session: Session, team_id: str, channel_id: str, controls: Sequence[Control], user_id: str | None
) -> None:
    if controls:
        rows = [
            {
                "team_id": team_id,
                "channel_id": channel_id,
                "framework": c.framework,
                "capability_id": c.capability_id,
                "status": c.status,
                "added_by": user_id,
            }
            for c in controls
        ]
        session.execute(insert(InventoryEntry), rows)


def _dedupe(controls: Iterable[Control]) -> list[Control]:
    """One entry per control; a later duplicate's status wins (the last row of an import)."""
    seen: dict[tuple[str, str], Control] = {}
    for c in controls:
        seen.pop(c.key, None)
        seen[c.key] = c
    return list(seen.values())


def add_controls(
    engine: Engine, team_id: str, channel_id: str, controls: Sequence[Control], user_id: str | None
) -> ChangeResult:
    """Add controls (or change their status); existing ones with the same status are left alone."""
    wanted = _dedupe(controls)
    with write_session(engine) as session:
        version = _lock_scope(session, team_id, channel_id, user_id)
        current = {c.key: c for c in _entries(session, team_id, channel_id)}
        added = [c for c in wanted if c.key not in current]
        updated = [c for c in wanted if c.key in current and current[c.key].status != c.status]
        unchanged = [c for c in wanted if c.key in current and current[c.key].status == c.status]
        _insert_entries(session, team_id, channel_id, added, user_id)
        for c in updated:
            session.execute(
                update(InventoryEntry)
                .where(
                    InventoryEntry.team_id == team_id,
                    InventoryEntry.channel_id == channel_id,
                    InventoryEntry.framework == c.framework,
                    InventoryEntry.capability_id == c.capability_id,
                )
                .values(status=c.status)
            )
        if added:
            _audit(session, team_id, channel_id, "add", user_id, added)
        if updated:
            _audit(session, team_id, channel_id, "status", user_id, updated)
    return ChangeResult(tuple(added), tuple(updated), (), tuple(unchanged), version)


def remove_controls(
    engine: Engine, team_id: str, channel_id: str, keys: Sequence[tuple[str, str]], user_id: str | None
) -> ChangeResult:
    with write_session(engine) as session:
        version = _lock_scope(session, team_id, channel_id, user_id)
        current = {c.key: c for c in _entries(session, team_id, channel_id)}
        removed = [current[k] for k in dict.fromkeys(keys) if k in current]
        for c in removed:
            session.execute(
                delete(InventoryEntry).where(
                    InventoryEntry.team_id == team_id,
                    InventoryEntry.channel_id == channel_id,
                    InventoryEntry.framework == c.framework,
                    InventoryEntry.capability_id == c.capability_id,
                )
            )
        if removed:
            _audit(session, team_id, channel_id, "remove", user_id, removed)
    return ChangeResult(removed=tuple(removed), version=version)


def replace_inventory(
    engine: Engine,
    team_id: str,
    channel_id: str,
    controls: Sequence[Control],
    user_id: str | None,
    *,
    action: str = "import",
    detail: str | None = None,
) -> ChangeResult:
    """Make the inventory exactly ``controls`` (an import, or ``clear`` with none), all or nothing."""
    wanted = {c.key: c for c in _dedupe(controls)}
    with write_session(engine) as session:
        version = _lock_scope(session, team_id, channel_id, user_id)
        current = {c.key: c for c in _entries(session, team_id, channel_id)}
        session.execute(
            delete(InventoryEntry).where(
                InventoryEntry.team_id == team_id, InventoryEntry.channel_id == channel_id
            )
        )
        _insert_entries(session, team_id, channel_id, list(wanted.values()), user_id)
        added = [c for k, c in wanted.items() if k not in current]
        updated = [c for k, c in wanted.items() if k in current and current[k].status != c.status]
        unchanged = [c for k, c in wanted.items() if k in current and current[k].status == c.status]
        removed = [c for k, c in current.items() if k not in wanted]
        summary = f"{len(wanted)} controls: +{len(added)} -{len(removed)} ~{len(updated)}"
        _audit(session, team_id, channel_id, action, user_id, (), "; ".join(filter(None, [detail, summary])))
    return ChangeResult(tuple(added), tuple(updated), tuple(removed), tuple(unchanged), version)
