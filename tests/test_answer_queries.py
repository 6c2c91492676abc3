"""The query layer on the real corpus: the views say what the Mappings Explorer data says.

The T1048 golden facts are read from ``../shared/reference/T1048-technique-page.txt`` (the
Mappings Explorer page the product was designed from), not typed in here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from store.db import session_scope
from store.reads.capabilities import capability_view
from store.reads.catalogue import _techniques
from store.reads.compare import technique_coverage, top_controls
from store.reads.cves import cve_view, remediates
from store.reads.dispatch import build_view
from store.reads.families import framework_view, group_view
from store.reads.fast import Reader, _q, reading
from store.reads.lines import _TECHNIQUE_ROWS
from store.reads.pairs import pair_view
from store.reads.releases import read_releases
from store.reads.static import load_static, static
from store.reads.static import reading as static_reading
from store.reads.techniques import technique_view
from store.views import Filters, Note

ALL = ("nist_800_53", "m365", "aws", "azure", "gcp", "veris", "kev", "cri_profile", "intel-vpro")


def _norm(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def reference(corpus_dir: Path) -> dict[str, object]:
    """The reference page, parsed: NIST rows, M365 rows with comments, sub-technique counts."""
    lines = (corpus_dir / "reference" / "T1048-technique-page.txt").read_text(encoding="utf-8").splitlines()
    nist = [m.groups() for ln in lines if (m := re.match(r"^([A-Z]{2}-\d{2}) (.+) (Protects) T1048 ", ln))]
    m365 = []
    for i, ln in enumerate(lines):
        m = re.match(r"^(\S+) (.+) Technique Scores T1048 ", ln)
        if m:
            assert lines[i + 1] == "Comments"
            m365.append((m.group(1), m.group(2), lines[i + 2]))
    subs = {m.group(1): int(m.group(2)) for ln in lines if (m := re.match(r"^(T1048\.\d{3}) .+ (\d+)$", ln))}
    return {"nist": nist, "m365": m365, "subs": subs}


@pytest.fixture
def session(corpus_engine: Engine) -> Iterator[Session]:
    with session_scope(corpus_engine) as s:
        yield s


def test_reference_page_parses_into_the_facts_the_golden_tests_use(reference: dict[str, object]) -> None:
    assert len(reference["nist"]) == 23  # type: ignore[arg-type]
    assert len(reference["m365"]) == 3  # type: ignore[arg-type]
    assert sorted(reference["subs"].values()) == [12, 23, 23]  # type: ignore[attr-defined]


def test_t1048_nist_rev5_at_14_1_lists_exactly_the_reference_controls(
    session: Session, reference: dict[str, object]
) -> None:
    view = technique_view(
        session,
        "T1048",
        frameworks=["nist_800_53"],
        filters=Filters(framework_version="rev5", attack_version="14.1"),
    )
    (section,) = view.sections
    assert (section.release.framework_version, section.release.attack_version) == ("rev5", "14.1")
    lines = [ln for g in section.groups for ln in g.lines]
    got = {(ln.capability_id, ln.capability_name, ln.mapping_type_label) for ln in lines}
    assert got == set(reference["nist"])  # type: ignore[arg-type]
    assert {g.mapping_type for g in section.groups} == {"protects"}
    assert section.total == 23


def test_t1048_subtechnique_counts_match_the_reference(
    session: Session, reference: dict[str, object]
) -> None:
    view = technique_view(
        session,
        "T1048",
        frameworks=["nist_800_53"],
        filters=Filters(framework_version="rev5", attack_version="14.1"),
    )
    assert {s.id: s.count for s in view.subtechniques} == reference["subs"]


def test_t1048_m365_at_14_1_has_the_three_scored_capabilities_with_separate_licenses(
    session: Session, reference: dict[str, object]
) -> None:
    view = technique_view(session, "T1048", frameworks=["m365"], filters=Filters(attack_version="14.1"))
    (section,) = view.sections
    lines = {ln.capability_name: ln for g in section.groups for ln in g.lines}
    ref = {name: comment for _, name, comment in reference["m365"]}  # type: ignore[attr-defined]
    assert set(lines) == set(ref)
    assert {ln.score_category for ln in lines.values()} == {"protect", "detect", "respond"}
    for name, line in lines.items():
        assert line.score_value == "significant"
        assert line.license_requirements, name
        assert line.comments and "licen" not in line.comments.lower()
        # The page shows comment then license; ours keeps them apart but loses nothing.
        assert _norm(ref[name]).startswith(_norm(line.comments))
        assert _norm(ref[name]).endswith(_norm(line.license_requirements))
        assert line.references
    # One group per category, in protect → detect → respond order.
    assert [g.score_category for g in section.groups] == ["protect", "detect", "respond"]


def test_technique_view_header_has_facts_links_and_mitigations(session: Session) -> None:
    view = technique_view(session, "T1048", frameworks=["nist_800_53", "m365"])
    h = view.header
    assert h.name == "Exfiltration Over Alternative Protocol"
    assert h.tactics == ("Exfiltration",)
    assert "Linux" in h.platforms
    assert h.summary.startswith("Adversaries may steal data")
    assert "(Citation" not in h.summary and "\n\n" not in h.summary
    assert h.stix_url and h.stix_url.startswith("https://attack.mitre.org/techniques/T1048")
    assert h.domain == "enterprise"
    assert view.mitigations and all(re.fullmatch(r"M\d{4}", m.id) for m in view.mitigations)


def test_newest_release_is_the_default_and_older_ones_are_listed(session: Session) -> None:
    view = technique_view(session, "T1048", frameworks=["nist_800_53"])
    (section,) = view.sections
    assert (section.release.framework_version, section.release.attack_version) == ("rev5", "16.1")
    others = {(r.framework_version, r.attack_version): n for r, n in section.other_releases}
    assert others[("rev5", "14.1")] == 23


def test_filters_narrow_the_view_to_a_category(session: Session) -> None:
    full = technique_view(session, "T1048", frameworks=["m365"])
    detect = technique_view(session, "T1048", frameworks=["m365"], filters=Filters(categories=("detect",)))
    assert {g.score_category for g in detect.sections[0].groups} == {"detect"}
    assert 0 < detect.sections[0].total < full.sections[0].total
    hidden = full.sections[0].total - detect.sections[0].total
    assert Note("hidden", count=hidden) in detect.notes


def test_revoked_technique_names_its_replacement(session: Session) -> None:
    view = technique_view(session, "T1085", frameworks=["nist_800_53"])
    assert view.header.revoked
    assert view.header.replaced_by is not None and view.header.replaced_by.id == "T1218.011"


def test_pair_view_shows_each_release_and_subtechniques(session: Session) -> None:
    view = pair_view(session, "T1048", "nist_800_53", "SC-07")
    assert view.mapped
    newest = view.releases[0]
    assert (newest.release.framework_version, newest.release.attack_version) == ("rev5", "16.1")
    assert newest.lines and newest.lines[0].capability_name == "Boundary Protection"
    assert {s.id for s in view.subtechniques} == {"T1048.001", "T1048.002", "T1048.003"}


def test_pair_without_mapping_lists_closest_capabilities_that_do_map(session: Session) -> None:
    view = pair_view(session, "T1048", "nist_800_53", "AC-01")
    assert not view.mapped
    assert view.closest
    assert view.closest[0].capability_id.startswith("AC-")  # same family first
    mapped = technique_view(session, "T1048", frameworks=["nist_800_53"]).sections[0]
    ids = {ln.capability_id for g in mapped.groups for ln in g.lines}
    assert {c.capability_id for c in view.closest} <= ids


def test_capability_view_groups_techniques_by_tactic_with_counts(session: Session) -> None:
    view = capability_view(session, "nist_800_53", "SC-07")
    assert view.capability.name == "Boundary Protection"
    assert view.release is not None and view.release.attack_version == "16.1"
    tactics = {t.tactic: t for t in view.tactics}
    assert "Exfiltration" in tactics
    assert any(ln.attack_id == "T1048" for g in tactics["Exfiltration"].groups for ln in g.lines)
    assert sum(n for _, n in view.counts) == view.total


def test_cve_view_lists_impacts_and_best_controls(session: Session) -> None:
    view = cve_view(session, "CVE-2023-34362", frameworks=["nist_800_53", "m365"])
    assert "MOVEit" in view.cve.name
    assert any(ct.technique.id == "T1190" for ct in view.techniques)
    assert all(ct.impacts for ct in view.techniques)
    assert dict(view.controls)["nist_800_53"]


def test_cve_controls_fixing_the_flaw_then_covering_most_of_its_techniques_come_first(
    session: Session,
) -> None:
    """Controls that fix the flaw and stop its exploitation (T1190) first, then the others
    that stop it, by how many of the CVE's techniques they cover (issue 15 item 13)."""
    view = cve_view(session, "CVE-2023-34362", frameworks=["nist_800_53"])
    controls = dict(view.controls)["nist_800_53"]
    # What each technique's own answer lists, in the same (newest) NIST release
    covered: dict[str, set[str]] = {}
    for ct in view.techniques:
        tv = technique_view(session, ct.technique.id, frameworks=["nist_800_53"])
        for sec in tv.sections:
            for g in sec.groups:
                for ln in g.lines:
                    covered.setdefault(ln.capability_id, set()).add(ct.technique.id)
    assert [c.count for c in controls] == [len(covered[c.capability_id]) for c in controls]
    stops = {cid for cid, tids in covered.items() if "T1190" in tids}
    fixes = [c for c in controls if remediates(c.name) and c.capability_id in stops]
    assert [c.capability_id for c in fixes] == ["RA-05", "SI-02"]
    assert controls[: len(fixes)] == tuple(fixes)
    rest = controls[len(fixes) :]
    assert all(c.capability_id in stops for c in rest)  # 29 NIST controls stop T1190
    assert [c.count for c in rest] == sorted((c.count for c in rest), reverse=True)
    assert rest[0].count == max(len(covered[cid]) for cid in stops) > 1


