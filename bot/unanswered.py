"""Which answers count as unanswered: nothing recognised, or a guess the resolver was unsure of.

Pure: an ``Answer`` in, an ``UnansweredRow`` (or None) out.  Help, settings commands and refused
button values are not questions the index failed on, so they are never recorded.
"""

from __future__ import annotations

import datetime as dt

from bot.answer import Answer
from bot.config import Settings
from store.state.unanswered import UnansweredRow

_ID_LIKE = 100.0  # the resolver scores an exact ID or exact name 100


def unanswered_row(
    answer: Answer,
    *,
    surface: str,
    query: str,
    team_id: str | None,
    user_id: str | None,
    settings: Settings,
    now: dt.datetime | None = None,
) -> UnansweredRow | None:
    """The row to record for ``answer``, or None when it answered with confidence."""
    r = answer.resolution
    if not team_id or r is None or not query.strip() or r.intent == "help":
        return None
    user = user_id if settings.unanswered_keep_user_ids else None
    if not answer.ok or r.intent == "unknown":
        guess = r.alternatives[0].label if r.alternatives else None
        return UnansweredRow(team_id, surface, query, "no_match", guess, None, user, now)
    hits = [(t.score, f"{t.id} {t.name}") for t in r.techniques[:1]]
    hits += [(c.score, f"{c.id} {c.name}") for c in r.capabilities[:1]]
    hits += [(g.score, f"{g.id} {g.name}") for g in r.groups[:1]]
    if not hits:
        return None  # a framework or a compare with nothing fuzzy in it
    score, best = max(hits)
    if score >= min(settings.unanswered_min_score, _ID_LIKE):
        return None
    return UnansweredRow(team_id, surface, query, "low_confidence", best, round(score, 1), user, now)
