"""Free text → ``Resolution``: which techniques, capabilities, frameworks and filters a
question names, and what it asks for.

Build a ``ResolverIndex`` once from the store (``ResolverIndex.build(session, aliases=...)``),
call ``resolve(index, text)`` per question, and rebuild when
``store.reads.data_version.data_version(session)`` changes.
"""

from __future__ import annotations

from bot.resolve.aliases import Alias, AliasError, AliasSet, load_aliases, parse_aliases
from bot.resolve.index import ResolverIndex
from bot.resolve.resolver import alternative_query, resolve

__all__ = [
    "Alias",
    "AliasError",
    "AliasSet",
    "ResolverIndex",
    "alternative_query",
    "load_aliases",
    "parse_aliases",
    "resolve",
]
