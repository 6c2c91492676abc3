"""The whole real corpus, loaded once per backend: counts checked against the files themselves,
the T1048 reference page, and each data quirk of ../shared/docs/data-notes.md."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, func, select

from store.ids import canonical_capability_id
from store.models import Capability, CapabilityDescription, Mapping, MitigationLink, Release, Technique
from store.stats import collect_stats


def _mapping_files(corpus_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    return [(p, orjson.loads(p.read_bytes())) for p in sorted((corpus_dir / "mappings").rglob("*.json"))]


def _release_pk(conn: Any, framework: str, version: str, attack: str, domain: str = "enterprise") -> int:
    pk = conn.scalar(
        select(Release.id).where(
            Release.framework == framework,
            Release.framework_version == version,
            Release.attack_version == attack,
            Release.domain == domain,
        )
    )
    assert pk is not None, (framework, version, attack, domain)
    return int(pk)


@pytest.fixture(scope="module")
def files(corpus_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    return _mapping_files(corpus_dir)


def test_every_release_holds_exactly_the_rows_of_its_file(
    corpus_engine: Engine, files: list[tuple[Path, dict[str, Any]]]
) -> None:
    stats = {
        (r.framework, r.framework_version, r.attack_version, r.domain): r
        for r in collect_stats(corpus_engine).releases
    }
    assert len(stats) == len(files)
    for path, doc in files:
        meta, objs = doc["metadata"], doc["mapping_objects"]
        key = (
            meta["mapping_framework"],
            meta["mapping_framework_version"],
            meta["attack_version"],
            meta["technology_domain"],
        )
        got = stats[key]
        fw = meta["mapping_framework"]
        assert got.mapping_rows == len(objs), path.name
        assert got.non_mappable_rows == sum(1 for o in objs if o["status"] == "non_mappable"), path.name
        caps = {canonical_capability_id(fw, o["capability_id"]) for o in objs if o["capability_id"]}
        assert got.capabilities == len(caps), path.name


def test_mappings_total_counts_every_row_of_every_file(
    corpus_engine: Engine, files: list[tuple[Path, dict[str, Any]]]
) -> None:
    expected = sum(len(doc["mapping_objects"]) for _, doc in files)
    assert collect_stats(corpus_engine).mappings_total == expected
    with corpus_engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Mapping)) == expected


def test_rows_keep_ids_names_and_comments_as_written(
    corpus_engine: Engine, files: list[tuple[Path, dict[str, Any]]]
) -> None:
    _, doc = next((p, d) for p, d in files if p.name.startswith("m365-07.18.2025"))
    meta = doc["metadata"]
    with corpus_engine.connect() as conn:
        pk = _release_pk(conn, "m365", meta["mapping_framework_version"], meta["attack_version"])
        rows = conn.execute(
            select(
                Mapping.capability_id_as_written,
                Mapping.capability_name,
                Mapping.attack_id_as_written,
                Mapping.attack_name,
                Mapping.mapping_type,
                Mapping.score_category,
                Mapping.score_value,
                Mapping.related_score,
                Mapping.comments,
                Mapping.references,
                Mapping.status,
            )
            .where(Mapping.release_id == pk)
            .order_by(Mapping.position)
        ).all()
    expected = [
        (
            o["capability_id"],
            o["capability_description"],
            o["attack_object_id"],
            o["attack_object_name"],
            o["mapping_type"],
            o.get("score_category"),
            o.get("score_value"),
            o.get("related_score"),
            o.get("comments"),
            o.get("references"),
            o["status"],
        )
        for o in doc["mapping_objects"]
    ]
    assert [tuple(r) for r in rows] == expected


# --------------------------------------------------------------------------- golden: T1048 page


def _reference_page(corpus_dir: Path) -> str:
    return (corpus_dir / "reference" / "T1048-technique-page.txt").read_text(encoding="utf-8")


def test_t1048_in_nist_rev5_attack_14_1_has_exactly_the_controls_of_the_reference_page(
    corpus_engine: Engine, corpus_dir: Path
) -> None:
    page = _reference_page(corpus_dir)
    listed = re.findall(
        r"^([A-Z]{2}-\d{2}) .+ (\w+) T1048 Exfiltration Over Alternative Protocol$", page, re.M
    )
    assert listed, "reference page format changed"
    with corpus_engine.connect() as conn:
        pk = _release_pk(conn, "nist_800_53", "rev5", "14.1")
        rows = conn.execute(
            select(Mapping.capability_id, Mapping.mapping_type).where(
                Mapping.release_id == pk, Mapping.attack_id == "T1048"
            )
        ).all()
    assert sorted(r.capability_id for r in rows) == sorted(cid for cid, _ in listed)
    assert {r.mapping_type for r in rows} == {"protects"}
    assert {kind.lower() for _, kind in listed} == {"protects"}


def test_t1048_sub_techniques_have_the_mapping_counts_of_the_reference_page(
    corpus_engine: Engine, corpus_dir: Path
) -> None:
    page = _reference_page(corpus_dir)
    expected = {tid: int(n) for tid, n in re.findall(r"^(T1048\.\d{3}) .+ (\d+)$", page, re.M)}
    assert len(expected) == 3
    with corpus_engine.connect() as conn:
        pk = _release_pk(conn, "nist_800_53", "rev5", "14.1")
        got = dict(
            conn.execute(
                select(Mapping.attack_id, func.count())
                .where(
                    Mapping.release_id == pk, Mapping.attack_id.in_(expected), Mapping.status == "complete"
                )
                .group_by(Mapping.attack_id)
            ).all()
        )
    assert got == expected


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_t1048_in_m365_attack_14_1_has_three_capabilities_with_license_requirements(
    corpus_engine: Engine, corpus_dir: Path
) -> None:
    """The web page writes some M365 IDs differently from the data (PUR-IP-E5 for PUR-INPR-E5),
    so capabilities are matched by name; comment and license text must agree."""
    page = _reference_page(corpus_dir)
    blocks = re.findall(r"^\S+ (.+?) Technique Scores T1048 .+\nComments\n(.+)\nReferences", page, re.M)
    assert len(blocks) == 3
    with corpus_engine.connect() as conn:
        pk = _release_pk(conn, "m365", "12/11/2023", "14.1")
        rows = conn.execute(
            select(Mapping.capability_name, Mapping.comments, Mapping.license_requirements).where(
                Mapping.release_id == pk, Mapping.attack_id == "T1048"
            )
        ).all()
    page_comments = dict(blocks)
    assert sorted(r.capability_name for r in rows) == sorted(page_comments)
    for row in rows:
        assert _squash(row.comments) == _squash(page_comments[row.capability_name])  # kept whole
        heading = re.search(
            r"(License Requirements:|Required licenses)\s*(.+)$", page_comments[row.capability_name]
        )
        assert heading is not None
        assert row.license_requirements == _squash(heading.group(2))


# --------------------------------------------------------------------------- data quirks


def test_nist_padded_and_unpadded_ids_are_one_capability_with_the_written_form_kept(
    corpus_engine: Engine,
) -> None:
    with corpus_engine.connect() as conn:
        written = set(
            conn.scalars(
                select(Mapping.capability_id_as_written).where(
                    Mapping.framework == "nist_800_53", Mapping.capability_id == "SC-07"
                )
            )
        )
        caps = conn.execute(
            select(Capability.capability_id, Capability.id_as_written).where(
                Capability.framework == "nist_800_53", Capability.capability_id.in_(["SC-07", "SC-7"])
            )
        ).all()
    assert written == {"SC-7", "SC-07"}
    assert [tuple(c) for c in caps] == [("SC-07", "SC-07")]  # the newest release writes it padded


def test_capability_without_mappings_in_a_description_list_is_known(
    corpus_engine: Engine, corpus_dir: Path
) -> None:
    rev5 = orjson.loads((corpus_dir / "capability-descriptions" / "nist-rev5_descriptions.json").read_bytes())
    listed = {canonical_capability_id("nist_800_53", e["id"]) for e in rev5 if e["id"]}
    with corpus_engine.connect() as conn:
        known = set(
            conn.scalars(select(Capability.capability_id).where(Capability.framework == "nist_800_53"))
        )
        sources = set(
            conn.scalars(
                select(CapabilityDescription.source).where(CapabilityDescription.framework == "nist_800_53")
            )
        )
    assert listed <= known
    assert sources == {"nist_800_53/rev4", "nist_800_53/rev5"}


def test_duplicate_pairs_are_kept_with_their_own_mapping_types(
    corpus_engine: Engine, files: list[tuple[Path, dict[str, Any]]]
) -> None:
    _, doc = next((p, d) for p, d in files if p.name == "kev-07.28.2025_attack-16.1-enterprise.json")
    pairs = Counter((o["capability_id"], o["attack_object_id"]) for o in doc["mapping_objects"])
    duplicated = [pair for pair, n in pairs.items() if n > 1]
    assert ("CVE-2021-40539", "T1505.003") in duplicated
    with corpus_engine.connect() as conn:
        pk = _release_pk(conn, "kev", "07/28/2025", "16.1")
        for cve, tid in duplicated:
            types = sorted(
                conn.scalars(
                    select(Mapping.mapping_type).where(
                        Mapping.release_id == pk, Mapping.capability_id == cve, Mapping.attack_id == tid
                    )
                )
            )
            expected = sorted(
                o["mapping_type"]
                for o in doc["mapping_objects"]
                if (o["capability_id"], o["attack_object_id"]) == (cve, tid)
            )
            assert types == expected


@pytest.mark.parametrize(
    ("file_prefix", "shape"),
    [
        ("nist_800_53-rev5_attack-14.1", "no capability"),
        ("aws-12.12.2024", "no technique"),
        ("veris-1.3.5", "no technique"),
    ],
)
def test_non_mappable_rows_are_stored_in_both_shapes(
    corpus_engine: Engine, files: list[tuple[Path, dict[str, Any]]], file_prefix: str, shape: str
) -> None:
    _, doc = next((p, d) for p, d in files if p.name.startswith(file_prefix))
    meta = doc["metadata"]
    expected = [
        (o["capability_id"], o["attack_object_id"])
        for o in doc["mapping_objects"]
        if o["status"] == "non_mappable"
    ]
    assert expected
    with corpus_engine.connect() as conn:
        pk = _release_pk(
            conn, meta["mapping_framework"], meta["mapping_framework_version"], meta["attack_version"]
        )
        rows = conn.execute(
            select(Mapping.capability_id_as_written, Mapping.attack_id_as_written, Mapping.capability_pk)
            .where(Mapping.release_id == pk, Mapping.status == "non_mappable")
            .order_by(Mapping.position)
        ).all()
    assert [(r[0], r[1]) for r in rows] == expected
    if shape == "no capability":
        assert all(r.capability_id_as_written is None and r.capability_pk is None for r in rows)
    else:
        assert all(r.attack_id_as_written is None and r.capability_pk is not None for r in rows)


def test_veris_paths_in_mixed_case_are_one_capability(corpus_engine: Engine) -> None:
    with corpus_engine.connect() as conn:
        written = set(
            conn.scalars(
                select(Mapping.capability_id_as_written).where(
                    Mapping.framework == "veris",
                    Mapping.capability_id == "action.hacking.variety.http response splitting",
                )
            )
        )
        caps = conn.scalar(
            select(func.count()).where(
                Capability.framework == "veris",
                Capability.capability_id == "action.hacking.variety.http response splitting",
            )
        )
    assert len(written) > 1 and caps == 1


def test_kev_capabilities_are_cves_named_by_the_mapping_and_described_by_the_list(
    corpus_engine: Engine,
) -> None:
    with corpus_engine.connect() as conn:
        cap = conn.execute(
            select(Capability).where(
                Capability.framework == "kev", Capability.capability_id == "CVE-2023-34362"
            )
        ).one()
    assert cap.name == "Progress MOVEit Transfer SQL Injection Vulnerability"
    assert cap.description and "MOVEit" in cap.description


def test_revoked_techniques_name_their_replacement(corpus_engine: Engine) -> None:
    with corpus_engine.connect() as conn:
        rows = {
            r.attack_id: r
            for r in conn.execute(
                select(Technique.attack_id, Technique.revoked, Technique.revoked_by).where(
                    Technique.attack_id.in_(["T1085", "T1574.002", "T1048"])
                )
            )
        }
    assert rows["T1085"].revoked and rows["T1085"].revoked_by == "T1218.011"
    assert rows["T1574.002"].revoked
    assert not rows["T1048"].revoked and rows["T1048"].revoked_by is None


def test_techniques_and_mitigation_links_match_the_bundles(corpus_engine: Engine, corpus_dir: Path) -> None:
    for bundle in sorted((corpus_dir / "attack").glob("*.json")):
        objects = orjson.loads(bundle.read_bytes())["objects"]
        kinds = {o["id"]: o["type"] for o in objects}
        patterns = sum(1 for o in objects if o["type"] == "attack-pattern")
        links = sum(
            1
            for o in objects
            if o["type"] == "relationship"
            and o["relationship_type"] == "mitigates"
            and not o.get("revoked")
            and kinds.get(o["source_ref"]) == "course-of-action"
            and kinds.get(o["target_ref"]) == "attack-pattern"
        )
        domain = bundle.name.split("-")[0]
        with corpus_engine.connect() as conn:
            assert conn.scalar(select(func.count()).where(Technique.domain == domain)) == patterns
            assert conn.scalar(select(func.count()).where(MitigationLink.domain == domain)) == links
        del objects


def test_t1048_technique_carries_tactic_platforms_and_sub_techniques(corpus_engine: Engine) -> None:
    with corpus_engine.connect() as conn:
        t = conn.execute(select(Technique).where(Technique.attack_id == "T1048")).one()
        subs = set(conn.scalars(select(Technique.attack_id).where(Technique.parent_attack_id == "T1048")))
        mitigations = set(
            conn.scalars(
                select(MitigationLink.mitigation_attack_id).where(
                    MitigationLink.technique_attack_id == "T1048"
                )
            )
        )
    assert t.tactics == ["exfiltration"] and "Linux" in t.platforms and t.url.endswith("/T1048")
    assert subs == {"T1048.001", "T1048.002", "T1048.003"}
    assert mitigations and all(m.startswith("M") for m in mitigations)


def test_m365_license_requirements_are_extracted_wherever_a_comment_has_the_heading(
    corpus_engine: Engine,
) -> None:
    with corpus_engine.connect() as conn:
        pk = _release_pk(conn, "m365", "07/18/2025", "16.1")
        got = conn.execute(
            select(Mapping.comments, Mapping.license_requirements)
            .where(Mapping.release_id == pk)
            .order_by(Mapping.position)
        ).all()
    heading = re.compile(r"^\s*(License Requirements:|Required licenses)", re.M | re.I)
    with_heading = [r for r in got if r.comments and heading.search(r.comments)]
    assert len(with_heading) >= 349  # data-notes: 349 rows use the exact "License Requirements" heading
    for row in with_heading:
        assert row.license_requirements and row.license_requirements in _squash(row.comments)
    for row in got:
        if not row.comments or "licen" not in row.comments.lower():
            assert row.license_requirements is None
