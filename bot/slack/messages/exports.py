"""What the requester of an export is told: a private answer's export goes to them alone (a
direct message from the bot), with a button to post it in the channel if they choose to."""

from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, MarkdownTextObject, SectionBlock

from bot import actions
from bot.answer import Payload
from bot.slack.messages import esc

KIND_NAMES = {"csv": "CSV", "navigator": "ATT&CK Navigator layer"}
POST_ACTIONS = {"csv": actions.EXPORT_POST_CSV, "navigator": actions.EXPORT_POST_NAVIGATOR}


def kind_name(fmt: str) -> str:
    return KIND_NAMES.get(fmt, fmt)


def comment(fmt: str, *, requested_by: str | None = None, shared_by: str | None = None) -> str:
    """The line posted with the file: who asked for it, or who chose to share it."""
    what = kind_name(fmt)
    if shared_by:
        return f"{what} export shared by <@{esc(shared_by)}>"
    if requested_by:
        return f"{what} export requested by <@{esc(requested_by)}>"
    return f"{what} export"


def private_comment(fmt: str, channel_id: str | None) -> str:
    """The line with the file in the requester's direct message."""
    where = f" in <#{esc(channel_id)}>" if channel_id and channel_id[:1] in ("C", "G") else ""
    return f"The {kind_name(fmt)} export you asked for{where}. Only you can see it here."


def sent_privately_payload(fmt: str, value: str, *, can_post: bool) -> Payload:
    """The private answer's export went to the requester's direct messages; the channel saw
    nothing.  ``can_post``: offer to post it in the channel (not when the answer is in that DM)."""
    text = f"I sent you the {kind_name(fmt)} in a direct message: only you can see it."
    return _with_post_button(text, fmt, value, can_post=can_post)


def not_sent_payload(fmt: str, value: str, *, reason: str) -> Payload:
    """The direct message could not be opened or the file not sent there: nothing was posted."""
    text = (
        f"I couldn't send you the {kind_name(fmt)} in a direct message (Slack said `{esc(reason)}`), "
        "so nothing was posted. You can post it in the channel for everyone instead."
    )
    return _with_post_button(text, fmt, value, can_post=True, emoji=":warning:")


def _with_post_button(text: str, fmt: str, value: str, *, can_post: bool, emoji: str = ":lock:") -> Payload:
    section = SectionBlock(text=MarkdownTextObject(text=f"{emoji} {text}"))
    blocks: list[SectionBlock | ActionsBlock] = [section]
    if can_post:
        button = ButtonElement(text="Post it in the channel", action_id=POST_ACTIONS[fmt], value=value)
        blocks.append(ActionsBlock(elements=[button]))
    return Payload(text=text, blocks=[b.to_dict() for b in blocks])
