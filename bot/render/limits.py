"""Slack's message limits, checked on the final payload, including the ones slack_sdk skips.

Answers are written out without ``to_dict()``'s per-object validators (``bot.render.serialize``),
so every limit those validators hold for the blocks we send is checked here, once per message,
together with what Slack refuses and slack_sdk does not check: more than 50 blocks, fields
over 2,000 characters, a ``text`` fallback that gets cut, and messages whose blocks are too
long in total (``msg_blocks_too_long``, about 12k characters).  Duplicate
``action_id``/``block_id`` values and raw ``<...>`` sequences that would ping or link are our
own rules.  ``violations`` returns every problem; an empty list means sendable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_VALUE = 2000
MAX_URL = 3000
MAX_ID = 255
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_OPTIONS = 100
MAX_TOTAL_TEXT = 11_000  # Slack's undocumented cap is ~12k; stay well under it
MAX_FALLBACK = 3_999
MAX_PLACEHOLDER = 150
BUTTON_STYLES = ("primary", "danger")

# Our own links (<https://...|label>) are the only angle brackets allowed in mrkdwn.
_ANGLE = re.compile(r"<([^<>]*)>")
_QUOTE = re.compile(r"^>", re.MULTILINE)
_OUR_LINK = re.compile(r"https?://[^\s<>|]+(\|[^<>|]*)?")


class _Skip(Exception):
    pass


def _collect(obj: Any, out: list[tuple[str, str]]) -> None:
    """Append every (type, text) of text objects in a block structure to ``out`` (one plain
    recursive walk: the hot path checks every payload it sends)."""
    t = type(obj)
    if t is dict:
        kind = obj.get("type")
        if kind == "mrkdwn" or kind == "plain_text":
            text = obj.get("text")
            if type(text) is str:
                out.append((kind, text))
        for v in obj.values():
            tv = type(v)
            if tv is dict or tv is list:
                _collect(v, out)
    elif t is list:
        for v in obj:
            tv = type(v)
            if tv is dict or tv is list:
                _collect(v, out)


def total_text(blocks: list[dict[str, Any]]) -> int:
    out: list[tuple[str, str]] = []
    _collect(blocks, out)
    return sum(len(t) for _, t in out)


_BAD_AMP = re.compile(r"&(?!amp;|lt;|gt;)")


def mrkdwn_problems(text: str, where: str, allow_users: Iterable[str] = ()) -> list[str]:
    """Raw ``<...>`` other than our http(s) links (and mentions of ``allow_users``, such as the
    user who shared an answer), and ``&`` not starting an entity."""
    angles = "<" in text or ">" in text
    if not angles and "&" not in text:
        return []  # nothing any rule below could object to
    problems = []
    if angles:
        for user in allow_users:
            text = text.replace(f"<@{user}>", "")
        text = _QUOTE.sub("", text)  # a ">" opening a line is mrkdwn's block quote
        for m in _ANGLE.finditer(text):
            if not _OUR_LINK.fullmatch(m.group(1)):
                problems.append(f"{where}: unescaped <{m.group(1)[:40]}>")
        stripped = _ANGLE.sub("", text)
        if "<" in stripped or ">" in stripped:
            problems.append(f"{where}: unescaped angle bracket")
    if "&" in text and _BAD_AMP.search(text):
        problems.append(f"{where}: unescaped &")
    return problems


def _check_element(el: dict[str, Any], where: str, out: list[str]) -> None:
    kind = el.get("type")
    if "action_id" in el and len(str(el["action_id"])) > MAX_ID:
        out.append(f"{where}: action_id over {MAX_ID}")
    if kind == "button":
        if "style" in el and el["style"] not in BUTTON_STYLES:
            out.append(f"{where}: button style {str(el['style'])[:20]!r}")
        if len(el.get("text", {}).get("text", "")) > MAX_BUTTON_TEXT:
            out.append(f"{where}: button text over {MAX_BUTTON_TEXT}")
        if len(str(el.get("value", ""))) > MAX_VALUE:
            out.append(f"{where}: button value over {MAX_VALUE}")
        if len(str(el.get("url", ""))) > MAX_URL:
            out.append(f"{where}: button url over {MAX_URL}")
    if kind in ("static_select", "overflow"):
        options = el.get("options", [])
        for group in el.get("option_groups", []):
            options = options + group.get("options", [])
        if not options:
            out.append(f"{where}: select without options")
        if len(el.get("placeholder", {}).get("text", "")) > MAX_PLACEHOLDER:
            out.append(f"{where}: placeholder over {MAX_PLACEHOLDER}")
        if len(options) > MAX_OPTIONS:
            out.append(f"{where}: over {MAX_OPTIONS} options")
        for o in options:
            if len(o.get("text", {}).get("text", "")) > MAX_OPTION_TEXT:
                out.append(f"{where}: option text over {MAX_OPTION_TEXT}")
            if len(str(o.get("value", ""))) > MAX_OPTION_VALUE:
                out.append(f"{where}: option value over {MAX_OPTION_VALUE}")


def violations(
    payload: dict[str, Any], *, allow_users: Iterable[str] = (), reparse: bool = True
) -> list[str]:
    """Every way ``{"text", "blocks"}`` breaks Slack's limits or our escaping rules.
    With ``reparse`` (the tests' mode) each block also goes through slack_sdk's
    ``Block.parse(...).to_dict()``: its validators must pass and give back the same dict.
    Sending code skips that round trip: every limit it holds is checked below as well."""
    allow_users = tuple(allow_users)

    out: list[str] = []
    text = payload.get("text")
    blocks = payload.get("blocks") or []
    if not isinstance(text, str) or not text.strip():
        out.append("text fallback missing")
    else:
        if len(text) > MAX_FALLBACK:
            out.append(f"text fallback is {len(text)} characters")
        out.extend(mrkdwn_problems(text, "text"))
    if len(blocks) > MAX_BLOCKS:
        out.append(f"{len(blocks)} blocks, over {MAX_BLOCKS}")
    texts: list[list[tuple[str, str]]] = []  # per block, walked once for the total and escaping
    for block in blocks:
        texts.append([])
        _collect(block, texts[-1])
    total = sum(len(t) for per_block in texts for _, t in per_block)
    if total > MAX_TOTAL_TEXT:
        out.append(f"blocks hold {total} characters of text, over {MAX_TOTAL_TEXT}")
    action_ids: set[str] = set()
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"block {i} ({block.get('type')})"
        try:
            if not reparse:
                raise _Skip
            parsed = Block.parse(block)
            if parsed is None:
                out.append(f"{where}: unknown block type")
                continue
            if parsed.to_dict() != block:
                out.append(f"{where}: not the form slack_sdk's to_dict() gives")
        except _Skip:
            pass
        except (SlackObjectFormationError, KeyError, TypeError, ValueError) as exc:
            out.append(f"{where}: slack_sdk: {exc}")
        bid = block.get("block_id")
        if bid is not None:
            if bid in block_ids:
                out.append(f"{where}: duplicate block_id {bid}")
            block_ids.add(bid)
            if len(bid) > MAX_ID:
                out.append(f"{where}: block_id over {MAX_ID}")
        kind = block.get("type")
        if kind == "section":
            t = block.get("text", {}).get("text", "")
            if len(t) > MAX_SECTION_TEXT:
                out.append(f"{where}: section text over {MAX_SECTION_TEXT}")
            fields = block.get("fields", [])
            if len(fields) > MAX_FIELDS:
                out.append(f"{where}: {len(fields)} fields")
            for f in fields:
                if len(f.get("text", "")) > MAX_FIELD_TEXT:
                    out.append(f"{where}: field over {MAX_FIELD_TEXT}")
            if not t and not fields:
                out.append(f"{where}: empty section")
        elif kind == "header":
            t = block.get("text", {}).get("text", "")
            if len(t) > MAX_HEADER_TEXT:
                out.append(f"{where}: header over {MAX_HEADER_TEXT}")
            if not t:
                out.append(f"{where}: empty header")
        elif kind == "context" and len(block.get("elements", [])) > MAX_CONTEXT_ELEMENTS:
            out.append(f"{where}: context over {MAX_CONTEXT_ELEMENTS} elements")
        elif kind == "actions" and len(block.get("elements", [])) > MAX_ACTIONS_ELEMENTS:
            out.append(f"{where}: actions over {MAX_ACTIONS_ELEMENTS} elements")
        elements = list(block.get("elements", [])) if kind in ("actions", "context") else []
        if "accessory" in block:
            elements.append(block["accessory"])
        for el in elements:
            if not isinstance(el, dict):
                continue
            _check_element(el, where, out)
            aid = el.get("action_id")
            if aid is not None:
                if aid in action_ids:
                    out.append(f"{where}: duplicate action_id {aid}")
                action_ids.add(aid)
        for kind_, t in texts[i]:
            if kind_ == "mrkdwn":
                out.extend(mrkdwn_problems(t, where, allow_users))
    return out
