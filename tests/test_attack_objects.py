"""ATT&CK tactics and mitigations as entities (issue 12 item 4): the resolver names them by ID and
by name, and their answers list their techniques with each framework's coverage.

Resolver behaviour is checked on a small hand-written index; the views and answers on the real
corpus, against what the database itself says (independent selects, not the view's own code).
"""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO

import pytest
from rich.console import Console
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.answer import Answerer
from bot.config import Settings
from bot.coverage.overlay import answer_subject
from bot.render.limits import violations
from bot.render.state import State, StateError, decode_state, encode_state
from bot.render.terminal import renderable
from bot.resolve import ResolverIndex, resolve
from store.attack_views import AttackObjectView
from store.db import session_scope
from store.models import Mapping, Mitigation, MitigationLink, Release, Technique
from store.reads.attack_objects import mitigation_view, tactic_view
from store.reads.resolver_source import (
    CapabilityRow,
    IndexSource,
    MitigationRow,
    TacticRow,
    TechniqueRow,
)
from store.views import ViewRequest

# ---------------------------------------------------------------- resolver, small index


def _index() -> ResolverIndex:
    t = TechniqueRow
    return ResolverIndex.from_source(
        IndexSource(
            techniques=[
                t("T1048", "Exfiltration Over Alternative Protocol", tactics=("exfiltration",)),
                t("T1021", "Remote Services", tactics=("lateral-movement",)),
                t("T1021.001", "Remote Desktop Protocol", parent_id="T1021", tactics=("lateral-movement",)),
                t("T1053.003", "Cron", tactics=("persistence",)),
            ],
            capabilities=[
                CapabilityRow("m365", "DEF-LM-E5", "Lateral Movements", "m365-defender"),
                CapabilityRow("m365", "EID-MFA-E3", "Multifactor Authentication", "entra-id"),
            ],
            tactics=[
                TacticRow("enterprise", "exfiltration", "Exfiltration", "TA0010"),
                TacticRow("mobile", "exfiltration", "Exfiltration", "TA0036"),
                TacticRow("enterprise", "lateral-movement", "Lateral Movement", "TA0008"),
                TacticRow("enterprise", "persistence", "Persistence", "TA0003"),
            ],
            mitigations=[
                MitigationRow("M1037", "Filter Network Traffic"),
                MitigationRow("M1032", "Multi-factor Authentication"),
            ],
        )
    )


INDEX = _index()


@pytest.mark.parametrize(
    ("text", "kind", "attack_id"),
    [
        ("TA0010", "tactic", "TA0010"),
        ("ta-0008", "tactic", "TA0008"),
        ("exfiltration", "tactic", "TA0010"),
        ("what covers lateral movement?", "tactic", "TA0008"),
        ("M1037", "mitigation", "M1037"),
        ("m-1037", "mitigation", "M1037"),
        ("filter network traffic", "mitigation", "M1037"),
    ],
)
def test_tactics_and_mitigations_resolve_by_id_and_by_name(text: str, kind: str, attack_id: str) -> None:
    res = resolve(INDEX, text)
    assert res.intent == kind
    assert res.attack_objects[0].id == attack_id
    assert res.to_json()[f"{kind}s"][0]["id"] == attack_id


def test_a_tactic_name_beats_a_control_called_the_same() -> None:
    res = resolve(INDEX, "lateral movement")
    assert (res.intent, res.capabilities) == ("tactic", ())


def test_the_enterprise_tactic_wins_over_its_mobile_namesake_unless_mobile_is_asked() -> None:
    assert resolve(INDEX, "exfiltration").attack_objects[0].id == "TA0010"
    assert resolve(INDEX, "mobile exfiltration").attack_objects[0].id == "TA0036"


def test_a_mitigation_yields_to_a_framework_control_of_the_same_name() -> None:
    res = resolve(INDEX, "multifactor authentication")
    assert res.intent == "capability" and res.capabilities[0].id == "EID-MFA-E3"
    assert "M1032" in [a.id for a in res.alternatives]


@pytest.mark.parametrize("text", ["cron job persistence", "lateral movement via remote desktop protocol"])
def test_a_tactic_word_beside_a_technique_is_context_not_the_answer(text: str) -> None:
    res = resolve(INDEX, text)
    assert res.intent == "technique", res.to_json()


def test_an_unknown_tactic_id_is_not_read_as_words() -> None:
    res = resolve(INDEX, "TA9999")
    assert res.attack_objects == () and res.techniques == ()


# ---------------------------------------------------------------- views, real corpus


@pytest.fixture
def session(corpus_engine: Engine) -> Iterator[Session]:
    with session_scope(corpus_engine) as s:
        yield s


def _current_in_tactic(session: Session, shortname: str) -> set[str]:
    rows = session.execute(
        select(Technique.attack_id, Technique.tactics).where(
            Technique.domain == "enterprise", Technique.revoked.is_(False), Technique.deprecated.is_(False)
        )
    ).all()
    return {aid for aid, tactics in rows if shortname in (tactics or ())}


def _newest_release(session: Session, framework: str) -> int:
    return max(
        session.execute(
            select(Release.id, Release.attack_version).where(
                Release.framework == framework, Release.domain == "enterprise"
            )
        ).all(),
        key=lambda r: (tuple(int(x) for x in (r.attack_version or "0").split(".")), r.id),
    ).id


