"""Digest content over the whole real corpus: coverage numbers, the technique of the day, new
KEV CVEs, and Block Kit that passes the answers' validator even for huge watch lists."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, func, select

from bot.config import ALL_FRAMEWORKS
from bot.digest.content import SubscriptionSpec, compose
from bot.digest.render import render_digest
from bot.render.limits import total_text, violations
from store.db import session_scope
from store.models import Capability, Mapping, Release, Technique
from store.state.scope import state_reads

NOW = dt.datetime(2026, 11, 28, 9, 1, tzinfo=dt.UTC)


def spec(
    frameworks: tuple[str, ...] = ("nist_800_53", "m365"), watch: tuple[str, ...] = ()
) -> SubscriptionSpec:
    return SubscriptionSpec(0, "T1", "C1", "09:00", "Europe/Paris", frameworks, watch, True)


def one(engine: Engine, s: SubscriptionSpec, *, now: dt.datetime = NOW, day: dt.date | None = None):  # type: ignore[no-untyped-def]
    with state_reads(engine) as data:
        return compose(data, [s], now=now, local_date_for=lambda _s: day or now.date())[0]


def test_watch_list_coverage_counts_the_newest_nist_release(corpus_engine: Engine) -> None:
    view = one(corpus_engine, spec(watch=("T1048",)))
    [line] = view.watch
    nist = next(c for c in line.coverage if c.framework == "nist_800_53")
    with session_scope(corpus_engine) as s:
        # Independently: the newest rev5 release by ATT&CK version, its complete T1048 rows.
        releases = s.execute(
            select(Release.id, Release.attack_version).where(
                Release.framework == "nist_800_53",
                Release.framework_version == "rev5",
                Release.domain == "enterprise",
            )
        ).all()
        newest_id, newest_version = max(
            releases, key=lambda r: tuple(int(x) for x in r.attack_version.split("."))
        )
        expected = s.scalar(
            select(func.count()).where(
                Mapping.release_id == newest_id,
                Mapping.attack_id == "T1048",
                Mapping.capability_id.is_not(None),
                func.coalesce(Mapping.status, "") != "non_mappable",
            )
        )
    assert (nist.release.framework_version, nist.release.attack_version) == ("rev5", newest_version)
    assert nist.total == expected and expected > 0
    assert line.name == "Exfiltration Over Alternative Protocol"


def test_the_technique_of_the_day_is_fixed_by_the_date_and_varies_across_days(corpus_engine: Engine) -> None:
    days = [dt.date(2026, 11, 28) + dt.timedelta(days=i) for i in range(7)]
    picks = [one(corpus_engine, spec(), day=d).technique_of_day for d in days]
    again = one(corpus_engine, spec(), day=days[0]).technique_of_day
    assert all(p is not None for p in picks)
    assert again is not None and again.id == picks[0].id  # type: ignore[union-attr]
    assert len({p.id for p in picks if p}) >= 6
    with session_scope(corpus_engine) as s:
        for p in picks:
            assert p is not None
            t = s.execute(
                select(Technique).where(Technique.attack_id == p.id, Technique.domain == "enterprise")
            ).scalar_one()
            assert not t.revoked and not t.deprecated
            assert s.scalar(select(func.count()).where(Mapping.attack_id == p.id)) > 0


@pytest.mark.parametrize("frameworks", [("aws",), ("gcp",), ("intel-vpro",), ("nist_800_53", "m365")])
def test_the_technique_of_the_day_has_mappings_in_the_channels_frameworks(
    corpus_engine: Engine, frameworks: tuple[str, ...]
) -> None:
    """Issue 15 item 13: the pick ignored the subscription's frameworks and could show none."""
    for d in (dt.date(2026, 11, 28) + dt.timedelta(days=i) for i in range(10)):
        pick = one(corpus_engine, spec(frameworks=frameworks), day=d).technique_of_day
        assert pick is not None and pick.controls, (frameworks, d)
        assert {c.framework for c in pick.controls} <= set(frameworks)


def test_new_kev_cves_come_with_their_techniques(corpus_engine: Engine) -> None:
    with session_scope(corpus_engine) as s:
        loaded = s.scalar(select(func.min(Capability.first_seen_at)).where(Capability.framework == "kev"))
        total = s.scalar(select(func.count()).where(Capability.framework == "kev"))
    assert loaded is not None
    at = loaded.replace(tzinfo=dt.UTC) if loaded.tzinfo is None else loaded
    view = one(corpus_engine, spec(), now=at + dt.timedelta(hours=1))
    assert len(view.changes.kev) == total
    moveit = next(k for k in view.changes.kev if k.cve == "CVE-2023-34362")
    assert "T1190" in moveit.techniques and "MOVEit" in moveit.name
    assert view.changes.releases  # the initial load is the change of that day
    rendered = render_digest(view)
    for payload in (rendered.main, *rendered.thread):
        assert violations(payload.to_dict()) == []


@pytest.mark.slow
def test_a_watch_list_of_every_mapped_technique_renders_within_limits(corpus_engine: Engine) -> None:
    with session_scope(corpus_engine) as s:
        ids = sorted(
            s.scalars(
                select(Mapping.attack_id)
                .join(Technique, Technique.attack_id == Mapping.attack_id)
                .where(Technique.domain == "enterprise", Technique.revoked.is_(False))
                .distinct()
            )
        )
    assert len(ids) > 500
    view = one(corpus_engine, spec(frameworks=ALL_FRAMEWORKS, watch=tuple(ids)))
    rendered = render_digest(view, full=True)
    assert len(rendered.main.blocks) <= 20
    assert total_text(rendered.main.blocks) <= 6000  # the main message stays a summary
    payloads = (rendered.main, *rendered.thread)
    for payload in payloads:
        assert violations(payload.to_dict()) == [], payload.text
    shown = "".join(str(p.blocks) for p in rendered.thread)
    missing = [t for t in ids if f"|{t}>" not in shown]
    assert missing == []


def test_a_posted_card_counts_once_in_the_channels_recent_activity(engine: Engine) -> None:
    """Issue 15 item 3: ``digest preview`` said "×2" for one card (its look-up row and its
    incident-card row were both counted)."""
    from store.app_state import IncidentCard, Lookup

    now = dt.datetime.now(dt.UTC)
    with session_scope(engine) as s:
        s.add(
            IncidentCard(team_id="T1", channel_id="C1", thread_ts="1.1", technique_id="T1566", posted_at=now)
        )
        s.add(Lookup(team_id="T1", channel_id="C1", source="card", query="T1566", technique_ids=["T1566"]))
        s.add(Lookup(team_id="T1", channel_id="C1", source="command", query="T1048", technique_ids=["T1048"]))
    view = one(engine, spec(), now=now)
    assert {(line.id, line.mentions) for line in view.recent} == {("T1566", 1), ("T1048", 1)}
