"""Controls ranked by their best mapping: one line per capability."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, select

from store.models import (
    Mapping,
)
from store.reads.fast import Source, _q
from store.reads.lines import _CONTROL_COLS, _is_non_mappable
from store.reads.releases import MAX_CLOSEST, ReleaseInfo
from store.views import CapabilityRef, ControlLine, category_rank, score_rank

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
