"""The resolver index built from a real store (both backends), and the data fingerprint."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, func, select

from bot.resolve import ResolverIndex, alternative_query, load_aliases, resolve
from bot.resolve.threats import THREAT_KINDS
from store.db import session_scope, write_session
from store.models import Capability, Release, Technique
from store.reads.data_version import data_version
from store.reads.scope import reads


def build(engine: Engine) -> ResolverIndex:
    with reads(engine) as data:
        return ResolverIndex.build(data, aliases=load_aliases())


def test_the_index_holds_every_technique_and_capability_of_the_corpus(corpus_engine: Engine) -> None:
    index = build(corpus_engine)
    with session_scope(corpus_engine) as session:
        technique_ids = set(session.scalars(select(Technique.attack_id)))
        capability_count = session.scalar(select(func.count()).select_from(Capability))
    assert technique_ids <= set(index.techniques)
    assert len(index.capabilities) == capability_count
    assert {
        "nist_800_53",
        "m365",
        "aws",
        "azure",
        "gcp",
        "veris",
        "kev",
        "cri_profile",
        "intel-vpro",
    } <= index.frameworks


def test_every_did_you_mean_query_resolves_to_exactly_its_entity(corpus_engine: Engine) -> None:
    index = build(corpus_engine)
    wrong = []
    for entry in index.entries:
        res = resolve(index, alternative_query(entry))
        if entry.kind == "technique":
            got = [(None, t.id) for t in res.techniques]
        elif entry.kind == "capability":
            got = [(c.framework, c.id) for c in res.capabilities] + [(None, t.id) for t in res.techniques]
        elif entry.kind in THREAT_KINDS:
            got = [(None, t.id) for t in res.threats]
        elif entry.kind in ("tactic", "mitigation"):
            got = [(None, o.id) for o in res.attack_objects]
        else:
            got = [(g.framework, g.id) for g in res.groups]
        want = (None if entry.kind == "technique" else entry.framework, entry.id)
        if entry.kind in THREAT_KINDS and (repl := index.threat_replacement(entry.id)) is not None:
            want = (None, repl.id)  # a revoked group answers through its replacement
        if got[:1] != [want] or len(got) != 1:
            wrong.append(f"{alternative_query(entry)!r} → {got[:3]} (wanted {want})")
    assert not wrong, f"{len(wrong)} of {len(index.entries)}:\n" + "\n".join(wrong[:30])


def test_an_empty_store_gives_an_empty_index_that_still_reads_ids(engine: Engine) -> None:
    index = build(engine)
    assert index.entries == []
    res = resolve(index, "does SC-7 cover T1048?")
    assert res.intent == "pair" and res.techniques[0].id == "T1048" and res.capabilities[0].id == "SC-07"


def _release(sha: str) -> Release:
    return Release(
        framework="nist_800_53",
        framework_version="rev5",
        attack_version="16.1",
        domain="enterprise",
        mapping_types={},
        capability_groups={"SC": "System and Communications Protection"},
        source_file="x.json",
        sha256=sha,
        loaded_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    )


def test_data_version_is_stable_and_changes_when_a_release_changes(engine: Engine) -> None:
    def version() -> str:
        with session_scope(engine) as session:
            return data_version(session)

    empty = version()
    assert version() == empty
    with write_session(engine) as session:
        session.add(_release("a" * 64))
    loaded = version()
    assert loaded != empty and version() == loaded
    with write_session(engine) as session:
        session.execute(Release.__table__.update().values(sha256="b" * 64))
    assert version() not in (empty, loaded)
