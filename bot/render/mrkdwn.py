"""Safe mrkdwn: everything from the data or from a user goes through here before Slack sees it.

Slack parses ``<...>`` as links and mentions and ``&`` as an entity in every mrkdwn string, so
the three characters are escaped (``A&A-01`` then shows as written and ``<!channel>`` pings no
one).  Echoed user text also loses its backticks and formatting marks so that it cannot close
our code spans or restyle the message.  Links are built only from http(s) URLs we can quote.
"""

from __future__ import annotations

import re

from store.text import MD_LINK

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TO_ESCAPE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f&<>]")
_URL = re.compile(r"https?://[^\s<>|]+", re.IGNORECASE)
ELLIPSIS = "…"


def esc(text: object) -> str:
    """Escape ``&``, ``<`` and ``>`` (and drop control characters) for any mrkdwn context."""
    s = text if type(text) is str else str(text)
    if not _TO_ESCAPE.search(s):  # most text: one scan, nothing to change
        return s
    s = _CONTROL.sub("", s)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def esc_user(text: object, limit: int = 200) -> str:
    """User text echoed back: escaped, one line, no backticks or formatting marks."""
    s = " ".join(str(text).split())
    s = clip(s, limit)
    # Look-alikes keep the text readable without letting it open or close formatting.
    s = s.translate({ord("`"): "ˋ", ord("*"): "∗", ord("_"): "＿", ord("~"): "∼"})
    return esc(s)


def code(text: object) -> str:
    """An ID in a code span; backticks inside cannot end it early."""
    return f"`{esc(str(text).replace('`', 'ˋ'))}`"


def safe_url(url: object) -> str | None:
    """The URL if it is a plain http(s) URL that can sit inside ``<...|...>``, else None."""
    s = str(url or "").strip()
    m = _URL.fullmatch(s)
    return s if m and len(s) <= 2000 else None


def link(url: object, label: object) -> str:
    """``<url|label>`` for a safe URL, else the escaped label alone."""
    u = safe_url(url)
    lab = esc(label).replace("|", "¦")
    if not u:
        return lab
    return f"<{u.replace('&', '&amp;')}|{lab}>"


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary when one is near, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:.") + ELLIPSIS


def clip_escaped(text: str, limit: int) -> str:
    """Escape then clip to ``limit`` escaped characters without splitting an entity."""
    out = esc(text)
    if len(out) <= limit:
        return out
    raw = clip(text, limit)
    while len(esc(raw)) > limit and len(raw) > 1:
        raw = clip(raw[:-1] if raw.endswith(ELLIPSIS) else raw, max(len(raw) - 20, 1))
    return esc(raw)


def one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def excerpt(text: str | None, limit: int) -> str:
    """``clip(one_line(text), limit)``, reading only a bounded prefix of ``text``: an excerpt of
    a 20 MB comment costs what one of a short comment does."""
    if not text:
        return ""
    head = text[: limit * 8 + 64]  # room for collapsed whitespace; a longer text is cut anyway
    flat = one_line(head)
    if len(head) < len(text) and len(flat) <= limit:
        flat += " …"  # the prefix was mostly whitespace: the text goes on past it
    return clip(flat, limit)


NAME_LIMIT = 300  # characters of a capability or technique name shown inline (real names: under 250)


def name_text(name: str | None) -> str:
    """A name from the data, fit to show inline: at most ``NAME_LIMIT`` characters (cut in
    time that does not depend on its length)."""
    return clip(name or "", NAME_LIMIT)


def described(text: str | None, limit: int) -> str:
    """A description from the data as one mrkdwn line of at most ``limit`` visible characters:
    escaped, with its ``[label](url)`` links (see ``store.text``) as Slack links."""

    s = one_line(text)
    out: list[str] = []
    room = limit
    at = 0
    for m in MD_LINK.finditer(s):
        before = s[at : m.start()]
        if len(before) >= room:
            break
        out.append(esc(before))
        room -= len(before)
        label = m.group(1)
        if len(label) > room:
            at = m.start()
            break
        out.append(link(m.group(2), label) if safe_url(m.group(2)) else esc(label))
        room -= len(label)
        at = m.end()
    rest = s[at:]
    if rest:
        plain = MD_LINK.sub(r"\1", rest)
        out.append(esc(clip(plain, room)) if room > 1 else ELLIPSIS)
    return "".join(out)


def plain_links(text: str) -> str:
    """``[label](url)`` links written ``label (url)`` for plain-text surfaces."""

    return MD_LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
