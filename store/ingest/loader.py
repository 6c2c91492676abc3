"""Writing parsed files into the database, inside the caller's single transaction.

Order matters: ATT&CK objects and description lists first, then releases (old rows of a
replaced release deleted), then capabilities recomputed for every framework touched, and last
the mapping rows with their capability keys filled in, so no row is written twice.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, insert, select, update

from store.ingest.bulk import insert_dicts, insert_tuples
from store.ingest.descriptions import DescriptionData
from store.ingest.mapping_files import (
    CAPABILITY_GROUP,
    CAPABILITY_ID,
    CAPABILITY_NAME,
    CAPABILITY_WRITTEN,
    ROW_COLUMNS,
    ReleaseData,
    ReleaseKey,
    release_key_text,
)
from store.ingest.stix import AttackData
from store.models import (
    Analytic,
    AttackBundle,
    Base,
    Capability,
    CapabilityDescription,
    ComponentDetection,
    DataComponent,
    DetectionLink,
    DetectionStrategy,
    IngestedFile,
    Mapping,
    Mitigation,
    MitigationLink,
    Release,
    Tactic,
    Technique,
    Threat,
    ThreatLink,
    utcnow,
)

__all__ = ["LoadedFile", "release_order_key", "version_key", "write_attack", "write_capabilities"]

_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_NUMBER = re.compile(r"\d+")
_PATH_LIMIT = 500


def version_key(version: str | None) -> tuple[int, ...]:
    """Sortable form of a framework or ATT&CK version: ``07/18/2025`` → (2025, 7, 18),
    ``rev5`` → (5,), ``1.4.0`` → (1, 4, 0), ``v2.1`` → (2, 1)."""
    if not version:
        return ()
    m = _DATE.match(version.strip())
    if m:
        return (int(m[3]), int(m[1]), int(m[2]))
    return tuple(int(n) for n in _NUMBER.findall(version))


def release_order_key(
    framework_version: str, attack_version: str, last_update: dt.date | None, pk: int
) -> tuple[Any, ...]:
    """Newest release of a framework sorts last: framework version, ATT&CK version, update."""
    return (version_key(framework_version), version_key(attack_version), last_update or dt.date.min, pk)


@dataclass(frozen=True)
class LoadedFile:
    """A file whose content is (now) in the database, to remember by its sha256."""

    sha256: str
    kind: str
    key: str
    content_sha256: str | None
    source_file: str


def _path_text(path: str) -> str:
    return path if len(path) <= _PATH_LIMIT else "…" + path[-(_PATH_LIMIT - 1) :]


def remember_files(
    conn: Connection, kind: str, key: str, content_sha256: str | None, files: Sequence[LoadedFile]
) -> None:
    """Forget files that loaded other content under ``key``, then remember ``files``."""
    conn.execute(
        delete(IngestedFile).where(
            IngestedFile.kind == kind,
            IngestedFile.key == key,
            (IngestedFile.content_sha256 != content_sha256) | IngestedFile.content_sha256.is_(None),
        )
    )
    shas = list({f.sha256 for f in files})
    conn.execute(delete(IngestedFile).where(IngestedFile.sha256.in_(shas)))
    seen: set[str] = set()
    rows = []
    for f in files:
        if f.sha256 in seen:
            continue
        seen.add(f.sha256)
        rows.append(
            {
                "sha256": f.sha256,
                "kind": kind,
                "key": key,
                "content_sha256": content_sha256,
                "source_file": _path_text(f.source_file),
                "ingested_at": utcnow(),
            }
        )
    conn.execute(insert(IngestedFile), rows)


# --------------------------------------------------------------------------- ATT&CK


def write_attack(conn: Connection, data: AttackData, sha256: str, source_file: str) -> None:
    """Replace every object of ``data.domain`` with the bundle's."""
    domain = data.domain
    for table in (
        ComponentDetection,
        DetectionLink,
        DetectionStrategy,
        Analytic,
        DataComponent,
        ThreatLink,
        Threat,
    ):
        conn.execute(delete(table).where(table.domain == domain))
    conn.execute(delete(MitigationLink).where(MitigationLink.domain == domain))
    conn.execute(delete(Mitigation).where(Mitigation.domain == domain))
    conn.execute(delete(Technique).where(Technique.domain == domain))
    conn.execute(delete(Tactic).where(Tactic.domain == domain))
    conn.execute(delete(AttackBundle).where(AttackBundle.domain == domain))
    insert_dicts(conn, _table(Tactic), data.tactics)
    insert_dicts(conn, _table(Technique), data.techniques)
    insert_dicts(conn, _table(Mitigation), data.mitigations)
    technique_pk = dict(
        conn.execute(select(Technique.stix_id, Technique.id).where(Technique.domain == domain)).all()
    )
    mitigation_pk = dict(
        conn.execute(select(Mitigation.stix_id, Mitigation.id).where(Mitigation.domain == domain)).all()
    )
    links = [
        {
            "stix_id": link["stix_id"],
            "domain": domain,
            "mitigation_pk": mitigation_pk[link["mitigation_stix_id"]],
            "technique_pk": technique_pk[link["technique_stix_id"]],
            "mitigation_attack_id": link["mitigation_attack_id"],
            "technique_attack_id": link["technique_attack_id"],
            "description": link["description"],
        }
        for link in data.links
    ]
    insert_dicts(conn, _table(MitigationLink), links)
    _write_threats(conn, data, technique_pk)
    conn.execute(
        insert(AttackBundle),
        [
            {
                "domain": domain,
                "attack_version": data.attack_version,
                "source_file": _path_text(source_file),
                "sha256": sha256,
                "loaded_at": utcnow(),
            }
        ],
    )


