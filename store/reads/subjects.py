"""Whether what a request names exists.  A button's value is public: a forged one can name a
technique, control, control family or framework that was never loaded (``ZZ-99``), and the view
builders, which answer for anything, would render it as an empty answer."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from store.models import Capability, Mitigation, Tactic, Technique, Threat
from store.reads.fast import Source, _scalars, reader
from store.views import FRAMEWORKS, ViewRequest

_TECHNIQUES_HELD = select(Technique.attack_id).where(
    Technique.attack_id.in_(bindparam("ids", expanding=True))
)
_CAPABILITY_HELD = (
    select(Capability.id)
    .where(Capability.framework == bindparam("fw"), Capability.capability_id == bindparam("cid"))
    .limit(1)
)
_THREAT_HELD = select(Threat.id).where(Threat.attack_id == bindparam("aid")).limit(1)
_TACTIC_HELD = select(Tactic.id).where(Tactic.attack_id == bindparam("id")).limit(1)
_MITIGATION_HELD = select(Mitigation.id).where(Mitigation.attack_id == bindparam("id")).limit(1)
_GROUP_HELD = (
    select(Capability.id)
    .where(Capability.framework == bindparam("fw"), Capability.group == bindparam("group"))
    .limit(1)
)


def unknown_subjects(session: Source, request: ViewRequest) -> list[str]:
    """What ``request`` names that the database does not hold (``framework zz``, ``T9999``,
    ``nist_800_53 ZZ-99``, ``nist_800_53 family ZZ``); empty when everything exists.  Frameworks
    are checked against the frameworks this product knows, loaded or not: a channel's default
    frameworks may name one that was not ingested, and its answer says so itself."""
    session = reader(session)
    missing: list[str] = []
    frameworks = [
        *request.frameworks,
        *(fw for fw, _cid in request.capabilities),
        *((request.group[0],) if request.group else ()),
    ]
    missing += [f"framework {fw}" for fw in dict.fromkeys(frameworks) if fw not in FRAMEWORKS]
    if request.techniques:
        held = set(_scalars(session, _TECHNIQUES_HELD, {"ids": list(request.techniques)}))
        missing += [tid for tid in request.techniques if tid not in held]
    for fw, cid in request.capabilities:
        if fw in FRAMEWORKS and not _scalars(session, _CAPABILITY_HELD, {"fw": fw, "cid": cid}):
            missing.append(f"{fw} {cid}")
    if request.group:
        fw, group = request.group
        if fw in FRAMEWORKS and not _scalars(session, _GROUP_HELD, {"fw": fw, "group": group}):
            missing.append(f"{fw} family {group}")
    if request.threat and not _scalars(session, _THREAT_HELD, {"aid": request.threat}):
        missing.append(request.threat)
    if request.attack_object:
        stmt = _TACTIC_HELD if request.kind == "tactic" else _MITIGATION_HELD
        if not _scalars(session, stmt, {"id": request.attack_object}):
            missing.append(request.attack_object)
    return missing
