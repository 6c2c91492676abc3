"""The one rendering of a ``UserFacingError``, on every surface: the ack of a command or modal,
a lazy listener, Bolt's ``@app.error``, the answer hub's refusals (a forged button, a coverage
question it cannot answer) and the digest and inventory commands' refusals."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from bot.answer_contract import Payload
from bot.errors import UserFacingError
from bot.render.mrkdwn import esc

TRACE_HINT = "Give the error ID to your countermap admin to trace it."


def error_payload(error: UserFacingError) -> Payload:
    """The sentence (escaped unless it is already mrkdwn), the error ID to quote when the cause is
    ours, and the hint saying what to do instead when there is one."""
    text = error.message if error.mrkdwn else esc(error.message)
    if error.error_id:
        text += f" (error ID `{esc(error.error_id)}`)"
    blocks: list[Any] = [SectionBlock(text=MarkdownTextObject(text=f":warning: {text}"[:3000]))]
    if error.error_id:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=TRACE_HINT)]))
    if error.hint:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=error.hint[:3000])]))
    return Payload(text=text[:3900], blocks=[b.to_dict() for b in blocks])
