"""Who uses a technique, in words shared by Slack and the terminal: "used by 23 groups and 41
software"."""

from __future__ import annotations

from store.views import UsedBy


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def used_by_counts(u: UsedBy) -> str:
    """``23 groups, 41 software and 2 campaigns`` (kinds with none left out)."""
    parts = [
        _n(n, one, many)
        for n, one, many in (
            (u.groups, "group", "groups"),
            (u.software, "software", "software"),
            (u.campaigns, "campaign", "campaigns"),
        )
        if n
    ]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def used_by_phrase(u: UsedBy) -> str:
    """``Used by 23 groups and 41 software (APT29, FIN7, …)``."""
    names = ", ".join(t.name for t in u.top)
    more = ", …" if u.total > len(u.top) else ""
    return f"Used by {used_by_counts(u)} ({names}{more})" if names else f"Used by {used_by_counts(u)}"


KIND_HEADINGS = {"group": "Groups", "software": "Software", "campaign": "Campaigns"}
