"""Coverage answers as Slack blocks: the lines of ``bot.render.coverage`` in sections under
Slack's text limit, a line never split."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import Block, ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from bot.coverage.views import DiffAnswer, GapReport
from bot.render.coverage import MRKDWN, PLAIN, CoverageViews, coverage_lines
from bot.render.yours import yours_lines

SECTION_CHARS = 2900  # Slack's section text limit is 3000


def as_blocks(lines: Sequence[str], *, header: str | None = None, footer: str | None = None) -> list[Block]:
    """Lines packed into section blocks under Slack's text limit (a line never split)."""
    blocks: list[Block] = []
    if header:
        blocks.append(HeaderBlock(text=header[:150]))
    chunk: list[str] = []
    size = 0
    for line in lines:
        line = line if len(line) <= SECTION_CHARS else line[: SECTION_CHARS - 1] + "…"
        if chunk and size + len(line) + 1 > SECTION_CHARS:
            blocks.append(SectionBlock(text=MarkdownTextObject(text="\n".join(chunk))))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="\n".join(chunk))))
    if footer:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=footer)]))
    return blocks[:50]


def coverage_message(view: CoverageViews | Sequence[DiffAnswer]) -> tuple[str, list[dict[str, object]]]:
    """(fallback text, blocks) for Slack."""
    lines = coverage_lines(view, MRKDWN)
    blocks = [b.to_dict() for b in as_blocks(lines)]
    fallback = coverage_lines(view, PLAIN)[0][:300]
    return fallback, blocks


def yours_blocks(r: GapReport, *, gaps_command: str | None = None) -> list[dict[str, object]]:
    """The "your controls" lines as one section (every list in them is capped far below Slack's
    3,000 characters)."""
    text = "\n".join(yours_lines(r, MRKDWN, gaps_command=gaps_command))
    return [SectionBlock(block_id="cm_yours", text=MarkdownTextObject(text=text[:SECTION_CHARS])).to_dict()]
