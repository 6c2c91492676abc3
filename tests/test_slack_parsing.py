"""What the listeners read out of Slack payloads: technique IDs in messages, link targets,
questions behind commands, modal forms, and who may change channel settings."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import actions
from bot.answer import Payload
from bot.config import Settings
from bot.slack.admin import AdminPolicy
from bot.slack.cards import technique_ids_in
from bot.slack.listeners.commands import question_of
from bot.slack.listeners.common import modal_form, public
from bot.slack.listeners.events import from_a_person, question_in
from bot.slack.listeners.shortcuts import ids_in_message
from bot.slack.listeners.unfurl import LinkTarget, parse_link
from bot.slack.messages.modal import SearchForm, form_from_metadata, parse_search
from store.views import Filters


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seeing T1486 and t1490, then T1486 again", ["T1486", "T1490"]),
        ("sub-technique T1059.001.", ["T1059.001"]),
        ("host WST1048 and T10489 and T1048x are not IDs", []),
        ("in code `T1003` and ```T1055``` only", []),
        ("a link <https://attack.mitre.org/techniques/T1048/003/|exfil> and T1110", ["T1110"]),
        ("", []),
    ],
)
def test_technique_ids_in_messages(text: str, expected: list[str]) -> None:
    assert technique_ids_in(text) == expected


def test_technique_ids_are_capped_per_message() -> None:
    text = " ".join(f"T{1000 + n}" for n in range(20))
    assert len(technique_ids_in(text)) == 5


def test_message_shortcut_reads_links_attachments_and_cves() -> None:
    message: dict[str, Any] = {
        "text": "see <https://attack.mitre.org/techniques/T1048/003/|this>",
        "attachments": [{"text": "alert: T1566.002 via cve-2023-34362"}],
    }
    assert ids_in_message(message) == ["T1048.003", "T1566.002", "CVE-2023-34362"]


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://attack.mitre.org/techniques/T1048/", LinkTarget("technique", "T1048")),
        ("https://attack.mitre.org/techniques/T1048/003/", LinkTarget("technique", "T1048.003")),
        (
            "https://center-for-threat-informed-defense.github.io/mappings-explorer/attack/attack-16.1/"
            "domain-enterprise/techniques/T1566/",
            LinkTarget("technique", "T1566", None, "16.1", "enterprise"),
        ),
        (
            "https://center-for-threat-informed-defense.github.io/mappings-explorer/external/nist/attack-14.1/"
            "domain-enterprise/nist_800_53-rev5/SC-07/",
            LinkTarget("capability", "SC-07", "nist_800_53"),
        ),
        ("https://attack.mitre.org/groups/G0007/", None),
        ("https://evil.example/attack.mitre.org/techniques/T1048/", None),
        ("https://attack.mitre.org.evil.example/techniques/T1048/", None),
        ("not a url", None),
    ],
)
def test_links_worth_unfurling(url: str, target: LinkTarget | None) -> None:
    assert parse_link(url) == target


def test_technique_commands_become_questions() -> None:
    assert question_of("/t1048", " SC-07 ", "/attack") == "T1048 SC-07"
    assert question_of("/t1048", "", "/attack") == "T1048"
    assert question_of("/attack", "T1059 aws", "/attack") == "T1059 aws"


def test_the_bots_own_mention_is_dropped_from_the_question() -> None:
    assert question_in("<@U0BOT> what covers  T1110?", "U0BOT") == "what covers T1110?"
    assert question_in("<@U0BOT|countermap> <@U0ALICE> T1110", "U0BOT") == "<@U0ALICE> T1110"


@pytest.mark.parametrize(
    ("event", "human"),
    [
        ({"user": "U1", "text": "hi"}, True),
        ({"user": "U1", "subtype": "thread_broadcast"}, True),
        ({"user": "U1", "subtype": "message_changed"}, False),
        ({"user": "U1", "bot_id": "B1"}, False),
        ({"subtype": "bot_message", "bot_id": "B1"}, False),
        ({"user": "U0BOT"}, False),
    ],
)
def test_only_people_get_answers(event: dict[str, Any], human: bool) -> None:
    assert from_a_person(event, "U0BOT") is human


def test_search_form_is_read_and_survives_a_round_trip() -> None:
    values = {
        "cm_q": {"cm_q": {"value": " T1110 "}},
        "cm_fw": {"cm_fw": {"selected_options": [{"value": "aws"}, {"value": "m365"}]}},
        "cm_cat": {"cm_cat": {"selected_options": [{"value": "detect"}, {"value": "bogus"}]}},
        "cm_min": {"cm_min": {"selected_option": {"value": "partial"}}},
        "cm_dom": {"cm_dom": {"selected_option": None}},
    }
    form = parse_search(values)
    assert form == SearchForm(
        query="T1110",
        frameworks=("aws", "m365"),
        filters=Filters(categories=("detect",), min_score="partial"),
    )
    assert form_from_metadata(form.to_json()) == form
    assert form_from_metadata("not json") is None


def test_share_and_export_buttons_are_removed_where_they_cannot_work() -> None:
    buttons = [{"type": "button", "action_id": a, "value": "v"} for a in
               (actions.SHARE, actions.EXPORT_CSV + ":1", actions.PAGE)]  # fmt: skip
    payload = Payload("t", [{"type": "actions", "elements": buttons}, {"type": "divider"}])
    assert [e["action_id"] for e in public(payload).blocks[0]["elements"]] == ["cm_export_csv:1", "cm_page"]
    only_share = Payload("t", [{"type": "actions", "elements": buttons[:1]}])
    assert public(only_share).blocks == []
    assert [e["action_id"] for e in modal_form(payload).blocks[0]["elements"]] == ["cm_page"]


class _Users:
    def __init__(self, admin: bool) -> None:
        self.admin, self.calls = admin, 0

    def users_info(self, user: str) -> dict[str, Any]:
        self.calls += 1
        return {"user": {"id": user, "is_admin": self.admin}}


def test_admin_modes() -> None:
    users = _Users(admin=False)
    members = AdminPolicy(Settings(admin_mode="channel_members"))
    assert members.may_change_settings(users, "T1", "U1").allowed  # type: ignore[arg-type]
    configured = AdminPolicy(Settings(admin_mode="configured", admins=("U9",)))
    assert not configured.may_change_settings(users, "T1", "U1").allowed  # type: ignore[arg-type]
    assert configured.may_change_settings(users, "T1", "U9").allowed  # type: ignore[arg-type]
    workspace = AdminPolicy(Settings(admin_mode="workspace_admins"))
    assert not workspace.may_change_settings(users, "T1", "U1").allowed  # type: ignore[arg-type]
    assert not workspace.may_change_settings(users, "T1", "U1").allowed  # type: ignore[arg-type]
    assert users.calls == 1  # cached
    assert workspace.may_change_settings(_Users(admin=True), "T1", "U2").allowed  # type: ignore[arg-type]
    typo = AdminPolicy(Settings(admin_mode="everyone"))
    assert not typo.may_change_settings(users, "T1", "U1").allowed  # type: ignore[arg-type]


_slackish = st.text(
    alphabet=st.sampled_from(list("T1048.0359 <>|@!#`*_~:/-htpsattack.mitre.orgCVE\n")), max_size=300
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_slackish, st.text(max_size=300)))
def test_any_message_yields_only_well_formed_technique_ids(text: str) -> None:
    for ids in (technique_ids_in(text), technique_ids_in(text, include_links=True)):
        assert len(ids) <= 5 and len(set(ids)) == len(ids)
        assert all(re.fullmatch(r"T\d{4}(\.\d{3})?", i) for i in ids)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_slackish, st.text(max_size=300)))
def test_any_link_is_parsed_without_error(text: str) -> None:
    for url in (
        text,
        "https://attack.mitre.org/" + text,
        "https://center-for-threat-informed-defense.github.io/" + text,
    ):
        target = parse_link(url)
        assert target is None or target.kind in ("technique", "capability")
