"""Descriptions read as text on every surface: no HTML tags or entities, links kept.

The NIST rev5 description list is HTML (``<p>…<a href=…>SP 800-189</a>…</p>``) and ATT&CK
descriptions carry ``<code>`` and ``&lt;``; before the fix they showed as literal ``&lt;p&gt;`` in
Slack, in the terminal and in unfurls.  The corpus test renders every capability, CVE and
technique answer and card and looks for markup a reader would see.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
from rich.console import Console
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.config import ALL_FRAMEWORKS
from bot.render.blocks import render_view
from bot.render.mrkdwn import described
from bot.render.state import State
from bot.render.terminal import renderable
from store.db import session_scope
from store.models import Capability, Technique
from store.reads.dispatch import build_view
from store.text import HTML_ENTITY, HTML_TAG, html_to_text
from store.views import Filters, ViewRequest

# --------------------------------------------------------------------------- unit


def test_paragraphs_become_blank_lines_and_links_stay_as_markdown_links() -> None:
    html = '<p>See <a xmlns="" href="https://doi.org/10.6028/NIST.SP.800-189">SP 800-189</a>.</p><p>Two</p>'
    assert html_to_text(html) == "See [SP 800-189](https://doi.org/10.6028/NIST.SP.800-189).\n\nTwo"


def test_placeholders_that_look_like_tags_are_text() -> None:
    text = "Set SECRET_KEY = <YOUR_OWN_KEY> in <p>the <code>C:\\Users\\<username></code> folder</p>"
    assert html_to_text(text) == "Set SECRET_KEY = <YOUR_OWN_KEY> in\n\nthe `C:\\Users\\<username>` folder"


def test_plain_text_without_markup_is_unchanged() -> None:
    for text in ("A&A-01 & more", "<NetworkProviderName> key", "x < y > z"):
        assert html_to_text(text) == text


def test_entities_are_decoded_and_quotes_kept() -> None:
    assert html_to_text("<q>app stores.</q> it&rsquo;s &lt;GPO&gt;") == "“app stores.” it’s <GPO>"


def test_unsafe_link_targets_keep_only_the_label() -> None:
    assert html_to_text('<p><a href="javascript:alert(1)">click</a></p>') == "click"


def test_slack_description_links_and_escapes() -> None:
    text = "Use [SP 800-189](https://doi.org/x?a=1&b=2) for <spoofed> A&A"
    assert (
        described(text, 900) == "Use <https://doi.org/x?a=1&amp;b=2|SP 800-189> for &lt;spoofed&gt; A&amp;A"
    )


def test_slack_description_is_clipped_outside_links() -> None:
    text = "word " * 10 + "[a label](https://example.org/x) " + "tail " * 50
    out = described(text, 60)
    assert out.count("<https://example.org/x|a label>") == 1
    assert out.endswith("…")
    assert described(text, 30).count("<") == 0  # the link would not fit: plain words only


# --------------------------------------------------------------------------- corpus


def _visible(slack_text: str) -> str:
    """What Slack shows for mrkdwn: links as their labels, its three escapes decoded once."""
    text = re.sub(r"<(?:https?://|mailto:)[^|>]*\|([^>]*)>", r"\1", slack_text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _markup(text: str) -> list[str]:
    return [m.group(0) for m in HTML_TAG.finditer(text)] + [m.group(0) for m in HTML_ENTITY.finditer(text)]


def _texts(obj: object) -> Iterator[str]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "text" and isinstance(v, str):
                yield v
            else:
                yield from _texts(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _texts(v)


@pytest.fixture(scope="module")
def session(corpus_engine: Engine) -> Iterator[Session]:
    with session_scope(corpus_engine) as s:
        yield s


def _problems(session: Session, request: ViewRequest, *, card: bool = False) -> list[str]:
    view = build_view(session, request)
    out = []
    for state in [State(request)] + ([State(request, compact=True)] if card else []):
        rendered = render_view(view, state)
        for text in _texts(rendered.blocks):
            out.extend(f"{request} slack: {m}" for m in _markup(_visible(text)))
    console = Console(file=io.StringIO(), width=200)
    console.print(renderable(view))
    out.extend(f"{request} terminal: {m}" for m in _markup(console.file.getvalue()))  # type: ignore[attr-defined]
    for field in ("description",):
        value = getattr(view, field, None)
        if isinstance(value, str):
            out.extend(f"{request} view: {m}" for m in _markup(value))
    header = getattr(view, "header", None)
    if header is not None:
        out.extend(f"{request} summary: {m}" for m in _markup(header.summary))
    return out


@pytest.mark.slow
def test_every_capability_description_shows_without_markup(session: Session, backend: str) -> None:
    caps = session.execute(select(Capability.framework, Capability.capability_id)).all()
    assert len(caps) > 1000
    stride = 1 if backend == "sqlite" else 5
    problems: list[str] = []
    linked = 0
    for fw, cid in sorted(caps)[::stride]:
        kind = "cve" if fw == "kev" else "capability"
        request = ViewRequest(
            kind, capabilities=((fw, cid),), frameworks=("nist_800_53", "m365") if kind == "cve" else ()
        )
        problems.extend(_problems(session, request, card=False))
        view = build_view(session, request)
        linked += "](https://" in (getattr(view, "description", None) or "")
    assert problems == []
    assert linked > 30 // stride  # the NIST rev5 links survive as links


@pytest.mark.slow
def test_every_technique_answer_and_card_shows_without_markup(session: Session, backend: str) -> None:
    ids = sorted(session.scalars(select(Technique.attack_id)).all())
    stride = 1 if backend == "sqlite" else 5
    problems: list[str] = []
    for tid in ids[::stride]:
        request = ViewRequest("technique", (tid,), frameworks=ALL_FRAMEWORKS)
        problems.extend(_problems(session, request, card=True))
    assert problems == []


@pytest.mark.slow
def test_nist_rev5_links_are_slack_links_in_the_control_answer(session: Session) -> None:
    request = ViewRequest("capability", capabilities=(("nist_800_53", "SC-07"),), filters=_rev5())
    rendered = render_view(build_view(session, request), State(request))
    body = "\n".join(_texts(rendered.blocks))
    assert "<https://doi.org/10.6028/NIST.SP.800-189|SP 800-189>" in body
    assert "&lt;p&gt;" not in body and "<p>" not in body


def _rev5() -> Filters:
    return Filters(framework_version="rev5")