def _write_threats(conn: Connection, data: AttackData, technique_pk: dict[str, int]) -> None:
    """Groups, software, campaigns, their links, and the detection objects of one domain."""
    th, domain = data.threats, data.domain
    insert_dicts(conn, _table(Threat), th.threats)
    threat_pk = dict(conn.execute(select(Threat.stix_id, Threat.id).where(Threat.domain == domain)).all())
    links = [
        {
            "stix_id": link["stix_id"],
            "domain": domain,
            "relationship": link["relationship"],
            "source_pk": threat_pk[link["source_stix_id"]],
            "source_attack_id": link["source_attack_id"],
            "target_kind": link["target_kind"],
            "target_attack_id": link["target_attack_id"],
            "technique_pk": technique_pk.get(link["target_stix_id"]),
            "target_threat_pk": threat_pk.get(link["target_stix_id"]),
            "description": link["description"],
            "citations": link["citations"],
        }
        for link in th.links
    ]
    insert_dicts(conn, _table(ThreatLink), links)
    for table, rows in (
        (DataComponent, th.data_components),
        (Analytic, th.analytics),
        (DetectionStrategy, th.strategies),
    ):
        insert_dicts(conn, _table(table), rows)
    strategy_pk = dict(
        conn.execute(
            select(DetectionStrategy.stix_id, DetectionStrategy.id).where(DetectionStrategy.domain == domain)
        ).all()
    )
    detects = [
        {
            "stix_id": d["stix_id"],
            "domain": domain,
            "strategy_pk": strategy_pk[d["strategy_stix_id"]],
            "technique_pk": technique_pk[d["technique_stix_id"]],
            "strategy_attack_id": d["strategy_attack_id"],
            "technique_attack_id": d["technique_attack_id"],
        }
        for d in th.detects
    ]
    insert_dicts(conn, _table(DetectionLink), detects)
    by_component = [
        {
            **{k: v for k, v in d.items() if k != "technique_stix_id"},
            "technique_pk": technique_pk[d["technique_stix_id"]],
        }
        for d in th.component_detects
    ]
    insert_dicts(conn, _table(ComponentDetection), by_component)


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


# --------------------------------------------------------------------------- descriptions


