"""What every surface says the same way about a threat answer (Slack, terminal, exports)."""

from __future__ import annotations

from bot.labels import OTHER_TACTIC, framework_label
from store.threat_views import ControlCoverage, FrameworkCoverage, Procedure, ThreatRef, ThreatView

TOP_CONTROLS = 8  # controls per framework on the answer; "Show all" lists the rest
KIND_LABEL = {
    "intrusion-set": "Group",
    "malware": "Software · malware",
    "tool": "Software · tool",
    "campaign": "Campaign",
}
_PATHS = {"group": "groups", "software": "software", "campaign": "campaigns"}


def threat_url(t: ThreatRef) -> str:
    """The bundle's own link, else attack.mitre.org's path for the ID."""
    return t.url or f"https://attack.mitre.org/{_PATHS.get(t.kind, 'groups')}/{t.attack_id}/"


def covers_text(c: ControlCoverage) -> str:
    return f"covers {c.covered} of {c.of}"


def no_framework_maps(view: ThreatView) -> bool:
    """The threat has techniques, and no control of any framework shown maps one of them."""
    return bool(view.technique_ids) and not any(fc.controls for fc in view.coverage)


def filter_note(fc: FrameworkCoverage) -> str:
    """`` · detect only`` / `` · significant or better`` when a filter narrowed the count, and
    a word when it could not apply to this framework; plain text."""
    out = ""
    cats = [f for f in fc.filtered_by if f in ("protect", "detect", "respond")]
    if cats:
        out += f" · {'/'.join(cats)} only"
    if any(f not in cats for f in fc.filtered_by):
        out += f" · {next(f for f in fc.filtered_by if f not in cats)} or better"
    if fc.not_applied:
        out += f" · no {' or '.join(fc.not_applied)} in this framework: every mapping counted"
    return out


def missing_note(view: ThreatView) -> str | None:
    """What the answer says of frameworks asked for that have no release in its domain."""
    if not view.missing_frameworks:
        return None
    miss = " or ".join(framework_label(fw) for fw in view.missing_frameworks)
    shown = [fc.framework for fc in view.coverage]
    if shown and not set(shown) & set(view.frameworks):
        others = ", ".join(framework_label(fw) for fw in shown)
        return f"No {view.domain} release of {miss}; showing the frameworks that map {view.domain}: {others}."
    return f"No {view.domain} release of {miss}."


def by_tactic(view: ThreatView) -> list[tuple[str, list[Procedure]]]:
    """Techniques under each of their tactics (a technique in two tactics under both), in
    kill-chain order; techniques outside the loaded ATT&CK under "Other", last."""
    groups: dict[str, list[Procedure]] = {}
    for p in view.procedures:
        for tactic in p.tactics or (OTHER_TACTIC,):
            groups.setdefault(tactic, []).append(p)
    rank = {name: i for i, name in enumerate(view.tactic_order)}
    return sorted(groups.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0] == OTHER_TACTIC, kv[0]))
