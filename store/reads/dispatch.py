"""The view a request names."""

from __future__ import annotations

from store.reads.attack_objects import attack_object_view
from store.reads.capabilities import capability_view
from store.reads.compare import compare_view
from store.reads.cves import cve_view
from store.reads.detections import detections_for_technique
from store.reads.families import framework_view, group_view
from store.reads.fast import Source, reader
from store.reads.multi import multi_view
from store.reads.pairs import pair_view
from store.reads.techniques import technique_view
from store.reads.threats import threat_by_id
from store.reads.used_by import technique_users
from store.threat_views import AnyView
from store.views import NotLoaded, ViewRequest


def build_view(session: Source, request: ViewRequest) -> AnyView | NotLoaded:
    """The view a request names; what is not loaded gives a NotLoaded, never an exception."""
    session = reader(session)
    f = request.filters
    fws = request.frameworks
    if request.kind == "technique" and request.techniques:
        return technique_view(
            session, request.techniques[0], frameworks=fws, filters=f, domain=request.domain
        )
    if request.kind == "compare" and request.techniques:
        return compare_view(session, request.techniques[0], frameworks=fws, filters=f, domain=request.domain)
    if request.kind == "pair" and request.techniques and request.capabilities:
        fw, cid = request.capabilities[0]
        return pair_view(session, request.techniques[0], fw, cid, filters=f, domain=request.domain)
    if request.kind == "cve" and request.capabilities:
        return cve_view(session, request.capabilities[0][1], frameworks=fws, filters=f)
    if request.kind == "capability" and request.capabilities:
        fw, cid = request.capabilities[0]
        return capability_view(session, fw, cid, filters=f)
    if request.kind == "group" and request.group:
        return group_view(session, request.group[0], request.group[1], filters=f)
    if request.kind == "multi" and (request.techniques or request.capabilities):
        return multi_view(session, request)
    if request.kind == "threat" and request.threat:
        found = threat_by_id(session, request.threat, frameworks=fws, filters=f, also=request.techniques)
        if found is not None:
            return found
        return NotLoaded("threat", request.threat)
    if request.kind == "users" and request.techniques:
        return technique_users(session, request.techniques[0])
    if request.kind == "detection" and request.techniques:
        detection = detections_for_technique(session, request.techniques[0], frameworks=fws, filters=f)
        if detection is None:
            return NotLoaded("technique", request.techniques[0])
        return detection
    if request.kind in ("tactic", "mitigation") and request.attack_object:
        obj = attack_object_view(session, request.attack_object, frameworks=fws, filters=f)
        if obj is not None:
            return obj
        return NotLoaded("attack_object", request.attack_object)
    if request.kind == "framework" and fws:
        return framework_view(session, fws[0], filters=f)
    return NotLoaded("nothing")