def write_descriptions(conn: Connection, data: DescriptionData, sha256: str) -> None:
    conn.execute(delete(CapabilityDescription).where(CapabilityDescription.source == data.source))
    conn.execute(insert(CapabilityDescription), data.rows(sha256))


# --------------------------------------------------------------------------- releases


def find_release(conn: Connection, key: ReleaseKey) -> tuple[int, str | None] | None:
    framework, version, attack_version, domain = key
    row = conn.execute(
        select(Release.id, Release.content_sha256).where(
            Release.framework == framework,
            Release.framework_version == version,
            Release.attack_version == attack_version,
            Release.domain == domain,
        )
    ).first()
    return (row[0], row[1]) if row else None


def write_release(conn: Connection, data: ReleaseData, sha256: str, source_file: str) -> int:
    """Insert or replace the release row; its old mapping rows are deleted.  Returns its key."""
    values = dict(
        data.columns,
        source_file=_path_text(source_file),
        sha256=sha256,
        content_sha256=data.content_sha256,
        loaded_at=utcnow(),
        mapping_count=len(data.rows),
        non_mappable_count=data.non_mappable,
    )
    existing = find_release(conn, data.key)
    if existing is not None:
        pk = existing[0]
        conn.execute(delete(Mapping).where(Mapping.release_id == pk))
        conn.execute(update(Release).where(Release.id == pk).values(**values))
        return pk
    return int(conn.execute(insert(Release).values(**values).returning(Release.id)).scalar_one())


_INSERT_COLUMNS = ("release_id", "capability_pk", *ROW_COLUMNS)


def write_mappings(
    conn: Connection, release_pk: int, data: ReleaseData, capability_pk: dict[str, int]
) -> int:
    """Bulk-insert the release's rows through the driver: COPY on PostgreSQL, executemany on
    SQLite.  The rows are already in column order with JSON serialised, so nothing is left
    for SQLAlchemy to do per row."""
    get_pk = capability_pk.get
    rows = [(release_pk, get_pk(r[CAPABILITY_ID]) if r[CAPABILITY_ID] else None, *r) for r in data.rows]
    if rows:
        insert_tuples(conn, "mappings", _INSERT_COLUMNS, rows)
    return len(rows)


# --------------------------------------------------------------------------- capabilities


@dataclass
class _Seen:
    order: tuple[Any, ...]
    release_pk: int
    written: Counter[str]
    name: str | None
    group: str | None


