"""A card's "Top controls" are ranked, not alphabetical (issue 15 item 13: NIST's were, so
spearphishing cards led with AC-04 Information Flow Enforcement): strongest score, then the
control covering most of the technique's family, then the most specific, then ID."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.answer import Answerer
from bot.config import Settings
from store.db import session_scope
from store.models import Mapping, Release

NIST = ("nist_800_53",)


@pytest.fixture(scope="module")
def answerer(corpus_engine: Engine) -> Answerer:
    return Answerer(corpus_engine, Settings())


def top_controls(answerer: Answerer, technique_id: str) -> list[str]:
    blocks = answerer.card(technique_id, frameworks=NIST).payload.to_dict()["blocks"]
    text = next(b["text"]["text"] for b in blocks if "Top controls" in str(b.get("text", "")))
    return re.findall(r"`([^`]+)`", text)


def expected_order(session: Session, technique_id: str) -> list[str]:
    """Worked out from the rows of the newest enterprise NIST release, apart from the code."""
    releases = session.scalars(
        select(Release).where(Release.framework == "nist_800_53", Release.domain == "enterprise")
    ).all()
    newest = max(releases, key=lambda r: tuple(int(x) for x in r.attack_version.split("."))).id
    mapped = set(
        session.scalars(
            select(Mapping.capability_id).where(
                Mapping.release_id == newest, Mapping.attack_id == technique_id
            )
        )
    )
    root = technique_id.split(".")[0]
    rows = session.execute(
        select(Mapping.capability_id, Mapping.attack_id).where(
            Mapping.release_id == newest, Mapping.capability_id.in_(mapped), Mapping.attack_id.is_not(None)
        )
    ).all()
    every: dict[str, set[str]] = {}
    for cid, tid in rows:
        every.setdefault(cid, set()).add(tid)
    family = {c: {t for t in ts if t == root or t.startswith(root + ".")} for c, ts in every.items()}
    return sorted(mapped, key=lambda c: (-len(family[c]), len(every[c]), c))


def test_a_spearphishing_card_leads_with_spam_protection_not_the_alphabet(answerer: Answerer) -> None:
    top = top_controls(answerer, "T1566.001")
    assert top[0] == "SI-08" and "SC-44" in top and top[0] != "AC-04"


@pytest.mark.parametrize("technique_id", ["T1566.001", "T1486", "T1059.001", "T1003", "T1110.003"])
def test_nist_card_controls_follow_family_coverage_then_specificity(
    answerer: Answerer, corpus_engine: Engine, technique_id: str
) -> None:
    with session_scope(corpus_engine) as session:
        expected = expected_order(session, technique_id)
    top = top_controls(answerer, technique_id)
    assert top and top == expected[: len(top)]
