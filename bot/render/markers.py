"""Score categories and values, marked the same way on every surface and always in one order
(protect, detect, respond; strongest first), so an analyst can scan a column of them."""

from __future__ import annotations

from collections.abc import Sequence

from store.views import SCORE_VALUES

CATEGORY_EMOJI = {"protect": ":shield:", "detect": ":mag:", "respond": ":rotating_light:"}
CATEGORY_LABEL = {"protect": "Protect", "detect": "Detect", "respond": "Respond"}
CATEGORY_STYLE = {"protect": "green", "detect": "cyan", "respond": "magenta"}


def score_bar(value: str | None) -> str:
    """``●●● significant``, ``●●○ partial``, ``●○○ minimal``; empty for unscored rows."""
    if value not in SCORE_VALUES:
        return value or ""
    n = SCORE_VALUES.index(value) + 1
    return "●" * n + "○" * (len(SCORE_VALUES) - n) + " " + value


def category_mark(category: str | None) -> str:
    """Slack form: emoji plus bold label."""
    if not category:
        return ""
    return (
        f"{CATEGORY_EMOJI.get(category, '')} *{CATEGORY_LABEL.get(category, category.capitalize())}*".strip()
    )


def with_feature(feature: str | None) -> str:
    """`` · Win 11, Secure Boot`` after a scored mark when the mapping depends on a feature (see
    ``MappingLine.feature``); plain text, the caller escapes it for mrkdwn."""
    return f" · {feature}" if feature else ""


def cve_ranking_note(exploited: Sequence[str], techniques: int) -> str:
    """How a CVE answer ranks its best controls, said in the answer (plain text)."""
    by_count = f"by how many of its {techniques} techniques they cover, then by score"
    if not exploited:
        return f"Controls ranked {by_count}."
    ids = ", ".join(exploited)
    return (
        f"Controls ranked: those that fix the flaw itself (patching, vulnerability management) and"
        f" stop its exploitation ({ids}) first, then the others that stop {ids}, then {by_count}."
    )
