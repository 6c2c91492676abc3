"""Coverage, gaps, pivots, several controls and diffs: reads the facts, computes, returns views.

Releases are always the newest of each framework in the question's domain unless versions are
named; every answer carries the releases it used, so render can say where a figure comes from.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.coverage import compute
from bot.coverage.views import DiffAnswer, GapReport, PivotAnswer, Subject, TogetherAnswer
from bot.inventory.checker import NOT_CONTROLS
from bot.labels import release_label
from store.coverage_views import ControlTechniques, ReleaseFacts, TacticFacts
from store.reads.coverage import newest_releases
from store.reads.scope import Reads
from store.state.inventory import Inventory

NOT_CONTROL_FRAMEWORKS = frozenset(NOT_CONTROLS)


def gap_report(
    data: Reads,
    subject: Subject,
    technique_ids: Sequence[str],
    inventory: Inventory | None,
    *,
    domain: str = "enterprise",
    frameworks: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> GapReport:
    """Your controls against ``technique_ids``, with per framework the fewest controls to add.

    The frameworks consulted are your inventory's (and ``frameworks`` when given): a gap in a
    framework you do not use is not yours to close there."""
    snap = data.coverage_snapshot()
    used = {c.framework for c in inventory.controls} if inventory else set()
    wanted_fw = [fw for fw in dict.fromkeys([*sorted(used), *frameworks]) if fw not in NOT_CONTROL_FRAMEWORKS]
    chosen = newest_releases(snap.all_releases(), wanted_fw, domain)
    controls = snap.controls_mapping([r.pk for r in chosen.values()], technique_ids)
    deployed = inventory.deployed() if inventory else frozenset()
    planned = inventory.planned() if inventory else frozenset()
    cov = compute.coverage(technique_ids, controls, deployed, planned)
    names = {c.key: c.name for c in controls}
    if inventory:
        names.update(snap.control_names([c.key for c in inventory.controls if c.key not in names]))
    labels = {compute.label(k): v for k, v in names.items()}
    extra = list(notes)
    missing = sorted(used - set(chosen) - NOT_CONTROL_FRAMEWORKS)
    if missing:
        extra.append(f"no {domain} release of {', '.join(missing)} is loaded")
    return GapReport(
        subject=subject,
        domain=domain,
        technique_names=snap.technique_names(technique_ids),
        releases=tuple(chosen[fw] for fw in wanted_fw if fw in chosen),
        coverage=cov,
        control_names=labels,
        inventory_scope="none" if inventory is None else ("channel" if inventory.is_channel else "workspace"),
        notes=tuple(extra),
    )


def cve_techniques(data: Reads, cve_id: str) -> list[str]:
    """The techniques CISA KEV's newest release maps a CVE to."""
    chosen = newest_releases(data.all_releases(), ["kev"], "enterprise")
    if "kev" not in chosen:
        return []
    return sorted(data.techniques_of_control(chosen["kev"].pk, "kev", cve_id))


def tactic_techniques(data: Reads, word: str) -> tuple[TacticFacts, list[str]] | None:
    """A tactic by ID (TA0010), short name (exfiltration) or name (Lateral Movement)."""
    w = word.strip().lower().replace("_", "-")
    for t in data.tactics():
        if w in (t.attack_id.lower(), t.shortname, t.name.lower(), t.name.lower().replace(" ", "-")):
            return t, data.techniques_in_tactic(t.domain, t.shortname)
    return None


def pivot_answer(
    data: Reads, framework: str, capability_id: str, target_framework: str, *, domain: str = "enterprise"
) -> PivotAnswer | None:
    """``SC-07 in aws``: the target framework's controls ranked by the overlap of what they map."""
    snap = data.coverage_snapshot()
    releases = snap.all_releases()
    src = newest_releases(releases, [framework], domain).get(framework)
    if src is None:
        return None
    techniques = snap.techniques_of_control(src.pk, framework, capability_id)
    name = snap.control_names([(framework, capability_id)]).get((framework, capability_id), "")
    source = ControlTechniques(framework, capability_id, name, techniques)
    target = newest_releases(releases, [target_framework], domain).get(target_framework)
    lines: list[compute.PivotLine] = []
    if target is not None and techniques:
        overlap = snap.controls_mapping([target.pk], techniques)
        lines = compute.pivot(source, overlap, snap.technique_counts(target.pk))
    return PivotAnswer(
        framework,
        capability_id,
        name,
        src,
        target_framework,
        target,
        techniques,
        tuple(lines),
        snap.technique_names(techniques),
    )


