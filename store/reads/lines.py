"""Mapping rows as lines of an answer: filters, ordering, grouping, descriptions and comments."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Text, bindparam, case, cast, func, or_, select

from store.models import (
    Mapping,
)
from store.reads.fast import JSON_SUFFIX, _json
from store.reads.releases import NON_MAPPABLE, ReleaseInfo
from store.text import html_to_text
from store.views import Filters, MappingGroup, MappingLine, Note, category_rank, score_rank

_CITATION = re.compile(r"\s*\(Citation:[^)]*\)")
_PARAGRAPH = re.compile(r"\n\s*\n")
_MD_LINK = re.compile(r"\[([^\]]+)\]\((?:https?://[^)\s]+)\)")
_LICENSE_HEADING = re.compile(
    r"^[ \t]*(?:licen[sc]e[ \t]+requirements?[ \t]*:?"
    r"|required[ \t]+licen[sc]es?[ \t]*:?|licen[sc]es?[ \t]*:)",
    re.IGNORECASE | re.MULTILINE,
)


_LAST_SENTENCE = re.compile(r"(?:(?<=[.!?)])\s+|(?<=[a-z][.!?]))(?=[A-Z(])[^.!?]*:$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+(.*)$")
SUMMARY_ITEMS = 3


def _clean(text: str) -> str:
    return " ".join(_MD_LINK.sub(r"\1", html_to_text(_CITATION.sub("", text))).split())


def summarise_description(description: str | None) -> str:
    """First paragraph of an ATT&CK description, without citations, links or HTML tags.

    A paragraph that ends by introducing a list ("…the following measures:", "Examples:") would
    end the summary on a colon: its lead-in sentence is dropped, or, when it is the whole
    paragraph, the list's first items follow it."""
    if not description:
        return ""
    # Paragraph by paragraph, so that a long description is cleaned only as far as needed.
    paragraphs = _PARAGRAPH.split(description.replace("\r\n", "\n"))
    for at, paragraph in enumerate(paragraphs):
        text = _clean(paragraph)
        if not text:
            continue
        if not text.endswith(":"):
            return text
        lead_in = _LAST_SENTENCE.search(text)
        if lead_in:
            return text[: lead_in.start()]
        items = _list_items(paragraphs[at + 1 :])
        if not items:
            return text[:-1].rstrip() + "."
        shown = "; ".join(items[:SUMMARY_ITEMS])
        return f"{text} {shown}{'; …' if len(items) > SUMMARY_ITEMS else '.'}"
    return ""


def _list_items(paragraphs: Sequence[str]) -> list[str]:
    """The top-level items of the list that opens these paragraphs, cleaned, up to one more than
    a summary shows."""
    items: list[str] = []
    for paragraph in paragraphs:
        for line in paragraph.splitlines():
            found = _LIST_ITEM.match(line)
            if found and not line[:1].isspace():
                item = _clean(found.group(1)).rstrip(".;:")
                if item:
                    items.append(item)
            elif line.strip() and not found and not line[:1].isspace():
                return items
            if len(items) > SUMMARY_ITEMS:
                return items
        if items:
            return items
    return items


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


def filter_mapped(rows: Sequence[Any], filters: Filters) -> tuple[list[Any], tuple[str, ...]]:
    """The mapped rows of one release that the filters let through, and which filters could
    not apply there ("category", "score"): a release whose rows carry no score category (NIST,
    VERIS, KEV, CRI...) is not emptied by "detect", nor an unscored one by "significant only"."""
    cats = bool(filters.categories) and any(r.score_category for r in rows)
    score = bool(filters.min_score) and any(r.score_value for r in rows)
    skipped = (("category",) if filters.categories and not cats and rows else ()) + (
        ("score",) if filters.min_score and not score and rows else ()
    )
    if not skipped:
        return [r for r in rows if _passes(r, filters)], ()
    applied = Filters(
        categories=filters.categories if cats else (), min_score=filters.min_score if score else None
    )
    return [r for r in rows if _passes(r, applied)], skipped


def unfiltered_note(framework: str, shown: int, skipped: Sequence[str]) -> Note:
    """What an analyst needs when a filter could not apply: said, never shown as zero."""
    return Note("unfiltered", count=shown, frameworks=(framework,), others=tuple(skipped))


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
        kept = sorted(members, key=_line_order) if sort else members
        groups.append(MappingGroup(mapping_type=mt, score_category=cat, lines=tuple(kept)))
    return tuple(groups)


# --------------------------------------------------------------------------- ATT&CK objects
