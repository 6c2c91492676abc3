"""Unanswered questions for admins: terminal lines, JSON, and App Home blocks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.render.mrkdwn import esc_user
from store.state.unanswered import UnansweredSummary

REASONS = {"no_match": "nothing found", "low_confidence": "unsure guess"}


def unanswered_json(rows: Sequence[UnansweredSummary], *, days: int) -> dict[str, Any]:
    return {
        "days": days,
        "questions": [
            {
                "query": r.query,
                "count": r.count,
                "reason": r.reason,
                "best_guess": r.best_guess,
                "surfaces": list(r.surfaces),
                "teams": r.teams,
                "first_seen": r.first_seen.isoformat(),
                "last_seen": r.last_seen.isoformat(),
            }
            for r in rows
        ],
    }


def unanswered_lines(rows: Sequence[UnansweredSummary], *, days: int) -> list[str]:
    if not rows:
        return [f"No unanswered questions in the last {days} days."]
    width = max(len(str(r.count)) for r in rows)
    out = [f"Unanswered questions, last {days} days (most asked first):"]
    for r in rows:
        guess = f" — guessed {r.best_guess}" if r.best_guess and r.reason == "low_confidence" else ""
        near = f" — nearest: {r.best_guess}" if r.best_guess and r.reason == "no_match" else ""
        out.append(
            f"{r.count:>{width}}×  {r.query!r}  ({REASONS[r.reason]}; {', '.join(r.surfaces)}; "
            f"last {_day(r.last_seen)}){guess}{near}"
        )
    out.append("Add an alias for a question people keep asking: see `aliases` in the README.")
    return out


def unanswered_blocks(rows: Sequence[UnansweredSummary], *, days: int, limit: int = 10) -> list[Block]:
    """App Home's admin section: the top questions as one short list."""
    head = SectionBlock(text=MarkdownTextObject(text=f"*Questions I could not answer* (last {days} days)"))
    if not rows:
        return [head, _context("None yet. Questions that find nothing, or only a guess, show here.")]
    lines = []
    for r in rows[:limit]:
        text = esc_user(r.query, 80)
        guess = f" · guessed {esc_user(r.best_guess, 60)}" if r.best_guess else ""
        lines.append(f"• *{r.count}×* “{text}” _{REASONS[r.reason]}_{guess}")
    body = SectionBlock(text=MarkdownTextObject(text="\n".join(lines)[:2900]))
    return [head, body, _context("`countermap analytics unanswered` lists them all.")]


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def _day(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d")
