"""Watch lists with groups and software ("watch APT29 Cobalt Strike"): named by ID, name or
alias, stored by ATT&CK ID, and reported in the digest with the coverage of their techniques,
recounted here from the bundle and the mapping rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from bot.digest.commands import CommandError, check_watch, parse_subscribe
from bot.digest.content import SubscriptionSpec, compose
from bot.digest.render import render_digest
from bot.render.limits import violations
from store.db import session_scope
from store.models import Mapping, Release
from store.state.scope import StateReads, state_reads
from tests.stix_facts import bundle_objects, uses_targets

NOW = dt.datetime(2026, 11, 28, 9, 1, tzinfo=dt.UTC)


def test_watch_words_name_techniques_groups_and_software_in_any_case(corpus_engine: Engine) -> None:
    _, words = parse_subscribe(
        ["09:00", "watch", "T1048", "APT29", "cobalt", "strike", "LockBit", "3.0", "G0034"]
    )
    with state_reads(corpus_engine) as data:
        watched, notes = check_watch(data, words)
    assert watched == ["T1048", "G0016", "S0154", "S1202", "G0034"] and notes == []


def test_a_watch_word_naming_nothing_is_refused(corpus_engine: Engine) -> None:
    _, words = parse_subscribe(["watch", "APT29", "phishing"])
    with state_reads(corpus_engine) as data, pytest.raises(CommandError, match="phishing"):
        check_watch(data, words)


def test_a_watched_actor_is_reported_with_the_coverage_of_its_techniques(
    corpus_engine: Engine, corpus_dir: Path
) -> None:
    spec = SubscriptionSpec(0, "T1", "C1", "09:00", "Europe/Paris", ("nist_800_53", "m365"), ("G0016",), True)
    with session_scope(corpus_engine) as s:
        view = compose(StateReads(s), [spec], now=NOW, local_date_for=lambda _s: NOW.date())[0]
        [line] = view.watch
        techniques = uses_targets(bundle_objects(corpus_dir))["G0016"]
        newest = max(
            s.execute(
                select(Release.id, Release.attack_version).where(
                    Release.framework == "nist_800_53", Release.framework_version == "rev5"
                )
            ).all(),
            key=lambda r: tuple(int(x) for x in r.attack_version.split(".")),
        )
        mapped = s.scalar(
            select(func.count(func.distinct(Mapping.attack_id))).where(
                Mapping.release_id == newest.id,
                Mapping.attack_id.in_(sorted(techniques)),
                Mapping.capability_id.is_not(None),
                func.coalesce(Mapping.status, "") != "non_mappable",
            )
        )
    assert line.threat and line.name == "APT29" and line.techniques == len(techniques)
    assert dict(line.covered)["nist_800_53"] == mapped and 0 < mapped <= len(techniques)
    out = render_digest(view, full=True)
    text = str(out.main.blocks)
    assert f"`G0016` APT29 — {len(techniques)} techniques: NIST 800-53 maps {mapped}" in text
    assert violations(out.main.to_dict()) == []
