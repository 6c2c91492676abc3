"""A several-entity answer as a Slack message: one section per entity with an Open button."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot import actions
from bot.labels import release_label
from bot.render.mrkdwn import clip, code, esc
from bot.render.multi import Part, line_parts, plain, title
from bot.render.serialize import as_dict
from bot.render.state import State, StateEncoder, StateError
from store.views import MultiEntry, MultiView, ViewRequest

MAX_LINES = 10  # entities shown (the state holds at most five techniques and five controls)


def _mrkdwn(parts: list[Part]) -> str:
    return "".join(code(text) if kind == "id" else esc(text) for kind, text in parts)


def _open_request(e: MultiEntry) -> ViewRequest | None:
    if e.request is not None:
        return e.request
    if e.nearest:
        return ViewRequest("technique", (e.nearest[0].id,))
    return None


def render_multi(
    view: MultiView, state: State, *, shared_by: str | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, blocks): a header, one section per entity with an Open button (each
    opens that entity's full answer privately), and a note of what was left out."""
    encode = StateEncoder()
    blocks: list[Any] = [HeaderBlock(text=PlainTextObject(text=clip(title(view), 150)))]
    n = 0
    for e in view.entries[:MAX_LINES]:
        text = clip(("" if e.known else ":warning: ") + _mrkdwn(line_parts(e, view)), 2900)
        accessory = None
        req = _open_request(e)
        if req is not None:
            fws = req.frameworks or (state.request.frameworks if req.kind == "technique" else ())
            opened = ViewRequest(
                req.kind, req.techniques, req.capabilities, req.group, fws, req.filters, req.domain
            )
            try:
                value: str | None = encode(State(opened))
            except StateError:
                value = None
            if value is not None:
                label = f"Open {e.nearest[0].id}" if not e.known and e.nearest else "Open"
                accessory = ButtonElement(
                    text=PlainTextObject(text=label), action_id=f"{actions.OPEN}:{n}", value=value
                )
                n += 1
        blocks.append(SectionBlock(text=MarkdownTextObject(text=text), accessory=accessory))
    if len(view.entries) > MAX_LINES:
        more = MarkdownTextObject(
            text=f"{len(view.entries) - MAX_LINES} more named: ask about them separately."
        )
        blocks.append(ContextBlock(elements=[more]))
    provenance = view.provenance
    if provenance:
        src = " | ".join(esc(release_label(r)) for r in provenance[:6])
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=clip(f"Source: {src}", 1900))]))
    if shared_by:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"Shared by <@{shared_by}>")]))
    else:
        try:
            share = ButtonElement(
                text=PlainTextObject(text="Share in channel"), action_id=actions.SHARE, value=encode(state)
            )
            blocks.append(ActionsBlock(elements=[share]))
        except StateError:
            pass
    fallback = clip(title(view) + ": " + "; ".join(plain(line_parts(e, view)) for e in view.entries), 3000)
    return esc(fallback), [as_dict(b) for b in blocks]
