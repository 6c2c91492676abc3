"""License requirements that M365 mapping comments carry as a trailing paragraph.

The comment is kept whole elsewhere; this pulls out the part a SOC engineer needs at a glance
("which SKU do I need for this control?").  Headings vary between files and authors:
``License Requirements:``, ``License requirements:``, ``Required licenses`` and ``License:``,
each at the start of a line, followed by the requirement on the same or the next lines.
"""

from __future__ import annotations

import re

__all__ = ["extract_license_requirements"]

_HEADING = re.compile(
    r"^[ \t]*(?:licen[sc]e[ \t]+requirements?[ \t]*:?"
    r"|required[ \t]+licen[sc]es?[ \t]*:?"
    r"|licen[sc]es?[ \t]*:)",
    re.IGNORECASE | re.MULTILINE,
)
_SPACE = re.compile(r"\s+")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def extract_license_requirements(comments: str | None) -> str | None:
    """The paragraph after each license heading, whitespace squashed, or None.

    Several headings in one comment (some M365 rows repeat the paragraph) yield their distinct
    texts joined by ``"; "``.  ``\\r\\n`` and ``\\n`` line ends are treated alike.
    """
    if not comments or ("icen" not in comments and "ICEN" not in comments):
        return None  # cheap test first: most comments say nothing about licenses
    text = comments.replace("\r\n", "\n").replace("\r", "\n")
    matches = list(_HEADING.finditer(text))
    if not matches:
        return None
    parts: list[str] = []
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        # The requirement is one paragraph; anything after a blank line is further prose.
        body = text[m.end() : end].lstrip()
        body = _BLANK_LINE.split(body, maxsplit=1)[0]
        part = _SPACE.sub(" ", body).strip()
        if part and part not in parts:
            parts.append(part)
    return "; ".join(parts) or None
