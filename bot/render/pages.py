"""Laying out an answer for Slack: small Block Kit builders, and the packing of an answer's
items into pages under a block and character budget (the page number lives in the buttons'
state, so any instance can render the next page).

Every answer's renderer (``bot.render.blocks`` and the answers beside it) describes its view as
a ``Doc``, an intro and a list of items, and ``assemble`` makes the page asked for."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
    TextObject,
)

from bot import actions
from bot.labels import release_label
from bot.render.limits import MAX_BLOCKS, total_text
from bot.render.markers import score_bar
from bot.render.mrkdwn import clip, esc, one_line
from bot.render.serialize import as_dict
from bot.render.state import MAX_OPTION_VALUE, State, StateEncoder, StateError
from store.views import ControlLine, MappingLine, ReleaseRef

SECTION_CHUNK = 2_800  # packed lines per section, under the 3,000 limit with room for a heading
PAGE_TEXT_BUDGET = 8_500  # characters of block text per page, well under Slack's ~12k
COMPACT_TEXT_BUDGET = 2_500
COMPACT_MAX_BLOCKS = 10
FALLBACK_LIMIT = 3_000
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")


@dataclass
class Rendered:
    text: str
    blocks: list[dict[str, Any]]
    page: int = 1
    pages: int = 1


# --------------------------------------------------------------------------- small builders


def md(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text)


def section(text: str, accessory: Any = None) -> SectionBlock:
    return SectionBlock(text=md(text), accessory=accessory)


def context(*texts: str) -> ContextBlock:
    return ContextBlock(elements=[md(t) for t in texts if t][:10])


def plain_text(text: str, limit: int) -> str:
    """Plain text is never parsed for mentions, but angle brackets become look-alikes anyway
    so that no client or copy-paste can turn data into ``<!channel>``."""
    safe = one_line(text).replace("<", "‹").replace(">", "›")
    return clip(safe, limit) or "…"


def plain(text: str, limit: int) -> PlainTextObject:
    return PlainTextObject(text=plain_text(text, limit), emoji=True)


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=plain(text, 150))


@dataclass(frozen=True, slots=True)
class LazySection:
    """A section item built only when its page is shown: its size is known from its text, and
    an answer with hundreds of mappings shows one page of them."""

    text: str
    button: tuple[str, str, State] | None = None  # accessory: (action, label, state)

    def cost(self) -> tuple[int, int]:
        return 1, len(self.text) + (len(plain_text(self.button[1], 75)) if self.button else 0)

    def build(self, msg: Message) -> list[Block]:
        accessory = button(msg, *self.button) if self.button else None
        return [section(self.text, accessory)]


# An item: blocks that belong together on one page, built already or on demand.
Item = list[Block] | LazySection


def packed(heading: str, lines: Sequence[str], limit: int = SECTION_CHUNK) -> list[Item]:
    """Lines under a heading, as as few sections as fit; each section is its own item."""
    items: list[Item] = []
    buf = heading
    for line in lines:
        line = clip(line, 600)
        if len(buf) + len(line) + 1 > limit and buf:
            items.append(LazySection(buf))
            buf = ""
        buf = f"{buf}\n{line}" if buf else line
    if buf:
        items.append(LazySection(buf))
    return items


class Message:
    """What must be unique or is shared within one message: ``action_id`` values
    (``cm_expand``, ``cm_expand:1``, ...) and the button state encoder."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        self.encode = StateEncoder()

    def action_id(self, base: str) -> str:
        n = self.seen.get(base, 0)
        self.seen[base] = n + 1
        return base if n == 0 else f"{base}:{n}"

    def value(self, state: State, limit: int = 2000) -> str | None:
        try:
            return self.encode(state, limit=limit)
        except StateError:
            return None


def button(
    msg: Message, action: str, label: str, state: State, style: str | None = None
) -> ButtonElement | None:
    value = msg.value(state)
    if value is None:
        return None
    return ButtonElement(text=plain(label, 75), action_id=msg.action_id(action), value=value, style=style)


def release_short(ref: ReleaseRef) -> str:
    dom = "" if ref.domain == "enterprise" else f" {ref.domain}"
    return f"{ref.framework_version} · ATT&CK {ref.attack_version}{dom}"


def provenance(refs: Iterable[ReleaseRef]) -> ContextBlock | None:
    parts = []
    for ref in dict.fromkeys(refs):
        updated = f", updated {ref.last_update}" if ref.last_update else ""
        parts.append(esc(f"{release_label(ref)}{updated}"))
    if not parts:
        return None
    text = "Source: " + " | ".join(parts)
    return context(clip(text, 1900))


def score_suffix(line: MappingLine | ControlLine) -> str:
    bar = score_bar(line.score_value)
    return f" — {esc(bar)}" if bar else ""


# --------------------------------------------------------------------------- pagination


def paginate(
    costs: Sequence[tuple[int, int]], first_budget: tuple[int, int], budget: tuple[int, int]
) -> list[list[int]]:
    """Greedy packing of item indexes into pages of (blocks, characters); ``costs`` holds
    each item's (block count, characters of text)."""
    pages: list[list[int]] = [[]]
    max_blocks, max_chars = first_budget
    used_blocks = used_chars = 0
    for i, (nb, nc) in enumerate(costs):
        if pages[-1] and (used_blocks + nb > max_blocks or used_chars + nc > max_chars):
            pages.append([])
            max_blocks, max_chars = budget
            used_blocks = used_chars = 0
        pages[-1].append(i)
        used_blocks += nb
        used_chars += nc
    return pages


