"""Small hand-made data for digest tests: a few techniques, three releases, a KEV CVE.

Per-test databases get this instead of the real corpus (too slow to ingest per test); tests
that need real data use the session-scoped ``corpus_engine``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, delete, insert, update

from bot.config import Settings
from store.app_state import DigestRun, DigestSubscription, IncidentCard, Lookup
from store.db import write_session
from store.models import Capability, Mapping, Release, Technique

TEAM = "T0TEAM001"
T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)  # data loaded long before the digests under test

TECHNIQUES = [
    ("T1048", "Exfiltration Over Alternative Protocol"),
    ("T1048.003", "Exfiltration Over Unencrypted Non-C2 Protocol"),
    ("T1566", "Phishing"),
    ("T1190", "Exploit Public-Facing Application"),
    ("T1059", "Command and Scripting Interpreter"),
    ("T1218.011", "Rundll32"),
]


def settings(**changes: Any) -> Settings:
    base = Settings(
        slack_bot_token="xoxb-digest-test",
        digest_frameworks=("nist_800_53", "m365"),
        digest_catch_up_minutes=180,
        digest_claim_timeout_seconds=600,
    )
    return base.with_(**changes)


def seed(engine: Engine, *, loaded_at: dt.datetime = T0) -> None:
    with write_session(engine) as s:
        for i, (tid, name) in enumerate(TECHNIQUES):
            s.add(
                Technique(
                    stix_id=f"attack-pattern--{i:04d}",
                    domain="enterprise",
                    attack_id=tid,
                    name=name,
                    is_subtechnique="." in tid,
                    parent_attack_id=tid.split(".")[0] if "." in tid else None,
                )
            )
        s.add(
            Technique(
                stix_id="attack-pattern--revoked",
                domain="enterprise",
                attack_id="T1085",
                name="Rundll32",
                revoked=True,
                revoked_by="T1218.011",
            )
        )
        nist = _release(s, "nist_800_53", "rev5", loaded_at, {"protects": {"name": "Protects"}})
        m365 = _release(s, "m365", "07/18/2025", loaded_at, {"technique_score": {"name": "Technique score"}})
        kev = _release(
            s, "kev", "07/28/2025", loaded_at, {"exploitation_technique": {"name": "Exploitation"}}
        )
        s.flush()
        rows = [
            _m(nist, "nist_800_53", "SC-07", "Boundary Protection", "T1048", "protects"),
            _m(nist, "nist_800_53", "AC-04", "Information Flow Enforcement", "T1048", "protects"),
            _m(nist, "nist_800_53", "SC-07", "Boundary Protection", "T1048.003", "protects"),
            _m(nist, "nist_800_53", "AT-02", "Literacy Training & <Awareness>", "T1566", "protects"),
            _m(nist, "nist_800_53", "SI-10", "Information Input Validation", "T1190", "protects"),
            _m(nist, "nist_800_53", "CM-07", "Least Functionality", "T1059", "protects"),
            _m(
                m365,
                "m365",
                "DEF-SECSCORE-E3",
                "Secure Score",
                "T1566",
                "technique_score",
                "protect",
                "partial",
            ),
            _m(
                m365,
                "m365",
                "DEF-ATP-E5",
                "Defender for Office",
                "T1566",
                "technique_score",
                "detect",
                "significant",
            ),
            _m(kev, "kev", "CVE-2023-34362", "MOVEit SQL Injection", "T1190", "exploitation_technique"),
        ]
        s.execute(insert(Mapping), rows)
        s.add(
            Capability(
                framework="kev",
                capability_id="CVE-2023-34362",
                id_as_written="CVE-2023-34362",
                name="Progress MOVEit Transfer SQL Injection Vulnerability",
                first_seen_at=loaded_at,
            )
        )


def _release(s: Any, framework: str, version: str, loaded_at: dt.datetime, types: dict[str, Any]) -> Release:
    r = Release(
        framework=framework,
        framework_version=version,
        attack_version="14.1",
        domain="enterprise",
        mapping_types=types,
        capability_groups={},
        source_file=f"{framework}.json",
        sha256="0" * 64,
        loaded_at=loaded_at,
    )
    s.add(r)
    return r


def _m(
    release: Release,
    framework: str,
    cap: str,
    name: str,
    tid: str,
    mtype: str,
    category: str | None = None,
    value: str | None = None,
) -> dict[str, Any]:
    return {
        "release_id": release.id,
        "position": 0,
        "framework": framework,
        "capability_id": cap,
        "capability_id_as_written": cap,
        "capability_name": name,
        "attack_id": tid,
        "attack_id_as_written": tid,
        "attack_name": dict(TECHNIQUES).get(tid, tid),
        "mapping_type": mtype,
        "score_category": category,
        "score_value": value,
        "references": [],
    }


def lookup(engine: Engine, channel: str, techniques: list[str], at: dt.datetime, team: str = TEAM) -> None:
    with write_session(engine) as s:
        s.add(
            Lookup(
                team_id=team,
                channel_id=channel,
                user_id="U1",
                source="command",
                query=" ".join(techniques),
                technique_ids=techniques,
                created_at=at,
            )
        )


def module_database(backend: str, tmp_path_factory: Any) -> Iterator[Engine]:
    """One seeded database per test module and backend (creating a PostgreSQL database per test
    costs more than the tests themselves); ``reset`` empties the digest state between tests."""
    from store.db import make_engine
    from store.migrate import upgrade
    from tests.conftest import create_pg_database, drop_pg_database

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('digest') / 'digest.db'}"
    else:
        url = create_pg_database("cm_digest")
    engine = make_engine(url)
    try:
        upgrade(engine)
        seed(engine)
        yield engine
    finally:
        engine.dispose()
        if backend != "sqlite":
            drop_pg_database(url)


def reset(engine: Engine) -> Engine:
    with write_session(engine) as s:
        for model in (DigestRun, DigestSubscription, Lookup, IncidentCard):
            s.execute(delete(model))
        s.execute(delete(Technique).where(Technique.stix_id.like("attack-pattern--w%")))
        s.execute(update(Release).values(loaded_at=T0))
        s.execute(update(Capability).values(first_seen_at=T0))
    return engine
