"""Answers to coverage questions, from text already resolved: gaps for a subject, pivots, several
controls and diffs.  Each returns a view (``bot.coverage.views``) or a ``Refusal`` saying why not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.coverage import service
from bot.coverage.overlay import answer_subject
from bot.coverage.questions import (
    DiffQuestion,
    LastSyncQuestion,
    PivotQuestion,
    TogetherQuestion,
    coverage_question,
)
from bot.coverage.views import DiffAnswer, GapReport, PivotAnswer, Subject, SubjectKind, TogetherAnswer
from bot.labels import release_label
from bot.resolution import Resolution, ThreatHit
from store.db import Engine
from store.reads.scope import Reads, reads
from store.state.inventory import Inventory


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a coverage question could not be answered, in words for the user."""

    message: str


CoverageView = GapReport | PivotAnswer | TogetherAnswer | DiffAnswer | list[DiffAnswer]

THREAT_ID = re.compile(r"[GSC]\d{4}")
_WATCH = re.compile(r"^\s*(?:the\s+)?(?:watch(?:\s*list)?|watched)\s*$", re.I)


def answer_coverage_question(
    engine: Engine, text: str, r: Resolution, *, default_frameworks: Sequence[str]
) -> CoverageView | Refusal | None:
    """A pivot, several controls or a diff, when the text asks one; None otherwise."""
    q = coverage_question(text, r)
    if q is None:
        return None
    domain = r.filters.domain or "enterprise"
    with reads(engine) as data:
        if isinstance(q, PivotQuestion):
            p = service.pivot_answer(data, q.framework, q.capability_id, q.target_framework, domain=domain)
            return p if p is not None else Refusal(f"No {domain} release maps {q.capability_id}.")
        if isinstance(q, TogetherQuestion):
            return service.together_answer(data, q.controls, domain=domain)
        if isinstance(q, LastSyncQuestion):
            return _last_sync(data)
        return _diffs(data, q, r, domain, default_frameworks)


def _diffs(
    data: Reads, q: DiffQuestion, r: Resolution, domain: str, defaults: Sequence[str]
) -> DiffAnswer | list[DiffAnswer] | Refusal:
    releases = data.all_releases()
    frameworks = q.frameworks or tuple(defaults)
    out: list[DiffAnswer] = []
    missing = []
    for fw in frameworks:
        pair = service.pick_pair(
            releases, fw, domain, attack_versions=q.attack_versions, framework_versions=q.framework_versions
        )
        if pair is None:
            missing.append(fw)
            continue
        if q.control is not None:
            name = data.control_names([q.control]).get(q.control, "")
            out.append(service.control_diff(data, fw, q.control[1], pair, name))
        elif q.technique_id is not None:
            name = next((t.name for t in r.techniques if t.id == q.technique_id), "")
            out.append(service.technique_diff(data, q.technique_id, fw, pair, name))
    if not out:
        asked = " vs ".join(v for v in (*q.attack_versions, *q.framework_versions) if v)
        return Refusal(f"No two loaded releases of {', '.join(frameworks)} match {asked} in {domain}.")
    return out[0] if len(out) == 1 else out


def _last_sync(data: Reads) -> DiffAnswer | list[DiffAnswer] | Refusal:
    found = data.last_change()
    if found is None:
        return Refusal("No sync or ingest has loaded anything yet: run `countermap sync`.")
    when = f"{found.finished_at:%Y-%m-%d %H:%M} UTC" if found.finished_at else "an unfinished run"
    run = f"the last {found.kind} ({when})"
    if not found.changes:
        loaded = ", ".join(found.attack_domains) or "nothing"
        return Refusal(f"{run[0].upper()}{run[1:]} changed no mapping release (ATT&CK loaded: {loaded}).")
    new = list(dict.fromkeys(c.release for c in found.changes if c.previous is None))
    notes = [f"Loaded by {run}."]
    if new:
        names = "; ".join(release_label(r) for r in new[:8])
        more = f" and {len(new) - 8} more" if len(new) > 8 else ""
        notes.append(f"{len(new)} new, with no earlier release to compare: {names}{more}.")
    pairs = [(c.previous, c.release) for c in found.changes if c.previous is not None]
    diffs = [
        service.release_diff(data, before, after, notes if i == 0 else ())
        for i, (before, after) in enumerate(pairs)
    ]
    if not diffs:
        return Refusal(" ".join(notes))
    return diffs[0] if len(diffs) == 1 else diffs[:12]


