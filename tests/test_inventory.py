"""The control inventory: IDs checked against the real data, all-or-nothing changes, channel
override, imports within bounds, concurrent admins, and the audit trail (both backends)."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.inventory.checker import ControlChecker, Wanted
from bot.inventory.files import InventoryFileError, parse_inventory_file
from bot.inventory.service import InventoryService
from bot.resolve.aliases import load_aliases
from store.reads.controls import KnownControl
from store.state import inventory as store_inventory
from store.state.inventory import WORKSPACE, Control


@pytest.fixture
def service(corpus_engine: Engine) -> InventoryService:
    return InventoryService(corpus_engine, load_aliases())


@pytest.fixture
def team() -> str:
    return f"T{uuid.uuid4().hex[:10].upper()}"


def keys(service: InventoryService, team: str, channel: str = WORKSPACE) -> set[tuple[str, str, str]]:
    inv = store_inventory.inventory(service.engine, team, channel)
    return {(c.framework, c.capability_id, c.status) for c in inv.controls}


def test_ids_in_any_written_form_become_the_datas_controls(service: InventoryService, team: str) -> None:
    outcome = service.add(team, WORKSPACE, "sc7 nist:SI-4 DEF-ATH amazon_guardduty planned", "U1")
    assert outcome.ok, outcome
    assert keys(service, team) == {
        ("nist_800_53", "SC-07", "planned"),
        ("nist_800_53", "SI-04", "planned"),
        ("m365", "DEF-ATH-E5", "planned"),
        ("aws", "amazon_guardduty", "planned"),
    }


def test_a_product_word_without_its_vendor_and_a_quoted_name_are_taken(
    service: InventoryService, team: str
) -> None:
    outcome = service.add(team, WORKSPACE, 'guardduty "Safe Links"', "U1")
    assert outcome.ok, outcome
    assert {(f, c) for f, c, _ in keys(service, team)} == {
        ("aws", "amazon_guardduty"),
        ("m365", "DEF-SLNK-E3"),
    }


def test_one_unknown_id_refuses_the_whole_change_with_a_did_you_mean(
    service: InventoryService, team: str
) -> None:
    service.add(team, WORKSPACE, "SC-07", "U1")
    outcome = service.add(team, WORKSPACE, "SI-04 SC-99", "U1")
    assert not outcome.ok
    (problem,) = outcome.problems
    assert problem.typed == "SC-99"
    assert problem.suggestions and all(s for s in problem.suggestions)
    assert keys(service, team) == {("nist_800_53", "SC-07", "deployed")}


def test_a_kev_cve_is_refused_as_not_a_control(service: InventoryService, team: str) -> None:
    outcome = service.add(team, WORKSPACE, "CVE-2023-34362", "U1")
    assert not outcome.ok and "not a control" in outcome.problems[0].reason
    assert keys(service, team) == set()


def test_an_id_in_two_frameworks_asks_which_and_a_framework_column_decides() -> None:
    known = [
        KnownControl("nist_800_53", "AC-01", "AC-1", "Policy and Procedures"),
        KnownControl("csa_ccm", "AC-01", "AC-01", "Audit and Assurance"),
    ]
    checker = ControlChecker(known)
    ambiguous = checker.check([Wanted("AC-01")])
    assert not ambiguous.controls and "several frameworks" in ambiguous.problems[0].reason
    assert set(ambiguous.problems[0].suggestions) == {"nist_800_53:AC-01", "csa_ccm:AC-01"}
    assert checker.check([Wanted("AC-01", "ccm")]).controls == (Control("csa_ccm", "AC-01"),)
    assert checker.check([Wanted("nist:AC-1")]).controls == (Control("nist_800_53", "AC-01"),)


def test_a_channel_inventory_overrides_the_workspace_and_falls_back_when_cleared(
    service: InventoryService, team: str
) -> None:
    service.add(team, WORKSPACE, "SC-07", "U1")
    assert service.effective(team, "C1").channel_id == WORKSPACE  # type: ignore[union-attr]
    service.add(team, "C1", "SI-04", "U1")
    own = service.effective(team, "C1")
    assert own is not None and own.channel_id == "C1" and own.deployed() == {("nist_800_53", "SI-04")}
    service.clear(team, "C1", "U1")
    fallback = service.effective(team, "C1")
    assert fallback is not None and fallback.deployed() == {("nist_800_53", "SC-07")}


def test_no_inventory_anywhere_means_none(service: InventoryService, team: str) -> None:
    assert service.effective(team, "C1") is None


def test_csv_with_bom_semicolons_quotes_and_an_empty_column_imports(
    service: InventoryService, team: str
) -> None:
    data = '\ufeffID;Framework;;Status\n"SC-07";nist;;deployed\n"DEF-ATH-E5";m365;;planned\n;;;\n'.encode()
    outcome = service.import_file(team, WORKSPACE, data, "ours.csv", "U1")
    assert outcome.ok, outcome
    assert keys(service, team) == {("nist_800_53", "SC-07", "deployed"), ("m365", "DEF-ATH-E5", "planned")}


def test_an_import_with_one_bad_row_changes_nothing_and_names_the_row(
    service: InventoryService, team: str
) -> None:
    service.add(team, WORKSPACE, "SC-07", "U1")
    outcome = service.import_file(team, WORKSPACE, b"id\nSI-04\nNOPE-1\n", "ours.csv", "U1")
    assert not outcome.ok and outcome.problems[0].row == 3
    assert keys(service, team) == {("nist_800_53", "SC-07", "deployed")}


def test_a_yaml_bomb_is_refused_and_the_previous_inventory_stays(
    service: InventoryService, team: str
) -> None:
    service.add(team, WORKSPACE, "SC-07", "U1")
    bomb = "a: &a [SC-07, SC-07]\nb: &b [*a, *a]\nc: &c [*b, *b]\ncontrols: [*c, *c]\n"
    outcome = service.import_file(team, WORKSPACE, bomb.encode(), "bomb.yaml", "U1")
    assert outcome.error and "aliases are not allowed" in outcome.error
    assert keys(service, team) == {("nist_800_53", "SC-07", "deployed")}


def test_an_oversized_file_is_refused_before_parsing() -> None:
    with pytest.raises(InventoryFileError, match="more than"):
        parse_inventory_file(b"id\n" + b"SC-07\n" * 1_000_000, "big.csv")


def test_a_ten_thousand_row_import_replaces_the_inventory(service: InventoryService, team: str) -> None:
    service.add(team, WORKSPACE, "AC-02", "U1")
    ids = ["SC-07", "SI-04", "amazon_guardduty", "DEF-ATH-E5", "azure_firewall"]
    data = ("id,status\n" + "".join(f"{ids[i % 5]},deployed\n" for i in range(10_000))).encode()
    outcome = service.import_file(team, WORKSPACE, data, "big.csv", "U2")
    assert outcome.ok, outcome
    assert {c for _, c, _ in keys(service, team)} == set(ids)
    assert outcome.result is not None and [c.capability_id for c in outcome.result.removed] == ["AC-02"]
    (last, *_) = store_inventory.audit_trail(service.engine, team)
    assert last.action == "import" and last.user_id == "U2" and "+5 -1" in (last.detail or "")


def test_an_import_interrupted_midway_leaves_the_previous_inventory(
    service: InventoryService, team: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.add(team, WORKSPACE, "SC-07", "U1")

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("connection lost")

    monkeypatch.setattr(store_inventory, "_audit", crash)  # after the delete and the insert
    with pytest.raises(RuntimeError):
        service.import_file(team, WORKSPACE, b"id\nSI-04\nAC-02\n", "ours.csv", "U1")
    monkeypatch.undo()
    assert keys(service, team) == {("nist_800_53", "SC-07", "deployed")}


def test_two_admins_adding_at_once_both_land_in_order(service: InventoryService, team: str) -> None:
    ids = ["SC-07", "SI-04", "AC-02", "AC-03", "IA-02", "CM-07", "SC-08", "SI-03"]
    errors: list[BaseException] = []
    versions: list[int] = []
    barrier = threading.Barrier(len(ids))

    def admin(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            outcome = service.add(team, WORKSPACE, ids[i], f"U{i}")
            assert outcome.ok and outcome.result is not None
            versions.append(outcome.result.version)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=admin, args=(i,)) for i in range(len(ids))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert sorted(versions) == list(range(1, len(ids) + 1))
    assert {c for _, c, _ in keys(service, team)} == set(ids)
    assert {a.user_id for a in store_inventory.audit_trail(service.engine, team)} == {
        f"U{i}" for i in range(8)
    }


def test_export_reads_back_as_the_same_inventory(service: InventoryService, team: str) -> None:
    service.add(team, WORKSPACE, "SC-07 amazon_guardduty", "U1")
    service.add(team, WORKSPACE, "planned DEF-ATH-E5", "U1")
    before = keys(service, team)
    for fmt, name in (("csv", "inv.csv"), ("yaml", "inv.yaml")):
        other = f"{team}X{fmt}"
        text = service.export(team, WORKSPACE, fmt)  # type: ignore[arg-type]
        assert service.import_file(other, WORKSPACE, text.encode(), name, "U1").ok
        assert keys(service, other) == before


def test_remove_of_a_control_not_held_changes_nothing(service: InventoryService, team: str) -> None:
    service.add(team, WORKSPACE, "SC-07", "U1")
    outcome = service.remove(team, WORKSPACE, "SC-07 SI-04", "U1")
    assert not outcome.ok and outcome.problems[0].typed == "SI-04"
    assert keys(service, team) == {("nist_800_53", "SC-07", "deployed")}
    assert service.remove(team, WORKSPACE, "sc-7", "U1").ok
    assert keys(service, team) == set()


def test_cli_import_and_list(
    corpus_url: str, team: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from bot.cli import main

    f = tmp_path / "inv.yaml"
    f.write_text("controls:\n  nist: [SC-07, SI-04]\n  aws:\n    planned: [guardduty]\n")
    assert main(["--db", corpus_url, "inventory", "import", str(f), "--team", team]) == 0
    capsys.readouterr()
    assert main(["--db", corpus_url, "inventory", "list", "--team", team, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {(c["id"], c["status"]) for c in listed["controls"]} == {
        ("SC-07", "deployed"),
        ("SI-04", "deployed"),
        ("amazon_guardduty", "planned"),
    }
    bad = tmp_path / "bad.csv"
    bad.write_text("id\nSC-99\n")
    assert main(["--db", corpus_url, "inventory", "import", str(bad), "--team", team]) == 1
    assert "SC-99" in capsys.readouterr().err