def test_group_and_framework_views(session: Session) -> None:
    group = group_view(session, "nist_800_53", "SC")
    assert group.name == "System and Communications Protection"
    assert group.members[0].id == "SC-07"  # most mappings first
    fw = framework_view(session, "nist_800_53")
    assert len(fw.releases) == 11
    assert fw.releases[0].release.attack_version == "16.1"


def test_coverage_batch_matches_the_single_technique_views(session: Session) -> None:
    ids = ["T1048", "T1059", "T1566.001", "T1190", "T9999"]
    cov = technique_coverage(session, ids, ALL)
    assert set(cov) == set(ids)
    for tid in ids[:4]:
        view = technique_view(session, tid, frameworks=ALL)
        assert {s.framework: s.total for s in view.sections} == {fw: c.total for fw, c in cov[tid].items()}
    assert cov["T1048"]["m365"].categories["protect"].best == "significant"
    assert all(c.total == 0 for c in cov["T9999"].values())


def test_top_controls_prefers_scores_and_takes_turns_between_frameworks(session: Session) -> None:
    top = top_controls(session, ["T1048", "T1059"], ["m365", "nist_800_53"], limit=3)
    assert [c.framework for c in top["T1048"]] == ["m365", "nist_800_53", "m365"]
    assert top["T1048"][0].score_value == "significant"
    per = top_controls(session, ["T1048"], ["m365", "nist_800_53"], limit=2, per_framework=True)
    assert [c.framework for c in per["T1048"]] == ["m365", "m365", "nist_800_53", "nist_800_53"]