def gaps_subject(
    engine: Engine, text: str, r: Resolution, *, watch: Sequence[str] = ()
) -> tuple[Subject, list[str], str] | Refusal:
    """What ``gaps …`` is about, as (subject, techniques, domain): the watch list, a KEV CVE, a
    tactic, or techniques (each with its sub-techniques)."""
    domain = r.filters.domain or "enterprise"
    with reads(engine) as data:
        if _WATCH.match(text):
            if not watch:
                return Refusal("This channel watches no techniques yet.")
            return Subject("watch", "watch", "this channel's watch list"), _watched(data, watch), domain
        cves = [c for c in r.capabilities if c.framework == "kev"]
        if cves:
            techniques = service.cve_techniques(data, cves[0].id)
            if not techniques:
                return Refusal(f"KEV maps {cves[0].id} to no technique.")
            return Subject("cve", cves[0].id, cves[0].name), techniques, "enterprise"
        if r.threats:
            return _threat_subject(data, r.threats[0])
        if r.attack_objects:
            obj = r.attack_objects[0]
            found = data.attack_object_techniques(obj.id, r.filters.domain)
            if found is not None and found[1]:
                ref, members = found
                kind: SubjectKind = "tactic" if ref.kind == "tactic" else "techniques"
                return Subject(kind, ref.attack_id, ref.name), members, ref.domain
        tactic = service.tactic_techniques(data, text)
        if tactic is not None:
            found_tactic, techniques = tactic
            return (
                Subject("tactic", found_tactic.attack_id, found_tactic.name),
                techniques,
                found_tactic.domain,
            )
        if r.techniques:
            ids: list[str] = []
            for hit in r.techniques:
                ids.extend(data.technique_family(hit.id))
            if len(r.techniques) == 1:
                return Subject("technique", r.techniques[0].id, r.techniques[0].name), ids, domain
            return Subject("techniques", "", f"{len(r.techniques)} techniques"), ids, domain
    return Refusal(
        "Name what to check: an actor (APT29), software, a campaign, a CVE, a tactic (exfiltration, "
        "TA0010), techniques, or `watch`."
    )


def _watched(data: Reads, watch: Sequence[str]) -> list[str]:
    """A watch list's techniques: a watched group or software counts as the techniques it uses."""
    out: list[str] = []
    for item in watch:
        if THREAT_ID.fullmatch(item):
            view = data.threat_by_id(item, coverage=False)
            out.extend(view.technique_ids if view is not None else ())
        else:
            out.append(item)
    return list(dict.fromkeys(out))


def _threat_subject(data: Reads, hit: ThreatHit) -> tuple[Subject, list[str], str] | Refusal:
    """A group's, software's or campaign's techniques as the bundle's ``uses`` links name them
    (a revoked target through its replacement), in the threat's own domain."""
    view = data.threat_by_id(hit.id, coverage=False)
    if view is None:
        return Refusal(f"{hit.id} is not in the loaded ATT&CK data.")
    found = answer_subject(view)
    if found is None or not found[1]:
        return Refusal(f"ATT&CK lists no techniques that {view.threat.attack_id} {view.threat.name} uses.")
    subject, techniques, domain = found
    return subject, list(techniques), domain


def gap_report_for(
    engine: Engine,
    text: str,
    r: Resolution,
    inventory: Inventory | None,
    *,
    watch: Sequence[str] = (),
    frameworks: Sequence[str] = (),
) -> GapReport | Refusal:
    found = gaps_subject(engine, text, r, watch=watch)
    if isinstance(found, Refusal):
        return found
    subject, techniques, domain = found
    with reads(engine) as data:
        return service.gap_report(
            data,
            subject,
            techniques,
            inventory,
            domain=domain,
            frameworks=() if inventory else frameworks,
        )
