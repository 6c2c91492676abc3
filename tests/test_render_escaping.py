"""Hostile data and hostile user text never ping, link or restyle a Slack message.

Data comes from a small fixture database of our own (both backends) whose names, comments and
IDs carry ``&<>``, mentions, links and backticks; user text goes through the "did you mean"
and the echo paths.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from bot.render.blocks import render_view
from bot.render.limits import mrkdwn_problems, violations
from bot.render.mrkdwn import code, esc, esc_user, link
from bot.render.state import State
from store.db import session_scope, write_connection
from store.models import Capability, Mapping, Release, Technique
from store.reads.dispatch import build_view
from store.views import Alternative, MessageView, ViewRequest

EVIL = "<!channel> <!here> <@U123ABC> <http://evil.example|ok> `x` & *bold*"
PINGS = re.compile(r"<!channel>|<!here>|<@U123ABC>|<http://evil")


def _all_text(payload: dict[str, Any]) -> list[str]:
    out = [payload["text"]]

    def walk(o: Any) -> None:
        if isinstance(o, dict):
            if isinstance(o.get("text"), str):
                out.append(o["text"])
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(payload["blocks"])
    return out


def _load_fixture(engine: Engine) -> None:
    with write_connection(engine) as conn:
        rid = conn.execute(
            insert(Release).returning(Release.id),
            {
                "framework": "csa_ccm",
                "framework_version": "v4.0",
                "attack_version": "16.1",
                "domain": "enterprise",
                "last_update": dt.date(2025, 1, 2),
                "mapping_types": {"mitigates": {"name": "Mitigates <b>&</b>", "description": ""}},
                "capability_groups": {"A&A": "Audit & Assurance <!channel>"},
                "source_file": "fixture.json",
                "sha256": "0" * 64,
            },
        ).scalar_one()
        cap = conn.execute(
            insert(Capability).returning(Capability.id),
            {
                "framework": "csa_ccm",
                "capability_id": "A&A-01",
                "id_as_written": "A&A-01",
                "name": f"Audit {EVIL}",
                "group": "A&A",
                "group_name": "Audit & Assurance <!channel>",
            },
        ).scalar_one()
        conn.execute(
            insert(Technique),
            [
                {
                    "stix_id": "attack-pattern--fixture-1",
                    "domain": "enterprise",
                    "attack_id": "T1048",
                    "name": f"Exfil {EVIL}",
                    "description": f"First paragraph {EVIL}.(Citation: X)\n\nSecond.",
                    "tactics": ["exfiltration"],
                    "platforms": ["<@U123ABC>"],
                }
            ],
        )
        conn.execute(
            insert(Mapping),
            [
                {
                    "release_id": rid,
                    "position": 0,
                    "framework": "csa_ccm",
                    "capability_pk": cap,
                    "capability_id": "A&A-01",
                    "capability_id_as_written": "A&A-01",
                    "capability_name": f"Audit {EVIL}",
                    "capability_group": "A&A",
                    "attack_id": "T1048",
                    "attack_id_as_written": "T1048",
                    "attack_name": f"Exfil {EVIL}",
                    "mapping_type": "mitigates",
                    "comments": f"Why: {EVIL}\n\nLicense Requirements:\nE5 {EVIL}",
                    "license_requirements": f"E5 {EVIL}",
                    "references": [
                        "http://evil.example/a|b>c",
                        "javascript:alert(1)",
                        "https://ok.example/x?a=1&b=2",
                    ],
                    "status": "complete",
                }
            ],
        )


@pytest.fixture
def fixture_engine(engine: Engine) -> Engine:
    _load_fixture(engine)
    return engine


def _assert_safe(payload: dict[str, Any]) -> None:
    assert violations(payload) == []
    for text in _all_text(payload):
        assert not PINGS.search(text), text
        assert not re.search(r"&amp;(amp|lt|gt);", text), f"escaped twice: {text}"


def test_hostile_data_is_escaped_in_every_view_and_detail(fixture_engine: Engine) -> None:
    requests = [
        ViewRequest("technique", ("T1048",), frameworks=("csa_ccm",)),
        ViewRequest("capability", capabilities=(("csa_ccm", "A&A-01"),)),
        ViewRequest("pair", ("T1048",), (("csa_ccm", "A&A-01"),)),
        ViewRequest("group", group=("csa_ccm", "A&A")),
        ViewRequest("framework", frameworks=("csa_ccm",)),
        ViewRequest("compare", ("T1048",), frameworks=("csa_ccm",)),
    ]
    with session_scope(fixture_engine) as session:
        views = [(r, build_view(session, r)) for r in requests]
    for request, view in views:
        out = render_view(view, State(request))
        _assert_safe({"text": out.text, "blocks": out.blocks})
    request, view = views[0]
    line = view.sections[0].groups[0].lines[0]  # type: ignore[union-attr]
    assert line.license_requirements and "License" not in (line.comments or "")
    detail = render_view(view, State(request, expanded=line.key))
    payload = {"text": detail.text, "blocks": detail.blocks}
    _assert_safe(payload)
    texts = "\n".join(_all_text(payload))
    # IDs show as written (Slack decodes &amp;), only http(s) references become links.
    assert "`A&amp;A-01`" in texts
    assert "javascript:" not in re.sub(r"&[a-z]+;", "", "".join(re.findall(r"<([^>]*)>", texts)))
    assert "<https://ok.example/x?a=1&amp;b=2|" in texts


def test_user_text_in_did_you_mean_is_escaped_and_cannot_format() -> None:
    view = MessageView(
        "No match",
        "Nothing matched.",
        query=EVIL,
        alternatives=(Alternative("technique", "T1048", f"Exfil {EVIL}", 80.0),),
    )
    out = render_view(view, State(ViewRequest("unknown")))
    payload = {"text": out.text, "blocks": out.blocks}
    _assert_safe(payload)
    echoed = next(t for t in _all_text(payload) if "You asked" in t)
    assert "`" not in echoed and "*bold*" not in echoed
    assert "&lt;!channel&gt;" in echoed


def test_escape_helpers() -> None:
    assert esc("A&A-01 <x>") == "A&amp;A-01 &lt;x&gt;"
    assert code("a`b") == "`aˋb`"
    assert link("javascript:alert(1)", "x<y") == "x&lt;y"
    assert link("https://a.example/?q=1&r=2", "A|B") == "<https://a.example/?q=1&amp;r=2|A¦B>"
    assert "`" not in esc_user("`rm -rf /`") and "\n" not in esc_user("a\nb")


def test_validator_catches_what_slack_would_ping_or_refuse() -> None:
    assert mrkdwn_problems("hi <!channel>", "t")
    assert mrkdwn_problems("hi <@U123>", "t")
    assert mrkdwn_problems("A&A", "t")
    assert not mrkdwn_problems("<https://x.example|x> &amp; &lt; \n>quoted", "t")
    too_many = {"text": "t", "blocks": [{"type": "divider"}] * 51}
    assert any("51 blocks" in v for v in violations(too_many))
    long_field = {
        "text": "t",
        "blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * 2001}]}],
    }
    assert any("field over 2000" in v for v in violations(long_field))
    dup = {
        "text": "t",
        "blocks": [
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "a"},
                        "action_id": "a",
                        "value": "1",
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "b"},
                        "action_id": "a",
                        "value": "2",
                    },
                ],
            }
        ],
    }
    assert any("duplicate action_id" in v for v in violations(dup))
    assert any("text fallback" in v for v in violations({"text": "x" * 4000, "blocks": []}))