def write_capabilities(
    conn: Connection, framework: str, new_rows: Iterable[tuple[int, ReleaseData]]
) -> dict[str, int]:
    """Recompute the capabilities of ``framework`` from all its releases and description lists.

    Name, group and the ID as written come from the newest release that has the capability;
    the description from the newest description list.  ``first_seen_at`` of a capability
    that stays is never touched.  Returns canonical ID → primary key.
    """
    releases: dict[int, tuple[tuple[Any, ...], dict[str, Any]]] = {}
    for pk, fv, av, lu, groups in conn.execute(
        select(
            Release.id,
            Release.framework_version,
            Release.attack_version,
            Release.last_update,
            Release.capability_groups,
        ).where(Release.framework == framework)
    ):
        releases[pk] = (release_order_key(fv, av, lu, pk), groups if isinstance(groups, dict) else {})

    best: dict[str, _Seen] = {}

    def see(cid: str, written: str, name: str | None, group: str | None, release_pk: int) -> None:
        order = releases[release_pk][0]
        cur = best.get(cid)
        if cur is None or order > cur.order:
            best[cid] = _Seen(order, release_pk, Counter({written: 1}), name, group)
        elif cur.release_pk == release_pk:
            cur.written[written] += 1
            if cur.name is None and name:
                cur.name = name
            if cur.group is None and group:
                cur.group = group

    new_release_pks = set()
    for release_pk, data in new_rows:
        new_release_pks.add(release_pk)
        for row in data.rows:
            if row[CAPABILITY_ID]:
                see(
                    row[CAPABILITY_ID],
                    row[CAPABILITY_WRITTEN].strip(),
                    row[CAPABILITY_NAME],
                    row[CAPABILITY_GROUP],
                    release_pk,
                )
    stored = select(
        Mapping.capability_id,
        Mapping.capability_id_as_written,
        Mapping.capability_name,
        Mapping.capability_group,
        Mapping.release_id,
    ).where(Mapping.framework == framework, Mapping.capability_id.is_not(None))
    if new_release_pks:
        stored = stored.where(Mapping.release_id.not_in(new_release_pks))
    for cid, written, name, group, release_pk in conn.execute(stored):
        if cid:
            see(cid, (written or cid).strip(), name, group, release_pk)

    # Descriptions: the newest list per capability; repeated IDs in one list are joined.
    described: dict[str, tuple[tuple[int, ...], list[str], str]] = {}
    for version, cid, written, text in conn.execute(
        select(
            CapabilityDescription.framework_version,
            CapabilityDescription.capability_id,
            CapabilityDescription.id_as_written,
            CapabilityDescription.description,
        )
        .where(CapabilityDescription.framework == framework)
        .order_by(CapabilityDescription.source, CapabilityDescription.position)
    ):
        key = version_key(version)
        text = (text or "").strip()
        cur = described.get(cid)
        if cur is None or key > cur[0]:
            described[cid] = (key, [text] if text else [], written.strip())
        elif key == cur[0] and text and text not in cur[1]:
            cur[1].append(text)

    wanted: dict[str, dict[str, Any]] = {}
    for cid in best.keys() | described.keys():
        seen = best.get(cid)
        desc = described.get(cid)
        if seen is not None:
            groups = releases[seen.release_pk][1]
            group_name = groups.get(seen.group) if seen.group else None
            written = seen.written.most_common(1)[0][0]
            wanted[cid] = {
                "id_as_written": written,
                "name": seen.name,
                "group": seen.group,
                "group_name": group_name if isinstance(group_name, str) else None,
            }
        else:
            assert desc is not None
            wanted[cid] = {"id_as_written": desc[2], "name": None, "group": None, "group_name": None}
        wanted[cid]["description"] = "\n\n".join(desc[1]) if desc and desc[1] else None

    existing = {
        row.capability_id: row
        for row in conn.execute(
            select(
                Capability.id,
                Capability.capability_id,
                Capability.id_as_written,
                Capability.name,
                Capability.group,
                Capability.group_name,
                Capability.description,
            ).where(Capability.framework == framework)
        )
    }
    fields = ("id_as_written", "name", "group", "group_name", "description")
    changed = [
        {"b_pk": row.id, **{f"v_{f}": wanted[cid][f] for f in fields}}
        for cid, row in existing.items()
        if cid in wanted and any(getattr(row, f) != wanted[cid][f] for f in fields)
    ]
    if changed:
        conn.execute(
            update(Capability)
            .where(Capability.id == bindparam("b_pk"))
            .values({f: bindparam(f"v_{f}") for f in fields}),
            changed,
        )
    gone = [row.id for cid, row in existing.items() if cid not in wanted]
    if gone:
        conn.execute(delete(Capability).where(Capability.id.in_(gone)))
    now = utcnow()
    fresh = [
        {"framework": framework, "capability_id": cid, "first_seen_at": now, **values}
        for cid, values in wanted.items()
        if cid not in existing
    ]
    if fresh:
        conn.execute(insert(Capability), fresh)
    return dict(
        conn.execute(
            select(Capability.capability_id, Capability.id).where(Capability.framework == framework)
        ).all()
    )


def release_keys_text(keys: Iterable[ReleaseKey]) -> list[str]:
    return [release_key_text(k) for k in keys]


def group_by_framework(items: Iterable[tuple[int, ReleaseData]]) -> dict[str, list[tuple[int, ReleaseData]]]:
    out: dict[str, list[tuple[int, ReleaseData]]] = defaultdict(list)
    for pk, data in items:
        out[data.key[0]].append((pk, data))
    return out
