"""``/attack inventory`` and ``/attack gaps`` end to end over HTTP on the real corpus: IDs checked,
admins only for changes, imports from a file shared in the channel, coverage against the result."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from bot.answer import Answerer
from bot.config import Settings
from bot.render.limits import violations
from store.state import inventory as store_inventory
from store.state.inventory import WORKSPACE
from tests.slack_harness import CHANNEL, USER, SlackUnderTest, running_app


@pytest.fixture(autouse=True)
def _no_slack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def real_answerer(corpus_engine: Engine) -> Answerer:
    answerer = Answerer(corpus_engine, Settings())
    answerer.refresh_if_stale()
    return answerer


@pytest.fixture
def team() -> str:
    return f"T{uuid.uuid4().hex[:9].upper()}"


@pytest.fixture
def slack(corpus_engine: Engine, real_answerer: Answerer) -> Iterator[SlackUnderTest]:
    """Inventories live beside the data they are checked against (each test its own team)."""
    with running_app(corpus_engine, real_answerer, admin_mode="configured", admins=("U0BOSS",)) as s:
        s.fake.add_channel(CHANNEL, "soc")
        yield s


def text_of(reply: dict) -> str:  # type: ignore[type-arg]
    assert violations({"text": reply.get("text", ""), "blocks": reply.get("blocks", [])}) == []
    return " ".join(b.get("text", {}).get("text", "") for b in reply.get("blocks", []))


def held(engine: Engine, team: str, channel: str = WORKSPACE) -> set[str]:
    return {c.capability_id for c in store_inventory.inventory(engine, team, channel).controls}


def test_an_admin_adds_controls_in_any_written_form(slack: SlackUnderTest, team: str) -> None:
    reply = slack.command("inventory add sc7 DEF-ATH guardduty", team_id=team, user_id="U0BOSS").json()
    assert "added" in text_of(reply)
    assert held(slack.engine, team) == {"SC-07", "DEF-ATH-E5", "amazon_guardduty"}


def test_a_non_admin_can_list_but_not_change(slack: SlackUnderTest, team: str) -> None:
    refused = slack.command("inventory add SC-07", team_id=team, user_id=USER).json()
    assert "Only the admins" in text_of(refused) and held(slack.engine, team) == set()
    assert "No inventory yet" in text_of(slack.command("inventory", team_id=team, user_id=USER).json())


def test_an_unknown_id_is_refused_with_a_did_you_mean_and_nothing_stored(
    slack: SlackUnderTest, team: str
) -> None:
    reply = slack.command("inventory add SC-07 amazon_guarduty", team_id=team, user_id="U0BOSS").json()
    text = text_of(reply)
    assert "Nothing was changed" in text and "amazon_guardduty" in text
    assert held(slack.engine, team) == set()


def test_a_channel_inventory_overrides_the_workspace_in_list(slack: SlackUnderTest, team: str) -> None:
    slack.command("inventory add SC-07", team_id=team, user_id="U0BOSS")
    slack.command("inventory channel add SI-04", team_id=team, user_id="U0BOSS", channel_id=CHANNEL)
    listed = text_of(slack.command("inventory list", team_id=team, channel_id=CHANNEL).json())
    assert "own inventory" in listed and "SI-04" in listed and "SC-07" not in listed
    assert held(slack.engine, team, CHANNEL) == {"SI-04"}


def test_import_reads_the_csv_the_user_just_shared(slack: SlackUnderTest, team: str) -> None:
    slack.fake.share_file(CHANNEL, "U0BOSS", "old.csv", b"id\nAC-02\n", age_seconds=7200)
    slack.fake.share_file(
        CHANNEL, "U0BOSS", "ours.csv", "\ufeffid;status\nSC-07;deployed\nSI-04;planned\n".encode()
    )
    reply = slack.command("inventory import", team_id=team, user_id="U0BOSS", channel_id=CHANNEL).json()
    assert "Imported 2 controls" in text_of(reply)
    inv = store_inventory.inventory(slack.engine, team)
    assert {(c.capability_id, c.status) for c in inv.controls} == {
        ("SC-07", "deployed"),
        ("SI-04", "planned"),
    }
    download = slack.fake.calls_to("files")[0]
    assert download.headers["authorization"].startswith("Bearer xoxb-")


def test_import_without_a_recent_file_says_how(slack: SlackUnderTest, team: str) -> None:
    reply = slack.command("inventory import", team_id=team, user_id="U0BOSS", channel_id=CHANNEL).json()
    assert "Share a CSV or YAML file" in text_of(reply)


def test_export_is_shown_only_to_the_requester_and_reads_back(slack: SlackUnderTest, team: str) -> None:
    slack.command("inventory add SC-07 amazon_guardduty", team_id=team, user_id="U0BOSS")
    reply = slack.command("inventory export", team_id=team, user_id=USER).json()
    assert reply["response_type"] == "ephemeral"
    text = text_of(reply)
    assert "nist_800_53,SC-07,deployed" in text and "aws,amazon_guardduty,deployed" in text


def test_gaps_for_a_cve_count_the_inventorys_coverage(slack: SlackUnderTest, team: str) -> None:
    slack.command("inventory add SI-04", team_id=team, user_id="U0BOSS")
    text = text_of(slack.command("gaps CVE-2023-34362", team_id=team, channel_id=CHANNEL).json())
    assert "Your controls (the workspace inventory) cover" in text and "of 7" in text and "Gaps" in text


def test_gaps_without_an_inventory_say_so_and_still_suggest(slack: SlackUnderTest, team: str) -> None:
    text = text_of(slack.command("gaps exfiltration", team_id=team, channel_id=CHANNEL).json())
    assert "No control inventory yet" in text and "to close" in text
