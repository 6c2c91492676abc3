"""Which controls map a technique (the technique answer)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from store.reads.catalogue import _family, _mitigations, _other_releases, technique_header
from store.reads.fast import Source, _q, reader
from store.reads.lines import (
    _COUNTS_BY_RELEASE,
    _SUB_COUNTS,
    _TECHNIQUE_ROWS,
    _is_non_mappable,
    _lines,
    filter_mapped,
    group_lines,
    unfiltered_note,
)
from store.reads.releases import NO_FILTERS, pick_releases
from store.reads.static import static
from store.reads.used_by import used_by
from store.views import Filters, FrameworkSection, Note, SubTechniqueCount, TechniqueView


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
    releases = list(static(session).releases)
    loaded, subs = _family(session, technique_id)
    own = loaded.get(technique_id)
    domain = filters.domain or domain or (own.domain if own else "enterprise")
    all_frameworks = list(dict.fromkeys(i.ref.framework for i in releases))
    chosen = pick_releases(releases, frameworks, filters, domain)
    fell_back: list[str] = []
    if not chosen and frameworks:
        # Mobile and ICS: the frameworks asked (often the defaults) have no release for the
        # technique's domain.  Answer with those that do, and say so, rather than show nothing.
        chosen = pick_releases(releases, all_frameworks, filters, domain)
        fell_back = list(chosen)
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
    unfiltered: list[Note] = []
    sections = []
    file_name = ""
    for fw, info in chosen.items():
        release_rows = by_release.get(info.pk, [])
        mapped = [r for r in release_rows if not _is_non_mappable(r) and r.capability_id]
        shown, skipped = filter_mapped(mapped, filters)
        hidden += len(mapped) - len(shown)
        if skipped:
            unfiltered.append(unfiltered_note(fw, len(shown), skipped))
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
                hidden=len(mapped) - len(shown),
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
    notes = list(unfiltered)
    if hidden:
        notes.append(Note("hidden", count=hidden))
    missing = [fw for fw in frameworks if fw not in chosen]
    if fell_back:
        notes.insert(0, Note("fell_back", frameworks=tuple(missing), others=tuple(fell_back), domain=domain))
    elif missing:
        notes.append(Note("no_release", frameworks=tuple(missing), domain=domain))
    return TechniqueView(
        header=header,
        mitigations=_mitigations(session, technique_id),
        sections=tuple(sections),
        subtechniques=tuple(sub_counts),
        filters=filters,
        frameworks=tuple(fell_back or frameworks),
        also_mapped_in=also,
        notes=tuple(notes),
        used_by=used_by(session, technique_id),
    )


# --------------------------------------------------------------------------- capability view