def text_len(obj: Any) -> int:
    """Characters of text objects in a block or element, as ``total_text`` counts them in its
    ``to_dict()`` output, read off the slack_sdk objects without running their validators
    (pagination needs every item's size, but only the page shown is serialised)."""
    if isinstance(obj, TextObject):
        return len(obj.text) if obj.type in ("mrkdwn", "plain_text") and isinstance(obj.text, str) else 0
    if isinstance(obj, SectionBlock):
        n = text_len(obj.text) if obj.text is not None else 0
        if obj.fields:
            n += sum(text_len(f) for f in obj.fields)
        return n + (text_len(obj.accessory) if obj.accessory is not None else 0)
    if isinstance(obj, (ContextBlock, ActionsBlock)):
        return sum(text_len(e) for e in obj.elements)
    if isinstance(obj, HeaderBlock):
        return text_len(obj.text)
    if isinstance(obj, ButtonElement) and obj.confirm is None:
        return text_len(obj.text)
    if isinstance(obj, Option) and obj._block_description is None:
        text = obj._text
        return len(text.text or "") if text is not None else len(obj.label or "")
    if isinstance(obj, StaticSelectElement) and obj.confirm is None and obj.initial_option is None:
        n = text_len(obj.placeholder) if obj.placeholder is not None else 0
        for group in obj.option_groups or ():
            n += total_text([group if isinstance(group, dict) else group.to_dict()])
        return n + sum(text_len(o) for o in obj.options or ())
    if obj is None:
        return 0
    return total_text([obj.to_dict()])  # anything else: the exact count, the slow way


def cost(item: Item) -> tuple[int, int]:
    if isinstance(item, LazySection):
        return item.cost()
    return len(item), sum(text_len(b) for b in item)


def built(item: Item, msg: Message) -> list[Block]:
    return item.build(msg) if isinstance(item, LazySection) else item


@dataclass
class Doc:
    """A view laid out for Slack before pagination."""

    title: str
    intro: list[Block] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    provenance: ContextBlock | None = None
    tools: list[Any] = field(default_factory=list)  # extra action elements (exports, selects)
    text: str = ""


def assemble(doc: Doc, state: State, msg: Message, *, shared_by: str | None) -> Rendered:
    compact = state.compact
    # Pagination needs only each item's size: the blocks of other pages are never built.
    costs = [cost(item) for item in doc.items]
    provenance = as_dict(doc.provenance) if doc.provenance else None
    chrome_blocks = 4 + (1 if shared_by else 0)  # header, page context, provenance, actions
    chrome_chars = 600 + (total_text([provenance]) if provenance else 0)
    intro_cost = sum(text_len(b) for b in doc.intro)
    if compact:
        first = (COMPACT_MAX_BLOCKS - len(doc.intro) - 3, COMPACT_TEXT_BUDGET - intro_cost)
        pages = paginate(costs, first, first)
    else:
        first = (MAX_BLOCKS - chrome_blocks - len(doc.intro), PAGE_TEXT_BUDGET - chrome_chars - intro_cost)
        rest = (MAX_BLOCKS - chrome_blocks, PAGE_TEXT_BUDGET - chrome_chars)
        pages = paginate(costs, first, rest)
    total = len(pages)
    page = min(max(state.page, 1), total)
    blocks: list[dict[str, Any]] = [as_dict(header(doc.title))]
    if page == 1:
        blocks.extend(as_dict(b) for b in doc.intro)
    for i in pages[page - 1]:
        blocks.extend(as_dict(b) for b in built(doc.items[i], msg))
    if total > 1 and not compact:
        blocks.append(as_dict(context(f"Page {page} of {total}")))
    if provenance:
        blocks.append(provenance)
    if shared_by and USER_ID.match(shared_by):
        blocks.append(as_dict(context(f"Shared by <@{shared_by}>")))
    elements: list[Any] = []
    if compact:
        more = button(msg, actions.PAGE, "Full answer", state.with_(compact=False, page=1), style="primary")
        elements.append(more)
    else:
        if page > 1:
            elements.append(button(msg, actions.PAGE, "◀ Previous", state.with_(page=page - 1)))
        if page < total:
            elements.append(button(msg, actions.PAGE, "Next ▶", state.with_(page=page + 1), style="primary"))
        if not shared_by:
            elements.append(button(msg, actions.SHARE, "Share in channel", state.with_(page=page)))
        elements.extend(doc.tools)
    elements = [e for e in elements if e is not None][:25]
    if elements:
        blocks.append(as_dict(ActionsBlock(elements=elements)))
    text = clip(doc.text or doc.title, FALLBACK_LIMIT)
    if total > 1 and not compact:
        text = clip(f"{text} (page {page} of {total})", FALLBACK_LIMIT)
    return Rendered(text=esc(text), blocks=blocks, page=page, pages=total)


def select_menu(
    msg: Message, action: str, placeholder: str, options: Sequence[tuple[str, State]]
) -> StaticSelectElement | None:
    opts = []
    for label, st in options[:100]:
        value = msg.value(st, MAX_OPTION_VALUE)
        if value is not None:
            opts.append(Option(text=plain(label, 75), value=value))
    if not opts:
        return None
    return StaticSelectElement(
        placeholder=plain(placeholder, 150), action_id=msg.action_id(action), options=opts
    )