def _mapped(session: Session, release_id: int, techniques: set[str]) -> set[str]:
    rows = session.execute(
        select(Mapping.attack_id).where(
            Mapping.release_id == release_id,
            Mapping.attack_id.in_(techniques),
            Mapping.capability_id.is_not(None),
            Mapping.status != "non_mappable",
        )
    ).all()
    return {r[0] for r in rows}


def test_a_tactic_view_lists_its_current_techniques_and_counts_what_each_framework_maps(
    session: Session,
) -> None:
    view = tactic_view(session, "TA0010", frameworks=["nist_800_53", "aws"])
    assert view is not None and view.subject.name == "Exfiltration"
    members = _current_in_tactic(session, "exfiltration")
    shown = set(view.technique_ids)
    assert shown == {t for t in members if "." not in t or t.split(".")[0] not in members}
    assert sum(t.sub_techniques for t in view.techniques) == len(members) - len(shown)
    for spread in view.coverage:
        assert spread.of == len(members)
        expected = _mapped(session, _newest_release(session, spread.framework), members)
        assert spread.covered == len(expected), spread.framework
        assert set(spread.unmapped) == members - expected
        assert spread.best and spread.best[0].covered >= spread.best[-1].covered


def test_a_mitigation_view_lists_the_techniques_it_mitigates_with_the_controls_mapping_each(
    session: Session,
) -> None:
    view = mitigation_view(session, "M1037", frameworks=["nist_800_53"])
    assert view is not None and view.subject.name == "Filter Network Traffic" and view.summary
    linked = {
        r[0]
        for r in session.execute(
            select(MitigationLink.technique_attack_id)
            .join(Mitigation, Mitigation.id == MitigationLink.mitigation_pk)
            .join(Technique, Technique.attack_id == MitigationLink.technique_attack_id)
            .where(
                Mitigation.attack_id == "M1037", Technique.revoked.is_(False), Technique.deprecated.is_(False)
            )
        )
    }
    assert set(view.technique_ids) == linked
    release = _newest_release(session, "nist_800_53")
    for item in view.techniques:
        for fw, controls in item.controls:
            assert fw == "nist_800_53" and controls
            for cid in controls:
                assert session.execute(
                    select(Mapping.id).where(
                        Mapping.release_id == release,
                        Mapping.attack_id == item.technique.id,
                        Mapping.capability_id == cid,
                    )
                ).first(), (item.technique.id, cid)


def test_an_unknown_tactic_or_mitigation_has_no_view(session: Session) -> None:
    assert tactic_view(session, "TA9999", frameworks=["nist_800_53"]) is None
    assert mitigation_view(session, "M9999", frameworks=["nist_800_53"]) is None


# ---------------------------------------------------------------- answers, real corpus


@pytest.fixture(scope="module")
def answerer(corpus_engine: Engine) -> Answerer:
    return Answerer(corpus_engine, Settings())


@pytest.mark.parametrize(
    ("text", "attack_id"),
    [
        ("exfiltration", "TA0010"),
        ("TA0008", "TA0008"),
        ("M1037", "M1037"),
        ("filter network traffic", "M1037"),
    ],
)
def test_the_answer_is_a_compact_slack_message_within_limits(
    answerer: Answerer, text: str, attack_id: str
) -> None:
    answer = answerer.answer(text)
    assert answer.ok and isinstance(answer.view, AttackObjectView)
    assert answer.view.subject.attack_id == attack_id
    assert violations(answer.payload.to_dict()) == []
    assert len(answer.payload.blocks) <= 12
    assert attack_id in answer.payload.text


def test_the_answer_reads_in_the_terminal_and_says_the_same_counts(answerer: Answerer) -> None:
    reading = answerer.read("lateral movement in aws")
    assert isinstance(reading.view, AttackObjectView)
    assert reading.view.frameworks == ("aws",)
    out = StringIO()
    Console(file=out, width=200).print(renderable(reading.view))
    spread = reading.view.coverage[0]
    assert f"maps {spread.covered} of {spread.of}" in out.getvalue()


def test_the_tactic_answer_carries_what_your_controls_cover(answerer: Answerer) -> None:
    view = answerer.read("TA0010").view
    found = answer_subject(view)
    assert found is not None
    subject, techniques, domain = found
    assert (subject.kind, subject.id, domain) == ("tactic", "TA0010", "enterprise")
    assert isinstance(view, AttackObjectView) and set(techniques) >= set(view.technique_ids)
    # over the same techniques as the view's own counts: the sub-techniques folded into parents too
    assert "T1048.003" in techniques and all(len(techniques) == spread.of for spread in view.coverage)


def test_button_states_round_trip_and_forged_ones_are_refused(answerer: Answerer) -> None:
    state = State(ViewRequest("mitigation", frameworks=("nist_800_53",), attack_object="M1037"), page=2)
    assert decode_state(encode_state(state)) == state
    forged = encode_state(State(ViewRequest("tactic", frameworks=("nist_800_53",), attack_object="TA9999")))
    assert not answerer.answer_from_state(forged).ok
    with pytest.raises(StateError):
        decode_state('cm1:{"k":"tactic"}')
