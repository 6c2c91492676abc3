"""Huge data fields cost what short ones do: a mapping comment of megabytes and a capability name
of 500,000 characters give an answer and a Details page within Slack's limits, and rendering
reads only the bounded part of such a field that it shows (issue 17 item 10).

Timing-free: the algorithm is asserted (output sizes bounded; no whole-field scan, proved by a
string that refuses to be scanned), and ``bench/huge_fields.py`` prints the figures."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.render.blocks import render_view
from bot.render.details import DETAIL_COMMENT_CHARS, chunks
from bot.render.limits import total_text, violations
from bot.render.pages import PAGE_TEXT_BUDGET
from bot.render.state import State
from store.db import session_scope
from store.ingest import ingest_paths
from store.reads.dispatch import build_view
from store.views import MappingLine, TechniqueView, ViewRequest
from tests.store_fixtures import mapping_document, mapping_row, write_json

COMMENT = ("Enforce boundary protection on egress.\nBlock DNS tunnelling at the resolver. " * 30_000)[
    :2_000_000
]
HUGE_NAME = "Boundary Protection " * 25_000  # 500,000 characters
REQUEST = ViewRequest("technique", ("T1048",), frameworks=("nist_800_53",))


@pytest.fixture
def huge_view(engine: Engine, tmp_path: Path) -> TechniqueView:
    rows = [
        mapping_row("SC-07", "T1048", comments=COMMENT, name="Boundary Protection"),
        mapping_row("AC-2", "T1048", comments="Account management.", name="Account Management"),
        mapping_row("SC-8", "T1048", comments="short"),
    ]
    ingest_paths(engine, [write_json(tmp_path / "huge.json", mapping_document(rows=rows))])
    with session_scope(engine) as session:
        view = build_view(session, REQUEST)
    assert isinstance(view, TechniqueView)
    # Ingest refuses names this long (test_store_ingest_robustness); rendering must not rely on it.
    line = _line(view, "AC-2")
    return _swap(view, line, dataclasses.replace(line, capability_name=HUGE_NAME))  # type: ignore[no-any-return]


def _line(view: TechniqueView, capability: str) -> MappingLine:
    return next(
        ln
        for s in view.sections
        for g in s.groups
        for ln in g.lines
        if ln.capability_id_as_written == capability
    )


def _ok(out: Any) -> dict[str, Any]:
    payload = {"text": out.text, "blocks": out.blocks}
    assert violations(payload) == []
    return payload


def test_details_of_a_megabyte_comment_shows_its_start_and_says_how_long_it_is(
    huge_view: TechniqueView,
) -> None:
    line = _line(huge_view, "SC-07")
    assert line.comments == COMMENT  # stored whole: only the rendering is bounded
    payload = _ok(render_view(huge_view, State(REQUEST, expanded=line.key)))
    assert total_text(payload["blocks"]) <= PAGE_TEXT_BUDGET + 1_000
    texts = " ".join(b["text"]["text"] for b in payload["blocks"] if b["type"] == "section")
    assert "Enforce boundary protection on egress." in texts
    assert f"{len(COMMENT):,} characters in all, the first {DETAIL_COMMENT_CHARS:,} shown" in texts


def test_a_500000_character_name_passes_the_limits_in_the_answer_and_in_details(
    huge_view: TechniqueView,
) -> None:
    line = _line(huge_view, "AC-2")
    _ok(render_view(huge_view, State(REQUEST)))
    payload = _ok(render_view(huge_view, State(REQUEST, expanded=line.key)))
    assert "Boundary Protection Boundary" in payload["blocks"][0]["text"]["text"]  # the header, cut


class Tripwire(str):
    """A string that fails the test when anything scans or copies it whole while it is long;
    slicing it (which returns a plain ``str``) and asking its length are allowed."""


def _guarded(name: str) -> Any:
    method = getattr(str, name) if name != "__radd__" else lambda self, other: other + self

    def guarded(self: str, *args: Any, **kwargs: Any) -> Any:
        if len(self) > 10 * DETAIL_COMMENT_CHARS:
            raise AssertionError(f"{name} on a {len(self):,}-character field: it was scanned whole")
        return method(str.__str__(self), *args, **kwargs)

    return guarded


_SCANS = (
    "replace",
    "split",
    "splitlines",
    "strip",
    "lstrip",
    "rstrip",
    "find",
    "rfind",
    "index",
    "count",
    "encode",
    "lower",
    "upper",
    "casefold",
    "startswith",
    "endswith",
    "partition",
    "expandtabs",
    "__iter__",
    "__contains__",
    "__format__",
    "__str__",
    "__add__",
    "__radd__",
    "__mod__",
)
for _name in _SCANS:
    setattr(Tripwire, _name, _guarded(_name))


def test_the_tripwire_trips_on_a_whole_scan_only() -> None:
    from bot.render.mrkdwn import esc, one_line

    big, small = Tripwire("x " * 100_000), Tripwire("a & b")
    for scan in (esc, one_line, lambda t: "> " + t, lambda t: f"{t}"):
        with pytest.raises(AssertionError, match="scanned whole"):
            scan(big)
    assert (esc(small), "> " + small, big[:3], len(big)) == ("a &amp; b", "> a & b", "x x", 200_000)


def _swap(obj: Any, old: MappingLine, new: MappingLine) -> Any:
    if obj is old:
        return new
    if isinstance(obj, tuple):
        return tuple(_swap(o, old, new) for o in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {f.name: _swap(getattr(obj, f.name), old, new) for f in dataclasses.fields(obj)}
        return dataclasses.replace(obj, **changes)
    return obj


@pytest.mark.parametrize("capability", ["SC-07", "AC-2"])
def test_rendering_never_scans_a_huge_field_whole(huge_view: TechniqueView, capability: str) -> None:
    line = _line(huge_view, capability)
    tripped = dataclasses.replace(
        line,
        comments=Tripwire(line.comments or ""),
        capability_name=Tripwire(line.capability_name or ""),
    )
    view = _swap(huge_view, line, tripped)
    assert _line(view, capability).comments.__class__ is Tripwire
    _ok(render_view(view, State(REQUEST)))
    _ok(render_view(view, State(REQUEST, expanded=line.key)))


@pytest.mark.parametrize(
    "text",
    [
        "word " * 3_000,
        ("a line of text\n" * 900) + "tail",
        "x" * 7_777,
        "  leading and trailing  \n\n",
        "mixed\n" + "y" * 2_500 + " z " * 400,
    ],
    ids=["spaces", "lines", "unbroken", "padded", "mixed"],
)
def test_chunks_cover_the_text_in_pieces_of_at_most_the_size(text: str) -> None:
    pieces = chunks(text, 2_000)
    assert all(0 < len(p) <= 2_000 for p in pieces)
    assert "".join("".join(p.split()) for p in pieces) == "".join(text.split())
    assert len(pieces) <= 2 * (len(text) // 2_000 + 1)
