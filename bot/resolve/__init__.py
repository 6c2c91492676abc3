"""Free text → ``Resolution``: which techniques, capabilities, frameworks and filters a
question names, and what it asks for.

Build a ``ResolverIndex`` once from the store (``ResolverIndex.build(data, aliases=...)``, with
``data`` a ``store.reads.scope.Reads``), call ``resolve(index, text)`` per question, and rebuild
when ``data.data_version()`` changes.
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
