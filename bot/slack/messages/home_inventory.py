"""App Home's inventory section and the modal that changes it (add or remove controls)."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
)
from slack_sdk.models.views import View

ADD = "cm_inv_add"  # App Home button: open the add modal
REMOVE = "cm_inv_remove"
MODAL = "cm_inv_modal"  # callback ID of the modal; private_metadata is "add" or "remove"
IDS_BLOCK, IDS_INPUT = "cm_inv_ids", "ids"
STATUS_BLOCK, STATUS_INPUT = "cm_inv_status", "status"
MAX_IDS_CHARS = 3000


def inventory_section(text: str, *, admin: bool, command: str) -> list[Block]:
    """``text``: the inventory listing in mrkdwn (``bot.render.inventory``)."""
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text="*Your controls*")),
        SectionBlock(text=MarkdownTextObject(text=text[:2900])),
    ]
    if admin:
        blocks.append(
            ActionsBlock(
                block_id="cm_inv_actions",
                elements=[
                    ButtonElement(text="Add controls", action_id=ADD, value="add", style="primary"),
                    ButtonElement(text="Remove controls", action_id=REMOVE, value="remove"),
                ],
            )
        )
    hint = (
        f"Answers mark the controls you have. `{command} inventory import` reads a CSV or YAML file you"
        f" shared in a channel; `{command} inventory channel …` gives a channel its own."
    )
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=hint)]))
    return blocks


def inventory_modal(action: str) -> View:
    adding = action == "add"
    blocks: list[Block] = [
        InputBlock(
            block_id=IDS_BLOCK,
            label="Control IDs",
            hint="Any framework: SC-07, DEF-ATH-E5, amazon_guardduty … separated by spaces, commas or lines.",
            element=PlainTextInputElement(
                action_id=IDS_INPUT, multiline=True, max_length=MAX_IDS_CHARS, placeholder="SC-07 SI-04"
            ),
        )
    ]
    if adding:
        blocks.append(
            InputBlock(
                block_id=STATUS_BLOCK,
                label="Status",
                element=RadioButtonsElement(
                    action_id=STATUS_INPUT,
                    options=[
                        Option(value="deployed", label="Deployed"),
                        Option(value="planned", label="Planned"),
                    ],
                    initial_option=Option(value="deployed", label="Deployed"),
                ),
            )
        )
    return View(
        type="modal",
        callback_id=MODAL,
        private_metadata="add" if adding else "remove",
        title=PlainTextObject(text="Add controls" if adding else "Remove controls"),
        submit=PlainTextObject(text="Add" if adding else "Remove"),
        close=PlainTextObject(text="Cancel"),
        blocks=blocks,
    )