def test_batch_queries_do_not_grow_with_the_number_of_techniques(
    corpus_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import event, select

    from store.models import Technique

    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    # Views and batches read through ``Reader.rows`` on the driver's cursor, past SQLAlchemy's
    # execution events: count there too.
    rows = Reader.rows

    def counted(self: Reader, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
        statements.append(str(stmt))
        return rows(self, stmt, params)

    with session_scope(corpus_engine) as s:
        many = list(s.scalars(select(Technique.attack_id).where(Technique.domain == "enterprise")).all())[
            :400
        ]
        static(s)  # the data version's releases, tactics and catalogue: read once, not per batch
        event.listen(corpus_engine, "before_cursor_execute", count)
        monkeypatch.setattr(Reader, "rows", counted)
        try:
            technique_coverage(s, many[:2], ALL)
            top_controls(s, many[:2], ALL)
            few = len(statements)
            statements.clear()
            cov = technique_coverage(s, many, ALL)
            top = top_controls(s, many, ALL)
        finally:
            monkeypatch.undo()
            event.remove(corpus_engine, "before_cursor_execute", count)
    assert len(cov) == len(top) == len(many) == 400
    assert 0 < len(statements) == few <= 6


def test_the_read_path_gives_the_orm_values_on_both_backends(corpus_engine: Engine) -> None:
    """Views read raw driver rows: JSON columns, dates and booleans must come out as the ORM
    gives them, whatever the backend."""
    from sqlalchemy import select

    from store.models import Mapping, Release, Technique

    with session_scope(corpus_engine) as s, reading(corpus_engine) as reader:
        releases = {i.pk: i for i in read_releases(reader)}
        for rel in s.scalars(select(Release)):
            info = releases[rel.id]
            assert info.ref.last_update == (rel.last_update.isoformat() if rel.last_update else None)
            assert info.mapping_types == (rel.mapping_types or {})
            assert info.capability_groups == (rel.capability_groups or {})
        techs = list(s.scalars(select(Technique).where(Technique.attack_id.like("T1048%"))))
        got = _techniques(reader, [t.attack_id for t in techs])
        for t in techs:
            row = got[t.attack_id]
            assert (row.tactics, row.platforms) == (t.tactics, t.platforms)
            assert (bool(row.revoked), bool(row.is_subtechnique)) == (t.revoked, t.is_subtechnique)
        m365 = select(Mapping).where(Mapping.attack_id == "T1048", Mapping.framework == "m365")
        orm = {(m.release_id, m.position): m for m in s.scalars(m365)}
        rows = _q(reader, _TECHNIQUE_ROWS, {"tid": "T1048", "pks": sorted({pk for pk, _ in orm})})
        assert len(rows) == len(orm) > 0
        for r in rows:
            m = orm[(r.release_id, r.position)]
            assert r.references == m.references and r.comments == m.comments
        assert any(r.references for r in rows)


def test_driver_errors_on_the_read_path_are_sqlalchemy_errors(tmp_path: Path) -> None:
    """Callers (the CLI's "run countermap ingest first") catch SQLAlchemy's exception classes."""
    from sqlalchemy.exc import OperationalError

    from store.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(OperationalError, match="no such table"), reading(engine) as reader:
        read_releases(reader)
    engine.dispose()


def test_views_from_a_shared_catalogue_equal_views_from_a_fresh_session(corpus_engine: Engine) -> None:
    """The Answerer hands each reader the releases, tactics and technique catalogue it read once
    for the data version; the views must be the ones a session reading its own gives."""
    from bot.config import ALL_FRAMEWORKS
    from store.models import Capability, Mapping
    from store.views import ViewRequest

    with session_scope(corpus_engine) as s:
        techniques = sorted({t for t in s.scalars(select(Mapping.attack_id).distinct()) if t})
        caps = sorted(s.execute(select(Capability.framework, Capability.capability_id)).all())
    requests = [ViewRequest("technique", (t,), frameworks=ALL_FRAMEWORKS) for t in techniques[::3]]
    requests += [ViewRequest("compare", (t,), frameworks=ALL_FRAMEWORKS) for t in techniques[::17]]
    requests += [
        ViewRequest(
            "cve" if fw == "kev" else "capability",
            capabilities=((fw, cid),),
            frameworks=("nist_800_53", "m365") if fw == "kev" else (),
        )
        for fw, cid in caps[::7]
    ]
    requests += [ViewRequest("pair", (t,), (("nist_800_53", "AC-02"),)) for t in techniques[::11]]
    assert len(requests) > 500
    with session_scope(corpus_engine) as s:
        known = load_static(s)
    with static_reading(corpus_engine, known) as shared, session_scope(corpus_engine) as bare:
        for request in requests:
            assert build_view(shared, request) == build_view(bare, request), request


def test_expanding_in_parameters_bind_as_the_orm_binds_them(corpus_engine: Engine) -> None:
    """The read path renders a statement with list parameters once per list length (SQLAlchemy's
    own expansion) and binds values by place: the rows are the ORM's, for every length, next
    to plain parameters and values written into the statement, on both backends."""
    from sqlalchemy import bindparam

    from store.models import Mapping

    stmt = select(Mapping.id, Mapping.attack_id, Mapping.capability_id).where(
        Mapping.attack_id.in_(bindparam("ids", expanding=True)),
        Mapping.framework == bindparam("fw"),
        Mapping.status != "non_mappable",
        Mapping.capability_id.not_in(bindparam("not_caps", expanding=True)),
    )
    cases = [
        ([], []),
        (["T1048"], []),
        (["T1048", "T1048.003", "T1059"], ["SC-07"]),
        (["T1059", "T1048.003", "T1048"], ["SC-07", "AC-04"]),
        (["T1566.001"], ["SI-03", "SI-04", "SC-07"]),
    ]
    with session_scope(corpus_engine) as s, reading(corpus_engine) as reader:
        for ids, not_caps in cases:
            params = {"ids": ids, "fw": "nist_800_53", "not_caps": not_caps}
            orm = sorted(tuple(r) for r in s.execute(stmt, params))
            fast = sorted(tuple(r) for r in reader.rows(stmt, params))
            assert fast == orm, (ids, not_caps)
            assert bool(fast) == bool(ids)
