"""Read queries: a subject plus filters in, view dataclasses (``bot.views``) out.

Each view is a handful of indexed selects on the denormalised ``mappings`` columns, never one
query per row; the batch helpers for digests (``technique_coverage``, ``top_controls``) take
hundreds of techniques in two or three queries.  Releases and tactics are tiny and read whole.
"""

from __future__ import annotations

import re
from collections import defaultdict, namedtuple
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from operator import attrgetter
from typing import Any

import orjson
from sqlalchemy import Dialect, Engine, Text, bindparam, case, cast, func, or_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from bot.resolution import SCORE_CATEGORIES, Filters
from bot.views import (
    CapabilityRef,
    CapabilityView,
    CategoryCoverage,
    CompareView,
    ControlLine,
    Coverage,
    CveTechnique,
    CveView,
    FrameworkSection,
    FrameworkView,
    GroupMember,
    GroupView,
    MappingGroup,
    MappingLine,
    MessageView,
    MitigationLine,
    PairRelease,
    PairView,
    ReleaseRef,
    ReleaseSummary,
    SubTechniqueCount,
    TacticGroup,
    TechniqueHeader,
    TechniqueRef,
    TechniqueView,
    View,
    ViewRequest,
    category_rank,
    framework_label,
    score_rank,
)
from store.models import (
    Capability,
    CapabilityDescription,
    Mapping,
    Mitigation,
    MitigationLink,
    Release,
    Tactic,
    Technique,
)

EXPLORER_URL = (
    "https://center-for-threat-informed-defense.github.io/mappings-explorer/"
    "attack/attack-{version}/domain-{domain}/techniques/{id}/"
)
NON_MAPPABLE = "non_mappable"
NO_FILTERS = Filters()
MAX_CLOSEST = 8
OTHER_TACTIC = "Other"

# --------------------------------------------------------------------------- reading


class _Prepared:
    """A Core statement compiled once for one dialect: its SQL, how to bind its parameters and
    how to shape its rows."""

    __slots__ = ("compiled", "defaults", "expanding", "json", "names", "qmark", "row", "sql", "stmt")

    def __init__(self, stmt: Any, dialect: Dialect) -> None:
        self.stmt = stmt  # kept alive: the cache is keyed by id()
        self.compiled = stmt.compile(dialect=dialect)
        self.sql: str = self.compiled.string
        self.qmark = dialect.paramstyle == "qmark"
        self.names: list[str] = list(self.compiled.positiontup or ()) if self.qmark else []
        self.expanding = "__[POSTCOMPILE_" in self.sql
        # Values written into the statement (``status != "non_mappable"``), under their bind names.
        self.defaults = {name: b.effective_value for name, b in self.compiled.binds.items() if not b.required}
        keys = [str(c.key) if c.key else f"c{i}" for i, c in enumerate(stmt.selected_columns)]
        # JSON columns are selected as text (``_json``) and decoded here with orjson, the same on
        # both backends and far cheaper than the drivers' json.loads.
        self.json = tuple(i for i, k in enumerate(keys) if k.endswith(JSON_SUFFIX))
        fields = [k.removesuffix(JSON_SUFFIX) for k in keys]
        self.row: Any = namedtuple("Row", fields, rename=True)  # type: ignore[misc]

    def bind(self, given: dict[str, Any]) -> tuple[str, Any]:
        params = {**self.defaults, **given} if self.defaults else given
        if not self.qmark:  # psycopg: named parameters
            if not self.expanding:
                return self.sql, params
            state = self.compiled.construct_expanded_state(params)
            return state.statement, state.parameters
        if not self.expanding:
            return self.sql, tuple(params[n] for n in self.names)
        sql, args = self.sql, []
        for name in self.names:
            value = params[name]
            token = f"__[POSTCOMPILE_{name}]"
            if token in sql:
                if not value:  # SQLAlchemy's empty-set form, rare: let it render
                    state = self.compiled.construct_expanded_state(params)
                    return state.statement, state.positional_parameters
                sql = sql.replace(token, ", ".join("?" * len(value)), 1)
                args.extend(value)
            else:
                args.append(value)
        return sql, tuple(args)


JSON_SUFFIX = "__json"
_PREPARED: dict[tuple[int, str], _Prepared] = {}


def _json(column: Any) -> Any:
    """A JSON column read as its text, decoded when the row is built."""
    return cast(column, Text).label(column.key + JSON_SUFFIX)


