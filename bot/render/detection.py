"""What the detection answer says, shared by Slack and the terminal: the facts of a
``DetectionView`` arranged for reading (log sources under the data component they feed, the
platforms and data components of the whole strategy), no markup."""

from __future__ import annotations

from dataclasses import dataclass

from bot.labels import framework_label
from store.threat_views import (
    AnalyticView,
    CollectCount,
    DetectionView,
    LogSource,
    ThreatView,
)

DATA_COMPONENT_URL = "https://attack.mitre.org/datacomponents/{id}/"


def title(view: DetectionView) -> str:
    return f"Detect {view.header.id} {view.header.name}"


def data_component_url(dc_id: str | None) -> str | None:
    return DATA_COMPONENT_URL.format(id=dc_id) if dc_id and dc_id.startswith("DC") else None


@dataclass(frozen=True, slots=True)
class Collect:
    """A data component to collect and the log sources (name, channel) that carry it."""

    data_component: str | None  # DC0032
    name: str | None  # Process Creation
    sources: tuple[tuple[str, str | None], ...]

    @property
    def label(self) -> str:
        return self.name or self.data_component or "Other logs"


def collect(analytic: AnalyticView) -> list[Collect]:
    """The analytic's log sources under their data components, in the order first listed."""
    order: dict[tuple[str | None, str | None], list[LogSource]] = {}
    for ls in analytic.log_sources:
        order.setdefault((ls.data_component, ls.data_component_name), []).append(ls)
    out = []
    for (dc, name), sources in order.items():
        pairs = tuple(dict.fromkeys((s.name or "?", s.channel) for s in sources if s.name or s.channel))
        out.append(Collect(dc, name, pairs))
    return out


def data_components(view: DetectionView) -> list[tuple[str | None, str]]:
    """Every data component the strategies' analytics read, once, as (ID, name)."""
    seen: dict[str, tuple[str | None, str]] = {}
    for s in view.strategies:
        for a in s.analytics:
            for ls in a.log_sources:
                label = ls.data_component_name or ls.data_component
                if label and (ls.data_component or label) not in seen:
                    seen[ls.data_component or label] = (ls.data_component, label)
    for c in view.components:
        label = component_label(c.data_source_name, c.component_name)
        seen.setdefault(c.component_id or label, (c.component_id, label))
    return list(seen.values())


def component_label(data_source: str | None, component: str) -> str:
    """``Command: Command Execution``, as ATT&CK's pages named a data source's component."""
    return f"{data_source}: {component}" if data_source else component


def components_heading(view: DetectionView) -> str:
    n = len(view.components)
    version = f" {view.attack_release}" if view.attack_release else ""
    return f"ATT&CK{version} detects it through {n} data component{'s' if n != 1 else ''}"


def platforms(view: DetectionView) -> list[str]:
    return list(dict.fromkeys(p for s in view.strategies for a in s.analytics for p in a.platforms))


def analytic_count(view: DetectionView) -> int:
    return sum(len(s.analytics) for s in view.strategies)


def capability_count(view: DetectionView) -> int:
    return sum(len(s.lines) for s in view.sections)


def counts_line(view: DetectionView) -> str:
    """``Microsoft 365 12 · Azure 3`` (capabilities per framework), or empty."""
    return " · ".join(f"{framework_label(s.framework)} {len(s.lines)}" for s in view.sections)


def no_strategy_text(view: DetectionView) -> str:
    h = view.header
    version = f" {view.attack_release}" if view.attack_release else ""
    if h.revoked or h.deprecated:
        what = "revoked" if h.revoked else "deprecated"
        return f"{h.id} is {what} in ATT&CK{version}: it has no detection strategy of its own."
    return f"ATT&CK{version} has no detection strategy for {h.id}."


def no_capability_text(view: DetectionView) -> str:
    """Why no capability is listed, naming the frameworks that map the technique without a
    detect category (their mappings are on the technique answer)."""
    scope = (
        " of " + ", ".join(framework_label(fw) for fw in view.frameworks)
        if view.frameworks
        else " of the loaded frameworks"
    )
    text = f"No mapping{scope} puts a capability in the detect category for {view.header.id}."
    if view.uncategorised:
        names = ", ".join(framework_label(fw) for fw in view.uncategorised)
        text += f" {names} map it without a protect/detect/respond category: see its controls."
    return text


def summary_text(view: DetectionView) -> str:
    """One line for notifications and the fallback text."""
    n_an, n_cap = analytic_count(view), capability_count(view)
    n_dc, n_st = len(view.components), len(view.strategies)
    if n_dc:  # ATT&CK before v18: components, no strategies
        parts = [f"{n_dc} data component{'s' if n_dc != 1 else ''}"]
    else:
        parts = [
            f"{n_st} detection strateg{'y' if n_st == 1 else 'ies'}",
            f"{n_an} analytic{'s' if n_an != 1 else ''}",
        ]
    parts.append(f"{n_cap} detect capabilit{'y' if n_cap == 1 else 'ies'}")
    return f"{title(view)} — " + ", ".join(parts)


def source_text(view: DetectionView) -> str:
    """The footer naming where the detection advice comes from."""
    what = "Data components" if view.components else "Detection strategies"
    return f"{what}: ATT&CK {view.attack_release} {view.header.domain}"


COLLECT_SHOWN = 10  # data components named on a threat's "Data to collect" line


def collect_heading(view: ThreatView) -> str:
    n = len(view.technique_ids)
    return f"Data to collect: of its {n} technique{'s' if n != 1 else ''}, how many ATT&CK detects from each"


def collect_label(c: CollectCount) -> str:
    return component_label(c.data_source, c.name)


def collect_line(c: CollectCount) -> str:
    ident = f" ({c.data_component})" if c.data_component else ""
    return f"{collect_label(c)}{ident} — {c.techniques} of {c.of}"
