"""Every group, software and campaign row, held in memory per data version.

A threat answer names the threat and the software, groups and campaigns it is linked to: read
from the database that is two selects per answer (four round trips with the links) for about
1,100 small rows that change only when a bundle is loaded.  They are read once per data version
(keyed, like ``store.reads.threat_coverage``, on the ``StaticInfo`` the reader holds), and an
answer runs one select: its links.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from sqlalchemy import select

from store.models import Threat
from store.reads.fast import Source, _json, _q, reader
from store.reads.static import StaticInfo, static

_DOMAIN_ORDER = {"enterprise": 0, "mobile": 1, "ics": 2}
_ALL = select(
    Threat.attack_id,
    Threat.name,
    Threat.kind,
    Threat.stix_type,
    _json(Threat.aliases),
    Threat.url,
    Threat.domain,
    Threat.description,
    _json(Threat.platforms),
    Threat.revoked,
    Threat.deprecated,
    Threat.revoked_by,
)

Catalogue = dict[str, list[Any]]  # ATT&CK ID -> its rows, enterprise first, then mobile, ICS
_BY_VERSION: dict[int, tuple[weakref.ref[StaticInfo], Catalogue]] = {}
_LOCK = threading.Lock()


def _load(source: Source) -> Catalogue:
    out: Catalogue = {}
    for r in sorted(_q(source, _ALL), key=lambda r: (r.attack_id, _DOMAIN_ORDER.get(r.domain, 9))):
        out.setdefault(r.attack_id, []).append(r)
    return out


def threat_catalogue(source: Source) -> Catalogue:
    """The threats of the data version ``source`` reads (read on first use)."""
    src = reader(source)
    info = static(src)
    with _LOCK:
        entry = _BY_VERSION.get(id(info))
        if entry is not None and entry[0]() is info:
            return entry[1]
    found = _load(src)
    with _LOCK:
        for key in [k for k, (ref, _) in _BY_VERSION.items() if ref() is None]:
            del _BY_VERSION[key]
        _BY_VERSION[id(info)] = (weakref.ref(info), found)
    return found


def threat_row(source: Source, attack_id: str, domain: str | None = None) -> Any:
    """The row of ``attack_id`` in ``domain`` (None: enterprise first), or None."""
    rows = threat_catalogue(source).get(attack_id)
    if not rows:
        return None
    if domain is None:
        return rows[0]
    return next((r for r in rows if r.domain == domain), None)
