"""``as_dict`` writes slack_sdk objects out exactly as their ``to_dict()`` does.

The full-corpus tests check it on every block of every answer; these pin the shapes the corpus
may not hold (empty and missing values, flags set to False, option descriptions and URLs,
classes with a ``to_dict`` of their own).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    OptionGroup,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)

from bot.render.serialize import as_dict

flags = st.sampled_from([None, True, False])
texts = st.text(max_size=40)


@given(texts, flags)
def test_text_objects_match_to_dict(text: str, flag: bool | None) -> None:
    for obj in (MarkdownTextObject(text=text, verbatim=flag), PlainTextObject(text=text, emoji=flag)):
        assert as_dict(obj) == obj.to_dict()


@given(texts, st.sampled_from([None, "primary", "danger"]), st.sampled_from([None, "", "cm1:{}"]))
def test_sections_with_buttons_match_to_dict(text: str, style: str | None, value: str | None) -> None:
    button = ButtonElement(
        text=PlainTextObject(text="Details", emoji=True), action_id="a", value=value, style=style
    )
    block = SectionBlock(text=MarkdownTextObject(text=text or "x"), accessory=button, block_id=None)
    assert as_dict(block) == block.to_dict()


def test_blocks_with_lists_and_empty_lists_match_to_dict() -> None:
    blocks = [
        SectionBlock(fields=[MarkdownTextObject(text="a"), MarkdownTextObject(text="b")]),
        ContextBlock(elements=[MarkdownTextObject(text="c")]),
        ContextBlock(elements=[]),
        HeaderBlock(text=PlainTextObject(text="T1048", emoji=True), block_id="h"),
        ActionsBlock(elements=[ButtonElement(text="Go", action_id="go", url="https://attack.mitre.org/")]),
    ]
    for block in blocks:
        assert as_dict(block) == block.to_dict()


def test_options_and_selects_match_to_dict_in_block_form() -> None:
    options = [
        Option(text=PlainTextObject(text="rev4", emoji=True), value="cm1:a"),
        Option(label="plain label", value="v"),
        Option(text="with description", value="d", description="more"),
        Option(text="with url", value="u", url="https://example.org/"),
    ]
    for opt in options:
        assert as_dict(opt) == opt.to_dict()
    select = StaticSelectElement(placeholder="Other release…", action_id="pick", options=options)
    assert as_dict(select) == select.to_dict()


def test_classes_with_their_own_to_dict_are_written_by_it() -> None:
    group = OptionGroup(label="NIST", options=[Option(text="rev5", value="x")])
    confirm = ConfirmObject(title="Sure?", text="Share this answer", confirm="Yes", deny="No")
    assert as_dict(group) == group.to_dict()
    assert as_dict(confirm) == confirm.to_dict()
    button = ButtonElement(text="Share", action_id="share", value="v", confirm=confirm)
    assert as_dict(button) == button.to_dict()
