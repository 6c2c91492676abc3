"""Plain text from the data's markup, written once so that every surface shows the same words.

The NIST rev5 and a few KEV descriptions are HTML (``<p>…<a href=…>SP 800-189</a>…</p>``), and
ATT&CK descriptions mix Markdown links with ``<code>``, ``<b>``, ``<br>`` and entities
(``&lt;GPO_PATH&gt;``).  Both are turned into plain text here; links are kept as Markdown
``[label](url)``, the form ATT&CK already uses, so the renderers have one link syntax to turn into
``<url|label>`` (Slack) or ``label (url)`` (terminal).  Only real HTML element names are markup:
placeholders such as ``<username>`` or ``<YOUR_SECRET_KEY>`` in command lines are text and stay.
"""

from __future__ import annotations

import html
import re
from html.entities import html5
from html.parser import HTMLParser

__all__ = ["HTML_ENTITY", "HTML_TAG", "MD_LINK", "has_markup", "html_to_text"]

# Element names that appear in the data as markup (and their usual neighbours).
_BLOCK = frozenset(
    ["p", "div", "ul", "ol", "li", "table", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"]
)
_INLINE = frozenset(
    [
        "a",
        "b",
        "strong",
        "i",
        "em",
        "q",
        "span",
        "code",
        "br",
        "sup",
        "sub",
        "u",
        "small",
        "tt",
        "abbr",
        "cite",
        "td",
        "th",
        "hr",
        "img",
    ]
)
_ELEMENTS = _BLOCK | _INLINE
HTML_TAG = re.compile(
    r"</?(?:" + "|".join(sorted(_ELEMENTS, key=len, reverse=True)) + r")(?:\s[^<>]*)?/?>", re.IGNORECASE
)
_ENTITY_NAMES = "|".join(sorted((n[:-1] for n in html5 if n.endswith(";")), key=len, reverse=True))
# Only what HTML defines: "ATT&CK;" in a sentence is text.
HTML_ENTITY = re.compile(r"&(?:" + _ENTITY_NAMES + r"|#\d{1,7}|#[xX][0-9a-fA-F]{1,6});")
MD_LINK = re.compile(r"\[([^\[\]\n]+)\]\(((?:https?://|mailto:)[^()\s]+)\)")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANKS = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")
_SAFE_HREF = re.compile(r"^(?:https?://|mailto:)[^\s()\[\]<>]+$", re.IGNORECASE)


def has_markup(text: str | None) -> bool:
    """True if ``text`` holds an HTML element or entity (what ``html_to_text`` would change)."""
    return bool(text) and bool(HTML_TAG.search(text) or HTML_ENTITY.search(text))  # type: ignore[arg-type]


class _Converter(HTMLParser):
    CDATA_CONTENT_ELEMENTS = ()  # type: ignore[misc]  # `<script>` in a description is text about scripts, not a script

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._links: list[tuple[str | None, int]] = []  # href, position in out where the label starts

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _ELEMENTS:  # a placeholder such as <username>: text as written
            self.out.append(self.get_starttag_text() or "")
            return
        if tag in _BLOCK or tag == "br":
            self.out.append("\n\n" if tag in ("p", "div", "table", "pre", "blockquote") else "\n")
            if tag == "li":
                self.out.append("• ")
        elif tag == "q":
            self.out.append("“")
        elif tag == "code":
            self.out.append("`")
        elif tag == "a":
            href = dict(attrs).get("href")
            href = (href or "").strip().lstrip("\\")
            self._links.append((href if _SAFE_HREF.match(href) else None, len(self.out)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _ELEMENTS:
            self.out.append(self.get_starttag_text() or "")
        elif tag in ("br", "hr"):
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag not in _ELEMENTS:
            self.out.append(f"</{tag}>")
            return
        if tag in _BLOCK:
            self.out.append("\n\n" if tag in ("p", "div", "table", "pre", "blockquote") else "\n")
        elif tag == "q":
            self.out.append("”")
        elif tag == "code":
            self.out.append("`")
        elif tag == "a" and self._links:
            href, start = self._links.pop()
            label = " ".join("".join(self.out[start:]).split())
            del self.out[start:]
            if href and label and "[" not in label and "]" not in label:
                self.out.append(f"[{label}]({href})")
            else:
                self.out.append(label)

    def handle_data(self, data: str) -> None:
        self.out.append(data)


def html_to_text(text: str | None) -> str:
    """``text`` without HTML elements or entities: paragraphs as blank lines, links as
    ``[label](url)``, ``<code>`` as backticks, ``<q>`` as quotes; other text unchanged."""
    if not text:
        return ""
    if not HTML_TAG.search(text):
        if not HTML_ENTITY.search(text):
            return text
        return HTML_ENTITY.sub(lambda m: html.unescape(m.group(0)), text)
    parser = _Converter()
    parser.feed(text)
    parser.close()
    # What the parser could not pair (``<MsBuild.exe</code>`` in one ATT&CK procedure) goes too.
    out = HTML_ENTITY.sub(lambda m: html.unescape(m.group(0)), HTML_TAG.sub("", "".join(parser.out)))
    out = "\n".join(_SPACES.sub(" ", line).strip() for line in out.replace("\r\n", "\n").split("\n"))
    return _BLANKS.sub("\n\n", out).strip()