def together_answer(
    data: Reads, controls: Sequence[tuple[str, str]], *, domain: str = "enterprise"
) -> TogetherAnswer:
    """``SC-07 SI-04``: what the controls cover between them and what each adds."""
    releases = data.all_releases()
    chosen = newest_releases(releases, {fw for fw, _ in controls}, domain)
    names = data.control_names(controls)
    items = []
    used: dict[str, ReleaseFacts] = {}
    for fw, cid in controls:
        rel = chosen.get(fw)
        techniques = data.techniques_of_control(rel.pk, fw, cid) if rel else frozenset()
        if rel:
            used[compute.label((fw, cid))] = rel
        items.append(ControlTechniques(fw, cid, names.get((fw, cid), ""), techniques))
    result = compute.together(items)
    return TogetherAnswer(used, result, data.technique_names(result.union))


def pick_pair(
    releases: Sequence[ReleaseFacts],
    framework: str,
    domain: str,
    *,
    attack_versions: tuple[str | None, str | None] = (None, None),
    framework_versions: tuple[str | None, str | None] = (None, None),
) -> tuple[ReleaseFacts, ReleaseFacts] | None:
    """Two releases of one framework to compare.  With two framework versions (rev4 vs rev5) and
    no ATT&CK version, a common ATT&CK version is preferred so only the framework changed."""
    mine = [r for r in releases if r.framework == framework and r.domain == domain]

    def match(r: ReleaseFacts, av: str | None, fv: str | None) -> bool:
        return (av is None or r.attack_version == av) and (
            fv is None or r.framework_version.lower() == fv.lower()
        )

    a_all = [r for r in mine if match(r, attack_versions[0], framework_versions[0])]
    b_all = [r for r in mine if match(r, attack_versions[1], framework_versions[1])]
    if not a_all or not b_all:
        return None
    if attack_versions == (None, None):
        common = [(a, b) for a in a_all for b in b_all if a.attack_version == b.attack_version and a != b]
        if common:
            return common[0]
    if framework_versions == (None, None):
        common = [
            (a, b) for a in a_all for b in b_all if a.framework_version == b.framework_version and a != b
        ]
        if common:
            return common[0]
    a, b = a_all[0], b_all[0]
    return None if a == b else (a, b)


def technique_diff(
    data: Reads,
    technique_id: str,
    framework: str,
    pair: tuple[ReleaseFacts, ReleaseFacts],
    name: str = "",
) -> DiffAnswer:
    """Mappings of a technique and its sub-techniques added, removed and changed between releases."""
    family = data.technique_family(technique_id)
    before = data.mapping_facts(pair[0].pk, technique_ids=family)
    after = data.mapping_facts(pair[1].pk, technique_ids=family)
    return DiffAnswer(
        "technique", technique_id, name, framework, pair[0], pair[1], compute.diff(before, after)
    )


def release_diff(
    data: Reads, before: ReleaseFacts, after: ReleaseFacts, notes: Sequence[str] = ()
) -> DiffAnswer:
    """Every mapping of a release against the release before it."""
    facts = compute.diff(data.mapping_facts(before.pk), data.mapping_facts(after.pk))
    return DiffAnswer(
        "release", release_label(after), "", after.framework, before, after, facts, tuple(notes)
    )


def control_diff(
    data: Reads,
    framework: str,
    capability_id: str,
    pair: tuple[ReleaseFacts, ReleaseFacts],
    name: str = "",
) -> DiffAnswer:
    before = data.mapping_facts(pair[0].pk, capability_id=capability_id)
    after = data.mapping_facts(pair[1].pk, capability_id=capability_id)
    return DiffAnswer(
        "control", capability_id, name, framework, pair[0], pair[1], compute.diff(before, after)
    )