class Reader:
    """The read side of one view: a DB-API cursor inside an open transaction, and ``info`` (as
    on a Session: releases and tactics of the data version, seeded by the caller).

    Statements are SQLAlchemy Core, compiled once per dialect, run on the driver's cursor:
    SQLAlchemy's per-execution machinery (result objects, row processors) costs about twenty
    times an indexed SQLite select, and an answer runs several.  Rows are named tuples of
    the driver's values; the few typed columns read here are made backend-neutral (JSON as
    text, booleans through ``bool()``, dates through ``_iso``)."""

    def __init__(self, cursor: Any, dialect: Dialect, info: dict[str, Any] | None = None) -> None:
        self.cursor = cursor
        self.dialect = dialect
        self.info: dict[str, Any] = {} if info is None else info

    def rows(self, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
        key = (id(stmt), self.dialect.name)
        prep = _PREPARED.get(key)
        if prep is None or prep.stmt is not stmt:
            if len(_PREPARED) > 1000:  # only module-level statements belong here
                _PREPARED.clear()
            prep = _PREPARED[key] = _Prepared(stmt, self.dialect)
        sql, args = prep.bind(params or {})
        dbapi = self.dialect.loaded_dbapi
        try:
            self.cursor.execute(sql, args)
            fetched = self.cursor.fetchall()
        except dbapi.Error as exc:  # the exceptions callers know (OperationalError, ...)
            raise DBAPIError.instance(sql, args, exc, dbapi.Error) from exc
        make = prep.row._make
        if not prep.json:
            return [make(r) for r in fetched]
        out = []
        for r in fetched:
            values = list(r)
            for i in prep.json:
                raw = values[i]
                values[i] = orjson.loads(raw) if raw is not None else None
            out.append(make(values))
        return out


@contextmanager
def reading(engine: Engine, info: dict[str, Any] | None = None) -> Iterator[Reader]:
    """A Reader on a pooled connection in one read transaction (one snapshot for all of a
    view's statements), rolled back when the pool takes the connection back."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute("BEGIN")  # store.db hands SQLite transactions to us
        yield Reader(cursor, engine.dialect, info)
    finally:
        raw.close()


Source = Session | Reader


def reader(source: Source) -> Reader:
    """The Reader of a Session (its transaction's connection and its ``info``), or itself."""
    if isinstance(source, Reader):
        return source
    conn = source.connection()
    return Reader(conn.connection.dbapi_connection.cursor(), conn.dialect, source.info)  # type: ignore[union-attr]


def _scalars(session: Source, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
    return [r[0] for r in reader(session).rows(stmt, params)]


def _q(session: Source, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
    """Rows of a module-level column select (bound parameters only; see ``Reader``)."""
    return reader(session).rows(stmt, params)


def _iso(value: Any) -> str | None:
    """A date column as ISO text: SQLite returns the text, psycopg a date."""
    if not value:
        return None
    return value if isinstance(value, str) else str(value.isoformat())


@dataclass(frozen=True)
class ReleaseInfo:
    pk: int
    ref: ReleaseRef
    mapping_types: dict[str, Any]
    capability_groups: dict[str, Any]
    mapping_count: int
    non_mappable_count: int

    def type_label(self, mapping_type: str) -> str:
        declared = self.mapping_types.get(mapping_type)
        name = str(declared["name"]) if isinstance(declared, dict) and declared.get("name") else mapping_type
        # Some files declare the key itself ("primary_impact", "related-to"): make it readable.
        if name == name.lower():
            name = re.sub(r"[_-]+", " ", name).strip().capitalize()
        return name


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text))


def version_key(framework_version: str) -> tuple[int, ...]:
    """Orders ``rev4 < rev5``, ``1.3.7 < 1.4.0`` and dates written ``MM/DD/YYYY``."""
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", framework_version.strip())
    if m:
        return (int(m[3]), int(m[1]), int(m[2]))
    return _numbers(framework_version)


def release_key(ref: ReleaseRef) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Newest first when sorted descending: ATT&CK version, then the framework's own version."""
    return (_numbers(ref.attack_version), version_key(ref.framework_version))


_RELEASES = select(
    Release.id,
    Release.framework,
    Release.framework_version,
    Release.attack_version,
    Release.domain,
    Release.last_update,
    Release.mapping_version,
    _json(Release.mapping_types),
    _json(Release.capability_groups),
    Release.mapping_count,
    Release.non_mappable_count,
)


RELEASES_KEY = "countermap.releases"
TACTICS_KEY = "countermap.tactics"
TECHNIQUES_KEY = "countermap.techniques"


def load_releases(session: Source) -> list[ReleaseInfo]:
    """Every release, newest first.  A caller that knows the data has not changed (the
    Answerer, by data version) may put an earlier result in ``session.info[RELEASES_KEY]``."""
    seeded = session.info.get(RELEASES_KEY)
    if seeded is not None:
        return list(seeded)
    rows = _q(session, _RELEASES)
    out = [
        ReleaseInfo(
            pk=r.id,
            ref=ReleaseRef(
                framework=r.framework,
                framework_version=r.framework_version,
                attack_version=r.attack_version,
                domain=r.domain,
                last_update=_iso(r.last_update),
                mapping_version=r.mapping_version or None,
            ),
            mapping_types=r.mapping_types or {},
            capability_groups=r.capability_groups or {},
            mapping_count=r.mapping_count or 0,
            non_mappable_count=r.non_mappable_count or 0,
        )
        for r in rows
    ]
    out.sort(key=lambda i: release_key(i.ref), reverse=True)
    return out


def _matches(info: ReleaseInfo, filters: Filters, domain: str | None) -> bool:
    ref = info.ref
    if domain and ref.domain != domain:
        return False
    if filters.framework_version and ref.framework_version.lower() != filters.framework_version.lower():
        return False
    return not (filters.attack_version and ref.attack_version != filters.attack_version)


def pick_releases(
    releases: Sequence[ReleaseInfo], frameworks: Iterable[str], filters: Filters, domain: str | None
) -> dict[str, ReleaseInfo]:
    """The newest release per framework in ``domain`` that the filters allow."""
    wanted = list(frameworks)
    chosen: dict[str, ReleaseInfo] = {}
    for info in releases:  # newest first
        fw = info.ref.framework
        if fw in wanted and fw not in chosen and _matches(info, filters, domain):
            chosen[fw] = info
    return {fw: chosen[fw] for fw in wanted if fw in chosen}


# --------------------------------------------------------------------------- text helpers

_CITATION = re.compile(r"\s*\(Citation:[^)]*\)")
_PARAGRAPH = re.compile(r"\n\s*\n")
_SPACES = re.compile(r"[ \t]+")
_MD_LINK = re.compile(r"\[([^\]]+)\]\((?:https?://[^)\s]+)\)")
_TAGS = re.compile(r"</?(?:code|b|i|em|strong|br)\s*/?>", re.IGNORECASE)
_LICENSE_HEADING = re.compile(
    r"^[ \t]*(?:licen[sc]e[ \t]+requirements?[ \t]*:?"
    r"|required[ \t]+licen[sc]es?[ \t]*:?|licen[sc]es?[ \t]*:)",
    re.IGNORECASE | re.MULTILINE,
)


def summarise_description(description: str | None) -> str:
    """First paragraph of an ATT&CK description, without citations, links or HTML tags."""
    if not description:
        return ""
    # Paragraph by paragraph, so that a long description is cleaned only as far as needed.
    for paragraph in _PARAGRAPH.split(description.replace("\r\n", "\n")):
        text = _TAGS.sub("", _MD_LINK.sub(r"\1", _CITATION.sub("", paragraph)))
        text = _SPACES.sub(" ", text).strip()
        if text:
            return text
    return ""


def split_comments(comments: str | None, license_requirements: str | None) -> str | None:
    """The comments without the trailing license block (shown on its own line instead)."""
    if not comments:
        return None
    text = comments.replace("\r\n", "\n").replace("\r", "\n").strip()
    if license_requirements:
        heading = _LICENSE_HEADING.search(text)
        if heading:
            text = text[: heading.start()].rstrip()
    return text or None


def _technique_urls(attack_id: str, domain: str, attack_version: str) -> tuple[str, str]:
    base, _, sub = attack_id.partition(".")
    attack = f"https://attack.mitre.org/techniques/{base}/" + (f"{sub}/" if sub else "")
    explorer = EXPLORER_URL.format(version=attack_version, domain=domain, id=attack_id)
    return attack, explorer


# --------------------------------------------------------------------------- mapping rows

_MAPPING_COLS = (
    Mapping.release_id,
    Mapping.framework,
    Mapping.capability_id,
    Mapping.capability_id_as_written,
    Mapping.capability_name,
    Mapping.capability_group,
    Mapping.attack_id,
    Mapping.attack_name,
    Mapping.mapping_type,
    Mapping.score_category,
    Mapping.score_value,
    Mapping.comments,
    _json(Mapping.references),
    Mapping.status,
    Mapping.license_requirements,
    Mapping.position,
)


# What ranking controls needs: no comments, references (JSON) or license text, whose decoding
# was most of a digest's compose time.
_CONTROL_COLS = (
    Mapping.framework,
    Mapping.capability_id,
    Mapping.capability_name,
    Mapping.attack_id,
    Mapping.mapping_type,
    Mapping.score_category,
    Mapping.score_value,
    Mapping.status,
)


_LIVE = or_(Mapping.status.is_(None), Mapping.status != NON_MAPPABLE)


def _ids(name: str) -> Any:
    return bindparam(name, expanding=True)


# Statements built once, with bound parameters only: ``Reader`` compiles each once per dialect.
_TECHNIQUE_ROWS = (
    select(*_MAPPING_COLS)
    .where(Mapping.attack_id == bindparam("tid"), Mapping.release_id.in_(_ids("pks")))
    .order_by(Mapping.position)
)
# A technique's mappings per release, and its sub-techniques' in the releases shown: the
# (attack_id, release_id, status) index answers alone.  Two selects, because one over the
# whole family would count every sub-technique in every release (887 rows for T1048's).
_COUNTS_BY_RELEASE = (
    select(Mapping.release_id, func.count())
    .where(Mapping.attack_id == bindparam("tid"), _LIVE)
    .group_by(Mapping.release_id)
)
_SUB_COUNTS = (
    select(Mapping.attack_id, Mapping.release_id, func.count())
    .where(Mapping.attack_id.in_(_ids("tids")), Mapping.release_id.in_(_ids("pks")), _LIVE)
    .group_by(Mapping.attack_id, Mapping.release_id)
)
_CAPABILITY_WHERE = (Mapping.framework == bindparam("fw")) & (Mapping.capability_id == bindparam("cid"))
_CAPABILITY_PRESENCE = (
    select(Mapping.release_id, func.count(), func.sum(case((_LIVE, 1), else_=0)))
    .where(_CAPABILITY_WHERE)
    .group_by(Mapping.release_id)
)
_CAPABILITY_RELEASES = select(Mapping.release_id).where(_CAPABILITY_WHERE).distinct()
# In file order, sorted in Python: SQLite's ORDER BY would copy a big control's rows into a
# temporary B-tree first.
_CAPABILITY_ROWS = select(*_MAPPING_COLS).where(_CAPABILITY_WHERE, Mapping.release_id == bindparam("pk"))


def _own(column: Any, label: str) -> Any:
    """``column`` on the pair's own technique's rows, NULL on its sub-techniques' (whose rows a
    pair answer only counts): comments and references are most of a row's size."""
    return case((Mapping.attack_id == bindparam("tid"), column)).label(label)


_PAIR_ROWS = (
    select(
        *(
            c
            for c in _MAPPING_COLS
            if c.key not in ("comments", "references" + JSON_SUFFIX, "license_requirements")
        ),
        _own(Mapping.comments, "comments"),
        _own(cast(Mapping.references, Text), "references" + JSON_SUFFIX),
        _own(Mapping.license_requirements, "license_requirements"),
    )
    .where(
        # framework || '' and release_id + 0 leave SQLite the (attack_id, capability_id) index:
        # the capability or release ones walk every row of a big control (thousands for SC-07)
        # or of whole releases for the few of one technique.
        (Mapping.framework + "") == bindparam("fw"),
        Mapping.capability_id == bindparam("cid"),
        Mapping.attack_id.in_(_ids("tids")),
        (Mapping.release_id + 0).in_(_ids("pks")),
        # Sub-techniques count in the newest release only.
        or_(Mapping.attack_id == bindparam("tid"), (Mapping.release_id + 0) == bindparam("newest")),
    )
    .order_by(Mapping.position)
)


def _is_non_mappable(row: Any) -> bool:
    return row.status == NON_MAPPABLE or row.mapping_type == NON_MAPPABLE


def _implied_category(row: Any) -> str | None:
    """Category of a row for filtering: its score category, or "protect" for the unscored
    ``protects``/``mitigates`` types, which is what they mean."""
    if row.score_category:
        return str(row.score_category)
    mt = (row.mapping_type or "").lower()
    return "protect" if ("protect" in mt or "mitigat" in mt) else None


def _passes(row: Any, filters: Filters) -> bool:
    if filters.categories and _implied_category(row) not in filters.categories:
        return False
    return not (filters.min_score and score_rank(row.score_value) < score_rank(filters.min_score))


def _line(row: Any, info: ReleaseInfo) -> MappingLine:
    return _lines([row], info)[0]


def _lines(rows: Iterable[Any], info: ReleaseInfo) -> list[MappingLine]:
    """Rows of one release as lines; its type labels and key prefix are worked out once (a
    big control has hundreds of rows)."""
    ref = info.ref
    prefix = f"{ref.framework_version}@{ref.attack_version}@{ref.domain}|"
    labels: dict[str, str] = {}
    out = []
    for row in rows:
        mt = row.mapping_type or ""
        label = labels.get(mt)
        if label is None:
            label = labels[mt] = info.type_label(mt)
        refs = row.references
        lic = row.license_requirements
        out.append(
            MappingLine(
                key=f"{prefix}{row.capability_id}|{row.attack_id}|{mt}",
                framework=row.framework,
                capability_id=row.capability_id or "",
                capability_name=(row.capability_name or "").strip(),
                capability_id_as_written=row.capability_id_as_written or row.capability_id or "",
                group=row.capability_group,
                attack_id=row.attack_id or "",
                attack_name=(row.attack_name or "").strip(),
                mapping_type=mt,
                mapping_type_label=label,
                score_category=row.score_category,
                score_value=row.score_value,
                comments=split_comments(row.comments, lic) if row.comments else None,
                license_requirements=(lic.strip() or None) if lic else None,
                references=tuple(str(r) for r in refs if r) if refs and isinstance(refs, list) else (),
            )
        )
    return out


def _line_order(line: MappingLine) -> tuple[Any, ...]:
    return (
        category_rank(line.score_category),
        -score_rank(line.score_value),
        line.capability_id,
        line.attack_id,
    )


def group_lines(lines: Iterable[MappingLine], *, sort: bool = True) -> tuple[MappingGroup, ...]:
    """By score category (protect, detect, respond) when scored, else by mapping type in the
    order first seen; strongest score first inside a group (``sort=False``: as given)."""
    buckets: dict[tuple[str, str | None], list[MappingLine]] = {}
    for line in lines:
        key = (line.mapping_type, line.score_category)
        buckets.setdefault(key, []).append(line)
    ordered = sorted(buckets.items(), key=lambda kv: (category_rank(kv[0][1]),))
    groups = []
    for (mt, cat), members in ordered:
        label = cat.capitalize() if cat else members[0].mapping_type_label
        kept = sorted(members, key=_line_order) if sort else members
        groups.append(MappingGroup(label, mt, cat, tuple(kept)))
    return tuple(groups)


# --------------------------------------------------------------------------- ATT&CK objects


_TACTICS = select(Tactic.domain, Tactic.shortname, Tactic.name, Tactic.position)


def tactic_names(session: Source) -> dict[tuple[str, str], tuple[int, str]]:
    seeded = session.info.get(TACTICS_KEY)
    if seeded is not None:
        return dict(seeded)
    rows = _q(session, _TACTICS)
    return {(r.domain, r.shortname): (r.position, r.name) for r in rows}


_TECHNIQUE_COLS = (
    Technique.attack_id,
    Technique.name,
    Technique.domain,
    Technique.url,
    _json(Technique.tactics),
    _json(Technique.platforms),
    Technique.is_subtechnique,
    Technique.parent_attack_id,
    Technique.revoked,
    Technique.deprecated,
    Technique.revoked_by,
)


_TECHNIQUES = select(*_TECHNIQUE_COLS).where(Technique.attack_id.in_(bindparam("ids", expanding=True)))
# What grouping a control's techniques by tactic needs, for hundreds of them.
_TECHNIQUE_TACTICS = select(
    Technique.attack_id, Technique.domain, _json(Technique.tactics), Technique.revoked
).where(Technique.attack_id.in_(bindparam("ids", expanding=True)))
_TECHNIQUES_DESCRIBED = select(*_TECHNIQUE_COLS, Technique.description).where(
    Technique.attack_id.in_(bindparam("ids", expanding=True))
)


def _by_id(rows: Iterable[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for t in rows:  # prefer a current object when a domain has the ID twice
        if t.attack_id not in out or (out[t.attack_id].revoked and not t.revoked):
            out[t.attack_id] = t
    return out


_CATALOGUE = select(*_TECHNIQUE_COLS, Technique.description)


@dataclass(frozen=True)
class TechniqueCatalogue:
    """Every ATT&CK technique (about a thousand rows, 1.4 MB with descriptions, a few ms to
    read), for the views' look-ups: a control's techniques by ID would otherwise be hundreds
    of rows, each read past its long description for the tactics stored after it, and every
    technique answer a select of the technique, its parent and its sub-techniques."""

    techniques: dict[str, Any]  # attack_id -> row with description, as ``_techniques`` gives them
    children: dict[str, list[tuple[str, str]]]  # parent -> current sub-techniques (ID, name), by ID
    mitigations: dict[str, tuple[MitigationLine, ...]]  # technique -> current mitigations, by ID


def technique_catalogue(session: Source) -> TechniqueCatalogue:
    seeded = session.info.get(TECHNIQUES_KEY)
    if seeded is not None:
        return seeded
    rows = _q(session, _CATALOGUE)
    children: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: r.attack_id):
        if r.parent_attack_id and not r.revoked and not r.deprecated:
            children[r.parent_attack_id].append((r.attack_id, r.name))
    mitigations: dict[str, set[MitigationLine]] = defaultdict(set)
    for m in _q(session, _ALL_MITIGATIONS):
        mitigations[m.technique_attack_id].add(MitigationLine(m.attack_id, m.name, m.url))
    return TechniqueCatalogue(
        _by_id(rows),
        dict(children),
        {tid: tuple(sorted(lines, key=lambda m: m.id)) for tid, lines in mitigations.items()},
    )


def _techniques(
    session: Source, ids: Iterable[str], *, description: bool = False, tactics_only: bool = False
) -> dict[str, Any]:
    """ATT&CK rows by ID (the description, long, only when asked for; ``tactics_only``: ID,
    domain, tactics and revoked alone, or more when the catalogue is at hand)."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        return {}
    catalogue = session.info.get(TECHNIQUES_KEY)
    if catalogue is not None:
        known = catalogue.techniques
        return {i: known[i] for i in ids if i in known}
    stmt = _TECHNIQUE_TACTICS if tactics_only else _TECHNIQUES_DESCRIBED if description else _TECHNIQUES
    return _by_id(_q(session, stmt, {"ids": ids}))


def static_info(session: Source) -> dict[str, Any]:
    """What changes only with the data version, for ``Source.info``: a caller that knows the
    data has not changed (the Answerer, by data version) reads it once and seeds each reader."""
    return {
        RELEASES_KEY: load_releases(session),
        TACTICS_KEY: tactic_names(session),
        TECHNIQUES_KEY: technique_catalogue(session),
    }


# A technique, its parent and its sub-techniques in one select (the description, long, for the
# technique alone): what a technique or pair answer needs of ATT&CK besides mitigations.
_FAMILY = select(
    *_TECHNIQUE_COLS,
    case((Technique.attack_id == bindparam("tid"), Technique.description)).label("description"),
).where(
    or_(
        Technique.attack_id.in_(bindparam("ids", expanding=True)),
        Technique.parent_attack_id == bindparam("tid"),
    )
)


def _family(session: Source, technique_id: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """(the technique and its parent by ID, as ``_techniques`` gives them; its current
    sub-techniques as (ID, name), by ID)."""
    parent = technique_id.split(".")[0]
    ids = [technique_id] if parent == technique_id else [technique_id, parent]
    catalogue = session.info.get(TECHNIQUES_KEY)
    if catalogue is not None:
        return _techniques(session, ids), list(catalogue.children.get(technique_id, ()))
    rows = _q(session, _FAMILY, {"tid": technique_id, "ids": ids})
    loaded: dict[str, Any] = {}
    subs = []
    for t in rows:
        if t.attack_id in ids:
            if t.attack_id not in loaded or (loaded[t.attack_id].revoked and not t.revoked):
                loaded[t.attack_id] = t
        elif t.parent_attack_id == technique_id and not t.revoked and not t.deprecated:
            subs.append((t.attack_id, t.name))
    subs.sort(key=lambda s: s[0])
    return loaded, subs


def _ordered_tactics(tech: Any, tactics: dict[tuple[str, str], tuple[int, str]]) -> tuple[str, ...]:
    named = [tactics.get((tech.domain, s), (99, s.replace("-", " ").title())) for s in tech.tactics or []]
    return tuple(name for _, name in sorted(named))


def technique_header(
    session: Source,
    technique_id: str,
    *,
    attack_version: str | None = None,
    fallback_name: str = "",
    domain: str | None = None,
    tactics: dict[tuple[str, str], tuple[int, str]] | None = None,
    loaded: dict[str, Any] | None = None,
) -> TechniqueHeader:
    """Header facts; ``loaded`` (rows with descriptions) saves the look-up."""
    tech = (loaded if loaded is not None else _techniques(session, [technique_id], description=True)).get(
        technique_id
    )
    if tech is None:
        dom = domain or "enterprise"
        attack, explorer = _technique_urls(technique_id, dom, attack_version or "16.1")
        parent_id = technique_id.split(".")[0] if "." in technique_id else None
        return TechniqueHeader(
            id=technique_id,
            name=fallback_name or technique_id,
            domain=dom,
            tactics=(),
            platforms=(),
            summary="",
            attack_url=attack,
            explorer_url=explorer,
            is_subtechnique=parent_id is not None,
            parent=TechniqueRef(parent_id, parent_id, dom) if parent_id else None,
            known=False,
        )
    tactics = tactics if tactics is not None else tactic_names(session)
    related = [i for i in (tech.parent_attack_id, tech.revoked_by) if i]
    others = {i: loaded[i] for i in related if loaded is not None and i in loaded}
    missing = [i for i in related if i not in others]
    if missing:
        others.update(_techniques(session, missing))
    attack, explorer = _technique_urls(tech.attack_id, tech.domain, attack_version or "16.1")
    parent = others.get(tech.parent_attack_id or "")
    replacement = others.get(tech.revoked_by or "")
    return TechniqueHeader(
        id=tech.attack_id,
        name=tech.name,
        domain=tech.domain,
        tactics=_ordered_tactics(tech, tactics),
        platforms=tuple(tech.platforms or ()),
        summary=summarise_description(tech.description),
        attack_url=tech.url or attack,
        explorer_url=explorer,
        is_subtechnique=bool(tech.is_subtechnique),
        parent=TechniqueRef(parent.attack_id, parent.name, parent.domain) if parent else None,
        revoked=bool(tech.revoked),
        deprecated=bool(tech.deprecated),
        replaced_by=(
            TechniqueRef(replacement.attack_id, replacement.name, replacement.domain)
            if replacement
            else (TechniqueRef(tech.revoked_by, tech.revoked_by, tech.domain) if tech.revoked_by else None)
        ),
    )


_MITIGATIONS = (
    select(Mitigation.attack_id, Mitigation.name, Mitigation.url)
    .join(MitigationLink, MitigationLink.mitigation_pk == Mitigation.id)
    .where(
        MitigationLink.technique_attack_id == bindparam("tid"),
        Mitigation.revoked.is_(False),
        Mitigation.deprecated.is_(False),
    )
    .distinct()
)
_ALL_MITIGATIONS = select(
    MitigationLink.technique_attack_id, Mitigation.attack_id, Mitigation.name, Mitigation.url
).where(
    MitigationLink.mitigation_pk == Mitigation.id,
    Mitigation.revoked.is_(False),
    Mitigation.deprecated.is_(False),
)


def _mitigations(session: Source, technique_id: str) -> tuple[MitigationLine, ...]:
    catalogue = session.info.get(TECHNIQUES_KEY)
    if catalogue is not None:
        return catalogue.mitigations.get(technique_id, ())
    rows = _q(session, _MITIGATIONS, {"tid": technique_id})
    return tuple(sorted((MitigationLine(r.attack_id, r.name, r.url) for r in rows), key=lambda m: m.id))


# Ordered in Python: an ORDER BY attack_id would have SQLite walk the attack_id index (the
# whole table) rather than seek the parent one.
_SUBTECHNIQUES = select(Technique.parent_attack_id, Technique.attack_id, Technique.name).where(
    Technique.parent_attack_id.in_(bindparam("parents", expanding=True)),
    Technique.revoked.is_(False),
    Technique.deprecated.is_(False),
)


def _subtechniques(session: Source, parent_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """Current sub-techniques per parent, by ID; one statement whatever the number of parents."""
    if not parent_ids:
        return {}
    catalogue = session.info.get(TECHNIQUES_KEY)
    if catalogue is not None:
        return {p: list(catalogue.children[p]) for p in parent_ids if p in catalogue.children}
    rows = sorted(_q(session, _SUBTECHNIQUES, {"parents": list(parent_ids)}), key=lambda r: r.attack_id)
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in rows:
        if r.parent_attack_id:
            out[r.parent_attack_id].append((r.attack_id, r.name))
    return out


def _other_releases(
    releases: Sequence[ReleaseInfo], counts: dict[int, int], framework: str, shown: ReleaseInfo | None
) -> tuple[tuple[ReleaseRef, int], ...]:
    return tuple(
        (i.ref, counts[i.pk])
        for i in releases
        if i.ref.framework == framework and i.pk in counts and (shown is None or i.pk != shown.pk)
    )


def _domain_of(session: Source, technique_id: str, hint: str | None) -> str:
    if hint:
        return hint
    tech = _techniques(session, [technique_id]).get(technique_id)
    return tech.domain if tech else "enterprise"


# --------------------------------------------------------------------------- technique view


def technique_view(
    session: Source,
    technique_id: str,
    *,
    frameworks: Sequence[str],
    filters: Filters = NO_FILTERS,
    domain: str | None = None,
) -> TechniqueView:
    """The technique page: header facts, mitigations, then per framework its newest (or the
    filtered) release's mappings, sub-technique counts and non-mappable notes."""
    session = reader(session)
    releases = load_releases(session)
    loaded, subs = _family(session, technique_id)
    own = loaded.get(technique_id)
    domain = filters.domain or domain or (own.domain if own else "enterprise")
    all_frameworks = list(dict.fromkeys(i.ref.framework for i in releases))
    chosen = pick_releases(releases, frameworks, filters, domain)
    newest_any = pick_releases(releases, all_frameworks, Filters(), domain)
    sub_ids = [s for s, _ in subs]

    counts = {pk: int(n) for pk, n in _q(session, _COUNTS_BY_RELEASE, {"tid": technique_id})}
    pks = [i.pk for i in chosen.values()]
    sub_per_release: dict[str, dict[int, int]] = defaultdict(dict)
    if sub_ids and pks:
        for attack_id, pk, n in _q(session, _SUB_COUNTS, {"tids": sub_ids, "pks": pks}):
            sub_per_release[attack_id][pk] = int(n)
    rows = _q(session, _TECHNIQUE_ROWS, {"tid": technique_id, "pks": pks}) if pks else []
    by_release: dict[int, list[Any]] = defaultdict(list)
    for r in rows:
        by_release[r.release_id].append(r)

    hidden = 0
    sections = []
    file_name = ""
    for fw, info in chosen.items():
        release_rows = by_release.get(info.pk, [])
        mapped = [r for r in release_rows if not _is_non_mappable(r) and r.capability_id]
        shown = [r for r in mapped if _passes(r, filters)]
        hidden += len(mapped) - len(shown)
        file_name = file_name or next((r.attack_name for r in release_rows if r.attack_name), "")
        lines = _lines(shown, info)
        sections.append(
            FrameworkSection(
                framework=fw,
                release=info.ref,
                groups=group_lines(lines),
                total=len(lines),
                non_mappable=any(_is_non_mappable(r) for r in release_rows),
                other_releases=_other_releases(releases, counts, fw, info),
            )
        )

    sub_counts: list[SubTechniqueCount] = []
    if sub_ids and pks:
        for sid, sname in subs:
            per = sub_per_release.get(sid, {})
            fw_counts = tuple((fw, per[info.pk]) for fw, info in chosen.items() if info.pk in per)
            sub_counts.append(SubTechniqueCount(sid, sname, sum(n for _, n in fw_counts), fw_counts))
    else:
        sub_counts = [SubTechniqueCount(sid, sname, 0) for sid, sname in subs]

    also = tuple(
        (fw, counts[info.pk]) for fw, info in newest_any.items() if fw not in chosen and counts.get(info.pk)
    )
    attack_version = filters.attack_version or (sections[0].release.attack_version if sections else None)
    header = technique_header(
        session,
        technique_id,
        attack_version=attack_version,
        fallback_name=file_name,
        domain=domain,
        loaded=loaded,
    )
    notes = []
    if hidden:
        notes.append(f"{hidden} mapping{'s' if hidden != 1 else ''} hidden by the category or score filter.")
    missing = [fw for fw in frameworks if fw not in chosen]
    if missing:
        labels = ", ".join(framework_label(fw) for fw in missing)
        notes.append(f"No {domain} release of {labels} matches the filters.")
    return TechniqueView(
        header=header,
        mitigations=_mitigations(session, technique_id),
        sections=tuple(sections),
        subtechniques=tuple(sub_counts),
        filters=filters,
        frameworks=tuple(frameworks),
        also_mapped_in=also,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------- capability view


_CAPABILITY = select(
    Capability.capability_id, Capability.name, Capability.group, Capability.group_name
).where(Capability.framework == bindparam("fw"), Capability.capability_id == bindparam("cid"))
_CAPABILITY_DESCRIBED = select(
    Capability.capability_id,
    Capability.name,
    Capability.group,
    Capability.group_name,
    Capability.description,
).where(Capability.framework == bindparam("fw"), Capability.capability_id == bindparam("cid"))
_DESCRIPTIONS = select(CapabilityDescription.framework_version, CapabilityDescription.description).where(
    CapabilityDescription.framework == bindparam("fw"),
    CapabilityDescription.capability_id == bindparam("cid"),
)
_STORED_DESCRIPTION = select(Capability.description).where(
    Capability.framework == bindparam("fw"), Capability.capability_id == bindparam("cid")
)


def _capability_ref(session: Source, framework: str, capability_id: str) -> CapabilityRef:
    return _capability(session, framework, capability_id)[0]


def _capability(
    session: Source, framework: str, capability_id: str, *, described: bool = False
) -> tuple[CapabilityRef, list[str | None]]:
    """The capability, and (``described``) its stored description as ``[text]``, ``[]`` when
    the capability is not stored."""
    stmt = _CAPABILITY_DESCRIBED if described else _CAPABILITY
    found = _q(session, stmt, {"fw": framework, "cid": capability_id})
    if not found:
        return CapabilityRef(framework, capability_id, capability_id), []
    cap = found[0]
    ref = CapabilityRef(
        framework, cap.capability_id, (cap.name or cap.capability_id).strip(), cap.group, cap.group_name
    )
    return ref, [cap.description] if described else []


def _capability_description(
    session: Source,
    framework: str,
    capability_id: str,
    framework_version: str | None,
    stored: list[str | None] | None = None,
) -> str | None:
    """The description list of the same framework version first, else any, else the stored one
    (``stored``: already read with the capability)."""
    key = {"fw": framework, "cid": capability_id}
    rows = _q(session, _DESCRIPTIONS, key)
    if rows:
        rows = sorted(rows, key=lambda r: (r[0] != framework_version, [-n for n in version_key(r[0] or "")]))
        return str(rows[0][1]).strip() or None
    if stored is None:
        stored = _scalars(session, _STORED_DESCRIPTION, key)
    return stored[0].strip() if stored and stored[0] else None


def capability_view(
    session: Source, framework: str, capability_id: str, *, filters: Filters = NO_FILTERS
) -> CapabilityView:
    """A control's techniques in its framework's newest (or the filtered) release, by tactic."""
    session = reader(session)
    releases = load_releases(session)
    ref, stored = _capability(session, framework, capability_id, described=True)
    key = {"fw": framework, "cid": ref.id}
    # Per release: rows at all (mapped or marked non-mappable) and mappings, in one select.
    presence = _q(session, _CAPABILITY_PRESENCE, key)
    counts = {pk: int(live) for pk, _, live in presence if live}
    candidates = [
        i for i in releases if i.ref.framework == framework and _matches(i, filters, filters.domain)
    ]
    # Newest release that has the capability at all.
    present = {pk for pk, _, _ in presence}
    info = next((i for i in candidates if i.pk in present), candidates[0] if candidates else None)
    rows = _q(session, _CAPABILITY_ROWS, {**key, "pk": info.pk}) if info else []
    rows.sort(key=attrgetter("position"))
    mapped = [r for r in rows if not _is_non_mappable(r) and r.attack_id]
    shown = [r for r in mapped if _passes(r, filters)]
    lines = _lines(shown, info) if info else []
    techs = _techniques(session, [ln.attack_id for ln in lines], tactics_only=True)
    tactic_lookup = tactic_names(session)
    by_tactic: dict[str, list[MappingLine]] = defaultdict(list)
    order: dict[str, int] = {}
    for line in lines:
        tech = techs.get(line.attack_id)
        names = (
            [tactic_lookup.get((tech.domain, s), (99, s.title())) for s in (tech.tactics or [])]
            if tech
            else []
        )
        if not names:
            names = [(999, OTHER_TACTIC)]
        for pos, name in names:
            by_tactic[name].append(line)
            order[name] = pos
    tactics = tuple(
        TacticGroup(name, group_lines(members), len(members))
        for name, members in sorted(by_tactic.items(), key=lambda kv: (order[kv[0]], kv[0]))
    )
    count_by_label: dict[str, int] = {}
    for g in group_lines(lines, sort=False):  # per group, strongest score first
        per_value: dict[str | None, int] = {}
        for line in g.lines:
            per_value[line.score_value] = per_value.get(line.score_value, 0) + 1
        for value in sorted(per_value, key=lambda v: -score_rank(v)):
            label = g.label + (f" · {value}" if value else "")
            count_by_label[label] = count_by_label.get(label, 0) + per_value[value]
    notes = []
    if len(mapped) != len(shown):
        notes.append(f"{len(mapped) - len(shown)} mappings hidden by the category or score filter.")
    if info is None:
        notes.append(f"No release of {framework_label(framework)} matches the filters.")
    elif info.pk not in present:
        notes.append(f"{ref.id} is not in {info.ref.label}.")
    return CapabilityView(
        capability=ref,
        description=_capability_description(
            session, framework, ref.id, info.ref.framework_version if info else None, stored
        ),
        release=info.ref if info else None,
        tactics=tactics,
        total=len(lines),
        counts=tuple(count_by_label.items()),
        filters=filters,
        non_mappable=any(_is_non_mappable(r) for r in rows),
        other_releases=_other_releases(releases, counts, framework, info),
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------- pair view


def pair_view(
    session: Source,
    technique_id: str,
    framework: str,
    capability_id: str,
    *,
    filters: Filters = NO_FILTERS,
    domain: str | None = None,
) -> PairView:
    """Whether and how one capability maps one technique, release by release."""
    session = reader(session)
    releases = load_releases(session)
    loaded, family = _family(session, technique_id)
    own = loaded.get(technique_id)
    domain = filters.domain or domain or (own.domain if own else "enterprise")
    ref = _capability_ref(session, framework, capability_id)
    candidates = [i for i in releases if i.ref.framework == framework and _matches(i, filters, domain)]
    by_pk = {i.pk: i for i in candidates}
    sub_names = dict(reversed(family))  # the first row of an ID, as _techniques gives it
    subs = list(sub_names)
    newest_pk = candidates[0].pk if candidates else None
    params = {
        "fw": framework,
        "cid": ref.id,
        "tid": technique_id,
        "tids": [technique_id, *subs],
        "pks": list(by_pk),
        "newest": newest_pk,
    }
    rows = _q(session, _PAIR_ROWS, params) if by_pk else []
    per_release: dict[int, list[MappingLine]] = defaultdict(list)
    sub_hits: dict[str, str] = {}
    for r in rows:
        if _is_non_mappable(r):
            continue
        if r.attack_id == technique_id:
            per_release[r.release_id].append(_line(r, by_pk[r.release_id]))
        elif r.release_id == newest_pk:
            sub_hits.setdefault(r.attack_id, r.attack_name or r.attack_id)
    pair_releases = tuple(
        PairRelease(i.ref, tuple(sorted(per_release.get(i.pk, []), key=_line_order))) for i in candidates
    )
    mapped = any(pr.lines for pr in pair_releases)
    subtechniques = tuple(
        TechniqueRef(sid, sub_names.get(sid) or name, domain) for sid, name in sorted(sub_hits.items())
    )
    closest: tuple[ControlLine, ...] = ()
    if not mapped and candidates:
        closest = _closest(session, technique_id, ref, candidates[0])
    attack_version = candidates[0].ref.attack_version if candidates else None
    header = technique_header(
        session, technique_id, attack_version=attack_version, domain=domain, loaded=loaded
    )
    notes = (
        [] if candidates else [f"No {domain} release of {framework_label(framework)} matches the filters."]
    )
    return PairView(
        technique=header,
        capability=ref,
        releases=pair_releases,
        subtechniques=subtechniques,
        mapped=mapped,
        closest=closest,
        filters=filters,
        notes=tuple(notes),
    )


_RELEASE_TECHNIQUE_ROWS = select(*_CONTROL_COLS).where(
    Mapping.attack_id == bindparam("tid"), Mapping.release_id == bindparam("pk")
)


def _closest(
    session: Source, technique_id: str, ref: CapabilityRef, info: ReleaseInfo
) -> tuple[ControlLine, ...]:
    """Capabilities of the same release that do map the technique: same group first, then
    strongest score, then ID."""
    rows = _q(session, _RELEASE_TECHNIQUE_ROWS, {"tid": technique_id, "pk": info.pk})
    lines = _control_lines(r for r in rows if not _is_non_mappable(r) and r.capability_id)
    group = ref.group or ref.id.split("-")[0]
    lines.sort(
        key=lambda c: (
            c.capability_id.split("-")[0] != group,
            -score_rank(c.score_value),
            category_rank(c.score_category),
            c.capability_id,
        )
    )
    return tuple(lines[:MAX_CLOSEST])


def _control_lines(rows: Iterable[Any]) -> list[ControlLine]:
    """One line per capability: its best mapping, with how many rows it had."""
    best: dict[tuple[str, str], ControlLine] = {}
    for r in rows:
        key = (r.framework, r.capability_id)
        line = ControlLine(
            r.framework,
            r.capability_id,
            (r.capability_name or r.capability_id).strip(),
            r.mapping_type or "",
            r.score_category,
            r.score_value,
        )
        old = best.get(key)
        if old is None:
            best[key] = line
            continue
        keep = old if _control_rank(old) <= _control_rank(line) else line
        best[key] = ControlLine(
            keep.framework,
            keep.capability_id,
            keep.name,
            keep.mapping_type,
            keep.score_category,
            keep.score_value,
            old.count + 1,
        )
    return list(best.values())


def _control_rank(c: ControlLine) -> tuple[Any, ...]:
    return (-score_rank(c.score_value), category_rank(c.score_category))


# --------------------------------------------------------------------------- group / framework


_GROUP_CAPABILITIES = select(Capability.capability_id, Capability.name).where(
    Capability.framework == bindparam("fw"), Capability.group == bindparam("group")
)
_GROUP_COUNTS = (
    select(Mapping.capability_id, Mapping.capability_name, func.count())
    .where(
        Mapping.release_id == bindparam("pk"),
        Mapping.capability_group == bindparam("group"),
        Mapping.attack_id.is_not(None),
        _LIVE,
    )
    .group_by(Mapping.capability_id, Mapping.capability_name)
)
_RELEASE_STATS = (
    select(
        Mapping.release_id,
        func.count(Mapping.capability_id.distinct()),
        func.count(Mapping.attack_id.distinct()),
    )
    .where(Mapping.release_id.in_(_ids("pks")), _LIVE)
    .group_by(Mapping.release_id)
)
_RELEASE_TYPES = (
    select(Mapping.release_id, Mapping.mapping_type, func.count())
    .where(Mapping.release_id.in_(_ids("pks")), _LIVE)
    .group_by(Mapping.release_id, Mapping.mapping_type)
    .order_by(func.count().desc())
)


def group_view(session: Source, framework: str, group_id: str, *, filters: Filters = NO_FILTERS) -> GroupView:
    session = reader(session)
    releases = load_releases(session)
    candidates = [
        i for i in releases if i.ref.framework == framework and _matches(i, filters, filters.domain)
    ]
    info = candidates[0] if candidates else None
    name = group_id
    for i in releases:
        if i.ref.framework == framework and isinstance(i.capability_groups.get(group_id), str):
            name = i.capability_groups[group_id]
            break
    caps = _q(session, _GROUP_CAPABILITIES, {"fw": framework, "group": group_id})
    counts: dict[str, int] = {}
    names = {c.capability_id: (c.name or c.capability_id).strip() for c in caps}
    if info:
        rows = _q(session, _GROUP_COUNTS, {"pk": info.pk, "group": group_id})
        for cid, cname, n in rows:
            if cid:
                counts[cid] = counts.get(cid, 0) + int(n)
                names.setdefault(cid, (cname or cid).strip())
    members = tuple(
        sorted(
            (GroupMember(cid, names.get(cid, cid), counts.get(cid, 0)) for cid in names),
            key=lambda m: (-m.count, m.id),
        )
    )
    return GroupView(
        framework, group_id, name, info.ref if info else None, members, sum(counts.values()), filters
    )


def framework_view(session: Source, framework: str, *, filters: Filters = NO_FILTERS) -> FrameworkView:
    session = reader(session)
    releases = [
        i
        for i in load_releases(session)
        if i.ref.framework == framework and _matches(i, filters, filters.domain)
    ]
    pks = [i.pk for i in releases]
    stats: dict[int, tuple[int, int]] = {}
    types: dict[int, list[tuple[str, int]]] = defaultdict(list)
    if pks:
        for pk, caps, techs in _q(session, _RELEASE_STATS, {"pks": pks}):
            stats[pk] = (int(caps), int(techs))
        for pk, mt, n in _q(session, _RELEASE_TYPES, {"pks": pks}):
            info = next(i for i in releases if i.pk == pk)
            types[pk].append((info.type_label(mt or ""), int(n)))
    return FrameworkView(
        framework=framework,
        releases=tuple(
            ReleaseSummary(
                i.ref,
                i.mapping_count,
                i.non_mappable_count,
                stats.get(i.pk, (0, 0))[0],
                stats.get(i.pk, (0, 0))[1],
                tuple(types.get(i.pk, [])),
            )
            for i in releases
        ),
        filters=filters,
    )


# --------------------------------------------------------------------------- CVE / compare


_CVE_ROWS = (
    select(
        Mapping.release_id,
        Mapping.attack_id,
        Mapping.attack_name,
        Mapping.mapping_type,
        Mapping.status,
        Mapping.comments,
    )
    .where(_CAPABILITY_WHERE, Mapping.release_id.in_(_ids("pks")))
    .order_by(Mapping.position)
)


def cve_view(
    session: Source, cve_id: str, *, frameworks: Sequence[str], filters: Filters = NO_FILTERS
) -> CveView:
    """A KEV CVE's techniques and impact types, then the best controls for those techniques."""
    session = reader(session)
    releases = load_releases(session)
    ref = _capability_ref(session, "kev", cve_id)
    kev_filters = Filters(domain=filters.domain)
    kev = [i for i in releases if i.ref.framework == "kev" and _matches(i, kev_filters, filters.domain)]
    present = set(_scalars(session, _CAPABILITY_RELEASES, {"fw": "kev", "cid": ref.id}))
    in_kev = [i for i in kev if i.pk in present]
    # Enterprise and mobile files of the newest KEV release that has the CVE.
    newest = in_kev[0].ref if in_kev else None
    infos = [
        i
        for i in in_kev
        if newest
        and i.ref.framework_version == newest.framework_version
        and i.ref.attack_version == newest.attack_version
    ]
    by_pk = {i.pk: i for i in infos}
    rows = _q(session, _CVE_ROWS, {"fw": "kev", "cid": ref.id, "pks": list(by_pk)}) if by_pk else []
    impacts: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    comments: dict[str, str] = {}
    domains: dict[str, str] = {}
    for r in rows:
        if _is_non_mappable(r) or not r.attack_id:
            continue
        label = by_pk[r.release_id].type_label(r.mapping_type or "")
        impacts.setdefault(r.attack_id, [])
        if label not in impacts[r.attack_id]:
            impacts[r.attack_id].append(label)
        names.setdefault(r.attack_id, (r.attack_name or r.attack_id).strip())
        domains.setdefault(r.attack_id, by_pk[r.release_id].ref.domain)
        if r.comments:
            comments.setdefault(r.attack_id, r.comments.strip())
    techs = _techniques(session, list(impacts))
    techniques = tuple(
        CveTechnique(
            TechniqueRef(tid, techs[tid].name if tid in techs else names[tid], domains[tid]),
            tuple(labels),
            comments.get(tid),
        )
        for tid, labels in impacts.items()
    )
    control_filters = Filters(
        framework_version=filters.framework_version,
        attack_version=filters.attack_version,
        categories=filters.categories,
        min_score=filters.min_score,
    )
    # Every control of every technique (no per-technique cut), so that the controls covering the
    # most of the CVE's techniques come first, then the strongest; ``count`` says how many.
    # Ranked here, by coverage: sub-technique breadth plays no part.
    every = top_controls(
        session,
        list(impacts),
        frameworks,
        limit=100_000,
        per_framework=True,
        filters=control_filters,
        releases=releases,
        subtechniques=False,
    )
    per_fw: dict[str, dict[str, ControlLine]] = {fw: {} for fw in frameworks}
    covers: dict[tuple[str, str], set[str]] = defaultdict(set)
    for tid, lines in every.items():
        for c in lines:
            covers[(c.framework, c.capability_id)].add(tid)
            slot = per_fw[c.framework]
            old = slot.get(c.capability_id)
            if old is None or _control_rank(c) < _control_rank(old):
                slot[c.capability_id] = c
    controls = tuple(
        (
            fw,
            tuple(
                replace(c, count=len(covers[(fw, c.capability_id)]))
                for c in sorted(
                    slot.values(),
                    key=lambda c: (
                        -len(covers[(c.framework, c.capability_id)]),
                        *_control_rank(c),
                        c.capability_id,
                    ),
                )[:8]
            ),
        )
        for fw, slot in per_fw.items()
    )
    used_domains = sorted(set(domains.values())) or ["enterprise"]
    control_releases = tuple(
        info.ref
        for dom in used_domains
        for info in pick_releases(releases, frameworks, control_filters, dom).values()
    )
    return CveView(
        cve=ref,
        description=_capability_description(
            session, "kev", ref.id, newest.framework_version if newest else None
        ),
        release=newest,
        techniques=techniques,
        controls=controls,
        frameworks=tuple(frameworks),
        filters=filters,
        control_releases=control_releases,
    )


def compare_view(
    session: Source,
    technique_id: str,
    *,
    frameworks: Sequence[str],
    filters: Filters = NO_FILTERS,
    domain: str | None = None,
) -> CompareView:
    session = reader(session)
    domain = filters.domain or _domain_of(session, technique_id, domain)
    coverage = technique_coverage(session, [technique_id], frameworks, filters=filters, domain=domain)
    rows = coverage.get(technique_id, {})
    header = technique_header(session, technique_id, domain=domain)
    return CompareView(
        technique=header,
        rows=tuple(rows[fw] for fw in frameworks if fw in rows),
        missing=tuple(fw for fw in frameworks if fw not in rows),
        filters=filters,
    )


# --------------------------------------------------------------------------- batch (digests)


def _newest_by_domain(
    releases: Sequence[ReleaseInfo], frameworks: Sequence[str], filters: Filters
) -> dict[tuple[str, str], ReleaseInfo]:
    out: dict[tuple[str, str], ReleaseInfo] = {}
    for dom in dict.fromkeys(i.ref.domain for i in releases):
        for fw, info in pick_releases(releases, frameworks, filters, dom).items():
            out[(fw, dom)] = info
    return out


def _technique_domains(session: Source, ids: Sequence[str]) -> dict[str, str]:
    return {tid: t.domain for tid, t in _techniques(session, ids).items()}


_COVERAGE_ROWS = select(
    Mapping.attack_id,
    Mapping.release_id,
    Mapping.mapping_type,
    Mapping.score_category,
    Mapping.score_value,
    Mapping.status,
).where(Mapping.attack_id.in_(_ids("tids")), Mapping.release_id.in_(_ids("pks")))


def technique_coverage(
    session: Source,
    technique_ids: Sequence[str],
    frameworks: Sequence[str],
    *,
    filters: Filters = NO_FILTERS,
    domain: str | None = None,
) -> dict[str, dict[str, Coverage]]:
    """Per technique, per framework: the newest release's mapping count and, per score category
    (or mapping type when unscored), count and best score.  Frameworks without a release in the
    technique's domain are absent; techniques are always present.  Three queries in all
    (releases, technique domains, mapping rows), whatever the number of techniques."""
    session = reader(session)
    ids = list(dict.fromkeys(technique_ids))
    releases = load_releases(session)
    newest = _newest_by_domain(releases, frameworks, filters)
    domains = _technique_domains(session, ids)
    pks = {i.pk: i for i in newest.values()}
    rows = _q(session, _COVERAGE_ROWS, {"tids": ids, "pks": list(pks)}) if ids and pks else []
    acc: dict[tuple[str, int], dict[str, list[Any]]] = defaultdict(dict)
    for r in rows:
        if _is_non_mappable(r) or not _passes(r, filters):
            continue
        key = r.score_category or r.mapping_type or ""
        slot = acc[(r.attack_id, r.release_id)].setdefault(key, [0, None])
        slot[0] += 1
        if r.score_value and score_rank(r.score_value) > score_rank(slot[1]):
            slot[1] = r.score_value
    out: dict[str, dict[str, Coverage]] = {}
    for tid in ids:
        dom = domain or domains.get(tid, "enterprise")
        per: dict[str, Coverage] = {}
        for fw in frameworks:
            info = newest.get((fw, dom))
            if info is None:
                continue
            cats = acc.get((tid, info.pk), {})
            ordered = sorted(cats.items(), key=lambda kv: (category_rank(kv[0]), kv[0]))
            per[fw] = Coverage(
                framework=fw,
                release=info.ref,
                total=sum(v[0] for _, v in ordered),
                categories={k: CategoryCoverage(v[0], v[1]) for k, v in ordered},
            )
        out[tid] = per
    return out


_CONTROL_ROWS = select(*_CONTROL_COLS).where(
    Mapping.attack_id.in_(_ids("tids")), Mapping.release_id.in_(_ids("pks"))
)


def top_controls(
    session: Source,
    technique_ids: Sequence[str],
    frameworks: Sequence[str],
    limit: int = 3,
    *,
    per_framework: bool = False,
    filters: Filters = NO_FILTERS,
    releases: Sequence[ReleaseInfo] | None = None,
    subtechniques: bool = True,
) -> dict[str, list[ControlLine]]:
    """Per technique, its best controls in the newest release of each framework.

    Ranked by score value, then by how many of the technique's sub-techniques the control also
    maps (``count`` counts the technique and those), then category and ID.  With
    ``per_framework`` up to ``limit`` per framework; otherwise ``limit`` in all, taken in turn
    from each framework in the order given so that one framework cannot crowd out the rest.
    Every technique asked about is a key.  Three queries in all.  Without ``subtechniques``
    they are not read (``count`` is 1, and ranking skips that step).
    """
    session = reader(session)
    ids = list(dict.fromkeys(technique_ids))
    releases = releases if releases is not None else load_releases(session)
    newest = _newest_by_domain(releases, frameworks, filters)
    pks = {i.pk for i in newest.values()}
    subs = _subtechniques(session, ids) if subtechniques else {}
    parent_of = {sid: pid for pid, members in subs.items() for sid, _ in members}
    wanted = ids + [s for s in parent_of if s not in ids]
    rows = _q(session, _CONTROL_ROWS, {"tids": wanted, "pks": list(pks)}) if ids and pks else []
    direct: dict[str, list[Any]] = defaultdict(list)
    breadth: dict[tuple[str, str, str], int] = defaultdict(int)  # (technique, framework, capability)
    for r in rows:
        if _is_non_mappable(r) or not r.capability_id or not _passes(r, filters):
            continue
        if r.attack_id in ids:
            direct[r.attack_id].append(r)
        parent = parent_of.get(r.attack_id)
        if parent:
            breadth[(parent, r.framework, r.capability_id)] += 1
    out: dict[str, list[ControlLine]] = {}
    for tid in ids:
        by_fw: dict[str, list[ControlLine]] = defaultdict(list)
        for c in _control_lines(direct.get(tid, [])):
            wide = breadth.get((tid, c.framework, c.capability_id), 0)
            by_fw[c.framework].append(
                ControlLine(
                    c.framework,
                    c.capability_id,
                    c.name,
                    c.mapping_type,
                    c.score_category,
                    c.score_value,
                    1 + wide,
                )
            )
        for lines in by_fw.values():
            lines.sort(
                key=lambda c: (
                    -score_rank(c.score_value),
                    -c.count,
                    category_rank(c.score_category),
                    c.capability_id,
                )
            )
        if per_framework:
            out[tid] = [c for fw in frameworks for c in by_fw.get(fw, [])[:limit]]
            continue
        picked: list[ControlLine] = []
        queues = [list(by_fw.get(fw, [])) for fw in frameworks]
        while len(picked) < limit and any(queues):
            for q in queues:
                if q and len(picked) < limit:
                    picked.append(q.pop(0))
        out[tid] = picked
    return out


# --------------------------------------------------------------------------- dispatch


def build_view(session: Source, request: ViewRequest) -> View:
    """The view a request names; unknown subjects give a MessageView, never an exception."""
    session = reader(session)
    f = request.filters
    fws = request.frameworks
    if request.kind == "technique" and request.techniques:
        return technique_view(
            session, request.techniques[0], frameworks=fws, filters=f, domain=request.domain
        )
    if request.kind == "compare" and request.techniques:
        return compare_view(session, request.techniques[0], frameworks=fws, filters=f, domain=request.domain)
    if request.kind == "pair" and request.techniques and request.capabilities:
        fw, cid = request.capabilities[0]
        return pair_view(session, request.techniques[0], fw, cid, filters=f, domain=request.domain)
    if request.kind == "cve" and request.capabilities:
        return cve_view(session, request.capabilities[0][1], frameworks=fws, filters=f)
    if request.kind == "capability" and request.capabilities:
        fw, cid = request.capabilities[0]
        return capability_view(session, fw, cid, filters=f)
    if request.kind == "group" and request.group:
        return group_view(session, request.group[0], request.group[1], filters=f)
    if request.kind == "framework" and fws:
        return framework_view(session, fws[0], filters=f)
    return MessageView("Nothing to show", "That request names nothing I can look up.", kind="unknown")


__all__ = [
    "RELEASES_KEY",
    "SCORE_CATEGORIES",
    "TACTICS_KEY",
    "TECHNIQUES_KEY",
    "ReleaseInfo",
    "build_view",
    "capability_view",
    "compare_view",
    "cve_view",
    "framework_view",
    "group_view",
    "load_releases",
    "pair_view",
    "pick_releases",
    "static_info",
    "summarise_description",
    "tactic_names",
    "technique_catalogue",
    "technique_coverage",
    "technique_view",
    "top_controls",
]
