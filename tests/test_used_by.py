"""The "used by" line of technique answers and the list its button opens, checked against the
bundle's ``uses`` links (revoked targets through their replacement, revoked or deprecated
threats left out)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot import actions
from bot.answer import Answerer
from bot.config import Settings
from bot.render.limits import violations
from bot.render.state import decode_state
from store.threat_views import TechniqueUsers
from store.views import TechniqueView
from tests.slack_harness import element
from tests.stix_facts import bundle_objects, external_id, uses_targets

_KIND = {"intrusion-set": "group", "malware": "software", "tool": "software", "campaign": "campaign"}


@pytest.fixture(scope="module")
def answerer(corpus_engine: Engine) -> Answerer:
    a = Answerer(corpus_engine, Settings())
    a.refresh_if_stale()
    return a


@pytest.fixture(scope="module")
def users_in_bundle(corpus_dir: Path) -> dict[str, dict[str, set[str]]]:
    """Technique ID -> kind -> the IDs of the live threats that use it, from the bundle."""
    objects = bundle_objects(corpus_dir)
    live = {
        str(external_id(o)): _KIND[o["type"]]
        for o in objects
        if o["type"] in _KIND and not o.get("revoked") and not o.get("x_mitre_deprecated")
    }
    out: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for threat, techniques in uses_targets(objects).items():
        if threat in live:
            for tid in techniques:
                out[tid][live[threat]].add(threat)
    return out


def test_every_techniques_used_by_counts_equal_the_bundles(
    answerer: Answerer, users_in_bundle: dict[str, dict[str, set[str]]]
) -> None:
    checked = 0
    for tid in sorted(users_in_bundle)[::7]:
        view = answerer.read(tid).view
        assert isinstance(view, TechniqueView), tid
        want = users_in_bundle[tid]
        assert view.used_by is not None, tid
        got = (view.used_by.groups, view.used_by.software, view.used_by.campaigns)
        assert got == (len(want["group"]), len(want["software"]), len(want["campaign"])), tid
        assert {t.attack_id for t in view.used_by.top} <= set().union(*want.values())
        checked += 1
    assert checked > 70


def test_a_technique_nobody_uses_has_no_line(
    answerer: Answerer, corpus_dir: Path, users_in_bundle: dict[str, Any]
) -> None:
    current = sorted(
        str(external_id(o))
        for o in bundle_objects(corpus_dir)
        if o["type"] == "attack-pattern" and not o.get("revoked") and not o.get("x_mitre_deprecated")
    )
    unused = [t for t in current if t not in users_in_bundle]
    assert unused
    view = answerer.read(unused[0]).view
    assert isinstance(view, TechniqueView) and view.used_by is None
    assert "Used by" not in str(answerer.answer(unused[0]).payload.blocks)


def test_the_line_names_the_counts_and_the_best_known_users(answerer: Answerer) -> None:
    answer = answerer.answer("T1003.001")
    view = answer.view
    assert isinstance(view, TechniqueView) and view.used_by is not None
    line = next(
        e["text"]
        for b in answer.payload.blocks
        if b["type"] == "context"
        for e in b["elements"]
        if e["text"].startswith("*Used by*")
    )
    assert f"{view.used_by.groups} groups" in line and f"{view.used_by.software} software" in line
    assert all(t.name in line for t in view.used_by.top) and line.endswith("…)")
    assert "Used by" in answerer.card("T1003.001").payload.blocks[0]["text"]["text"]


def test_the_used_by_button_lists_every_user_with_its_procedure(
    answerer: Answerer, users_in_bundle: dict[str, dict[str, set[str]]]
) -> None:
    answer = answerer.answer("T1059.001")
    button = next(
        e
        for b in answer.payload.blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e.get("text", {}).get("text") == "Used by…"
    )
    assert decode_state(button["value"]).request.kind == "users"
    opened = answerer.answer_from_state(button["value"])
    users = opened.view
    assert isinstance(users, TechniqueUsers)
    assert {u.attack_id for u in users.users} == set().union(*users_in_bundle["T1059.001"].values())
    assert [u.kind for u in users.users] == sorted(
        (u.kind for u in users.users), key=["group", "software", "campaign"].index
    )
    assert sum(1 for u in users.users if u.procedure) > len(users.users) // 2
    value = button["value"]
    for page in range(1, opened.pages + 1):
        out = opened if page == 1 else answerer.answer_from_state(value[:-1] + f',"p":{page}}}')
        assert violations(out.payload.to_dict(), reparse=True) == [], page
    assert opened.pages > 1  # hundreds of users, paged
    menu = element(opened.payload.blocks, actions.OPEN)
    actor = answerer.answer_from_state(menu["options"][0]["value"])
    assert actor.ok and decode_state(menu["options"][0]["value"]).request.kind == "threat"


def test_links_to_a_revoked_technique_count_for_its_replacement(
    answerer: Answerer, users_in_bundle: dict[str, dict[str, set[str]]]
) -> None:
    view = answerer.read("T1218.011").view  # T1085 Rundll32 was revoked by it
    assert isinstance(view, TechniqueView) and view.used_by is not None
    assert view.used_by.total == sum(len(v) for v in users_in_bundle["T1218.011"].values())
