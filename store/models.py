"""The database schema: mapping releases and ATT&CK objects (the bot's own state is in
``store.app_state``).

Every mapping row keeps the IDs and names *as written* in its file next to the canonical
forms, so nothing in the source data is lost or silently changed.  Columns that the hot
read paths filter on are denormalised onto ``mappings`` (framework, canonical capability ID,
ATT&CK ID) so that an answer is one indexed select, not a chain of joins.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {
        dict[str, Any]: JSON,
        list[str]: JSON,
        list[Any]: JSON,
        dt.datetime: DateTime(timezone=True),
        dt.date: Date,
    }


# --------------------------------------------------------------------------- mapping data


class Release(Base):
    """One Mappings Explorer file: framework + framework version + ATT&CK version + domain."""

    __tablename__ = "releases"
    __table_args__ = (
        UniqueConstraint("framework", "framework_version", "attack_version", "domain", name="uq_release_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    framework: Mapped[str] = mapped_column(String(32), index=True)
    framework_version: Mapped[str] = mapped_column(String(32))
    attack_version: Mapped[str] = mapped_column(String(16))
    domain: Mapped[str] = mapped_column(String(16))
    mapping_version: Mapped[str | None] = mapped_column(String(32))
    author: Mapped[str | None] = mapped_column(String(200))
    contact: Mapped[str | None] = mapped_column(String(200))
    organization: Mapped[str | None] = mapped_column(String(200))
    creation_date: Mapped[dt.date | None]
    last_update: Mapped[dt.date | None]
    # {"protects": {"name": "Protects", "description": ""}, ...} exactly as declared.
    mapping_types: Mapped[dict[str, Any]]
    # {"SC": "System and Communications Protection", ...} exactly as declared.
    capability_groups: Mapped[dict[str, Any]]
    source_file: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    # Digest of the parsed content: a JSON and a YAML copy of one release agree on it.
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    loaded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Every row of the file's mapping_objects, non-mappable ones included ...
    mapping_count: Mapped[int] = mapped_column(Integer, default=0)
    # ... of which this many have status non_mappable.
    non_mappable_count: Mapped[int] = mapped_column(Integer, default=0)

    mappings: Mapped[list[Mapping]] = relationship(
        back_populates="release", cascade="all, delete-orphan", passive_deletes=True
    )


class Capability(Base):
    """A control, product capability, VERIS path or CVE, once per framework.

    ``capability_id`` is canonical (NIST zero-padded ``SC-07``); ``id_as_written`` is the form
    the newest release used.  ``first_seen_at`` survives release replacement, which is what
    lets the digest say "new KEV CVEs since yesterday".
    """

    __tablename__ = "capabilities"
    __table_args__ = (UniqueConstraint("framework", "capability_id", name="uq_capability"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    framework: Mapped[str] = mapped_column(String(32))
    capability_id: Mapped[str] = mapped_column(String(200), index=True)
    id_as_written: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(Text)
    group: Mapped[str | None] = mapped_column(String(100))
    group_name: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CapabilityDescription(Base):
    """A row of a capability description list (``[{"id", "description"}]``), as loaded.

    IDs are not unique within a list (the KEV list gives some CVEs two descriptions), so
    rows are keyed by their position in the list.
    """

    __tablename__ = "capability_descriptions"
    __table_args__ = (
        UniqueConstraint("source", "position", name="uq_capability_description"),
        Index("ix_capability_descriptions_capability", "framework", "capability_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100))  # e.g. "nist_800_53/rev5", "kev/07/28/2025"
    framework: Mapped[str] = mapped_column(String(32), index=True)
    framework_version: Mapped[str | None] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer, default=0)
    capability_id: Mapped[str] = mapped_column(String(200))  # canonical
    id_as_written: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))


class Mapping(Base):
    """One row of ``mapping_objects``, complete or non-mappable, never merged with another.

    Non-mappable rows come in two shapes: technique without capability (``capability_pk`` is
    NULL) and capability without technique (``attack_id`` is NULL).
    """

    __tablename__ = "mappings"
    __table_args__ = (
        # Covering the names lets the resolver's grouped scans read the indexes alone.
        Index("ix_mappings_attack", "attack_id", "attack_name"),
        Index("ix_mappings_capability", "framework", "capability_id", "capability_name"),
        Index("ix_mappings_pair", "attack_id", "capability_id"),
        Index("ix_mappings_release", "release_id"),
        # An answer's rows of one technique or capability in a few releases, and its mapping
        # counts per release (status tells non-mappable rows apart) from the index alone.
        Index("ix_mappings_attack_release", "attack_id", "release_id", "status"),
        Index("ix_mappings_capability_release", "framework", "capability_id", "release_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # index in the file's mapping_objects
    framework: Mapped[str] = mapped_column(String(32))
    capability_pk: Mapped[int | None] = mapped_column(ForeignKey("capabilities.id"))
    capability_id: Mapped[str | None] = mapped_column(String(200))  # canonical
    capability_id_as_written: Mapped[str | None] = mapped_column(String(200))
    capability_name: Mapped[str | None] = mapped_column(Text)  # capability_description as written
    capability_group: Mapped[str | None] = mapped_column(String(100))
    attack_id: Mapped[str | None] = mapped_column(String(32))  # upper-cased, e.g. T1048.003
    attack_id_as_written: Mapped[str | None] = mapped_column(String(32))
    attack_name: Mapped[str | None] = mapped_column(Text)  # as written in the file
    mapping_type: Mapped[str | None] = mapped_column(String(64))
    score_category: Mapped[str | None] = mapped_column(String(16))
    score_value: Mapped[str | None] = mapped_column(String(16))
    related_score: Mapped[str | None] = mapped_column(String(32))
    comments: Mapped[str | None] = mapped_column(Text)  # kept whole
    references: Mapped[list[Any] | None] = mapped_column(JSON)  # None where the file has null
    status: Mapped[str | None] = mapped_column(String(32))
    license_requirements: Mapped[str | None] = mapped_column(Text)  # extracted from comments
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # any further keys of the row

    release: Mapped[Release] = relationship(back_populates="mappings")


# --------------------------------------------------------------------------- ATT&CK


class AttackBundle(Base):
    """One loaded STIX bundle; replacing it replaces every object of its domain."""

    __tablename__ = "attack_bundles"

    domain: Mapped[str] = mapped_column(String(16), primary_key=True)
    attack_version: Mapped[str | None] = mapped_column(String(16))
    source_file: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Tactic(Base):
    __tablename__ = "tactics"
    __table_args__ = (UniqueConstraint("domain", "shortname", name="uq_tactic"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(16))
    attack_id: Mapped[str] = mapped_column(String(16))  # TA0010
    shortname: Mapped[str] = mapped_column(String(64))  # exfiltration
    name: Mapped[str] = mapped_column(String(200))  # Exfiltration
    position: Mapped[int] = mapped_column(Integer, default=0)  # kill-chain order


class Technique(Base):
    """A technique or sub-technique of ATT&CK, current, deprecated or revoked."""

    __tablename__ = "techniques"
    # One STIX object can sit in two domains' bundles, so STIX IDs are unique per domain.
    __table_args__ = (
        Index("ix_techniques_attack_id", "attack_id"),
        # Sub-techniques of any number of parents in one indexed select.
        Index("ix_techniques_parent", "parent_attack_id"),
        UniqueConstraint("domain", "stix_id", name="uq_technique_stix"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stix_id: Mapped[str] = mapped_column(String(80))
    domain: Mapped[str] = mapped_column(String(16))
    attack_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(300))
    tactics: Mapped[list[str]] = mapped_column(JSON, default=list)  # kill-chain shortnames
    platforms: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_subtechnique: Mapped[bool] = mapped_column(Boolean, default=False)
    parent_attack_id: Mapped[str | None] = mapped_column(String(32))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    deprecated: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked_by: Mapped[str | None] = mapped_column(String(32))  # ATT&CK ID of the replacement
    attack_version: Mapped[str | None] = mapped_column(String(16))
    modified: Mapped[dt.datetime | None]


class Mitigation(Base):
    """An ATT&CK course-of-action (M1xxx)."""

    __tablename__ = "mitigations"
    __table_args__ = (UniqueConstraint("domain", "stix_id", name="uq_mitigation_stix"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stix_id: Mapped[str] = mapped_column(String(80))
    domain: Mapped[str] = mapped_column(String(16))
    attack_id: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(300))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    deprecated: Mapped[bool] = mapped_column(Boolean, default=False)


class MitigationLink(Base):
    """A ``mitigates`` relationship: mitigation → technique, with its own explanation."""

    __tablename__ = "mitigation_links"
    __table_args__ = (
        Index("ix_mitigation_links_technique", "technique_attack_id"),
        Index("ix_mitigation_links_mitigation", "mitigation_attack_id"),
        UniqueConstraint("domain", "stix_id", name="uq_mitigation_link_stix"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stix_id: Mapped[str] = mapped_column(String(80))
    domain: Mapped[str] = mapped_column(String(16))
    mitigation_pk: Mapped[int] = mapped_column(ForeignKey("mitigations.id", ondelete="CASCADE"))
    technique_pk: Mapped[int] = mapped_column(ForeignKey("techniques.id", ondelete="CASCADE"))
    mitigation_attack_id: Mapped[str] = mapped_column(String(32))
    technique_attack_id: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)


# --------------------------------------------------------------------------- ATT&CK threats


class Threat(Base):
    """An ATT&CK group (``intrusion-set``), software (``malware``/``tool``) or campaign.

    ``kind`` is what the bot answers about (group | software | campaign); ``stix_type`` keeps
    the STIX type, which tells malware from tools.  Kept per domain like techniques: one group
    can sit in the enterprise and the mobile bundle with the same STIX ID.
    """

    __tablename__ = "threats"
    __table_args__ = (
        Index("ix_threats_attack_id", "attack_id"),
        UniqueConstraint("domain", "stix_id", name="uq_threat_stix"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stix_id: Mapped[str] = mapped_column(String(80))
    domain: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))  # group | software | campaign
    stix_type: Mapped[str] = mapped_column(String(32))  # intrusion-set | malware | tool | campaign
    attack_id: Mapped[str] = mapped_column(String(16))  # G0016, S0002, C0024
    name: Mapped[str] = mapped_column(Text)
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)  # the name itself excluded
    description: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(300))
    platforms: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_seen: Mapped[dt.datetime | None]
    last_seen: Mapped[dt.datetime | None]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    deprecated: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked_by: Mapped[str | None] = mapped_column(String(16))  # ATT&CK ID of the replacement
    modified: Mapped[dt.datetime | None]


class ThreatLink(Base):
    """A ``uses`` (threat → technique or software) or ``attributed-to`` (campaign → group)
    relationship, with its procedure text and its citations resolved to name and URL."""

    __tablename__ = "threat_links"
    __table_args__ = (
        Index("ix_threat_links_source", "source_attack_id", "relationship"),
        Index("ix_threat_links_target", "target_attack_id", "relationship"),
        UniqueConstraint("domain", "stix_id", name="uq_threat_link_stix"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stix_id: Mapped[str] = mapped_column(String(80))
    domain: Mapped[str] = mapped_column(String(16))
    relationship: Mapped[str] = mapped_column(String(16))  # uses | attributed-to
    source_pk: Mapped[int] = mapped_column(ForeignKey("threats.id", ondelete="CASCADE"))
    source_attack_id: Mapped[str] = mapped_column(String(16))
    target_kind: Mapped[str] = mapped_column(String(16))  # technique | software | group
    target_attack_id: Mapped[str] = mapped_column(String(32))
    technique_pk: Mapped[int | None] = mapped_column(ForeignKey("techniques.id", ondelete="CASCADE"))
    target_threat_pk: Mapped[int | None] = mapped_column(ForeignKey("threats.id", ondelete="CASCADE"))
    description: Mapped[str | None] = mapped_column(Text)  # the procedure text
    # [{"name": "FireEye APT29 Nov 2018", "url": "https://..."}], cited ones first, in order.
    citations: Mapped[list[Any]] = mapped_column(JSON, default=list)


# --------------------------------------------------------------------------- ATT&CK detections


class DataComponent(Base):
    """An ``x-mitre-data-component`` (DC…), with its data source where the bundle names one."""

    __tablename__ = "data_components"
    __table_args__ = (
        Index("ix_data_components_attack_id", "attack_id"),
        UniqueConstraint("domain", "stix_id", name="uq_data_component_stix"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stix_id: Mapped[str] = mapped_column(String(80))
    domain: Mapped[str] = mapped_column(String(16))
    attack_id: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(300))
    data_source_id: Mapped[str | None] = mapped_column(String(16))  # DS0009
    data_source_name: Mapped[str | None] = mapped_column(Text)
    log_sources: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"name", "channel"}]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    deprecated: Mapped[bool] = mapped_column(Boolean, default=False)


class Analytic(Base):
    """An ``x-mitre-analytic`` (AN…): what to look for, on which platforms, in which logs."""

    __tablename__ = "analytics"
    __table_args__ = (
        Index("ix_analytics_attack_id", "attack_id"),
        UniqueConstraint("domain", "stix_id", name="uq_analytic_stix"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stix_id: Mapped[str] = mapped_column(String(80))
    domain: Mapped[str] = mapped_column(String(16))
    attack_id: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(300))
    platforms: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [{"data_component": "DC0082", "data_component_name": ..., "name": "auditd:SYSCALL",
    #   "channel": "socket/connect"}]
    log_sources: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # [{"field": "TimeWindow", "description": ...}]: the tunable elements
    mutable_elements: Mapped[list[Any]] = mapped_column(JSON, default=list)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    deprecated: Mapped[bool] = mapped_column(Boolean, default=False)


class DetectionStrategy(Base):
    """An ``x-mitre-detection-strategy`` (DET…) and its analytics, in the bundle's order."""

    __tablename__ = "detection_strategies"
    __table_args__ = (
        Index("ix_detection_strategies_attack_id", "attack_id"),
        UniqueConstraint("domain", "stix_id", name="uq_detection_strategy_stix"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stix_id: Mapped[str] = mapped_column(String(80))
    domain: Mapped[str] = mapped_column(String(16))
    attack_id: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(300))
    analytic_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # AN IDs
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    deprecated: Mapped[bool] = mapped_column(Boolean, default=False)


class DetectionLink(Base):
    """A ``detects`` relationship: detection strategy → technique."""

    __tablename__ = "detection_links"
    __table_args__ = (
        Index("ix_detection_links_technique", "technique_attack_id"),
        UniqueConstraint("domain", "stix_id", name="uq_detection_link_stix"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stix_id: Mapped[str] = mapped_column(String(80))
    domain: Mapped[str] = mapped_column(String(16))
    strategy_pk: Mapped[int] = mapped_column(ForeignKey("detection_strategies.id", ondelete="CASCADE"))
    technique_pk: Mapped[int] = mapped_column(ForeignKey("techniques.id", ondelete="CASCADE"))
    strategy_attack_id: Mapped[str] = mapped_column(String(16))
    technique_attack_id: Mapped[str] = mapped_column(String(32))


class ComponentDetection(Base):
    """A data component's ``detects`` link to a technique: how ATT&CK before v18 said to detect
    it (collect this data source's component; the link's text says what to look for).  The
    component is written out here, as those releases gave it no ATT&CK ID to join on."""

    __tablename__ = "component_detections"
    __table_args__ = (
        Index("ix_component_detections_technique", "technique_attack_id"),
        UniqueConstraint("domain", "stix_id", name="uq_component_detection_stix"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stix_id: Mapped[str] = mapped_column(String(80))
    domain: Mapped[str] = mapped_column(String(16))
    technique_pk: Mapped[int] = mapped_column(ForeignKey("techniques.id", ondelete="CASCADE"))
    technique_attack_id: Mapped[str] = mapped_column(String(32))
    component_stix_id: Mapped[str] = mapped_column(String(80))
    component_attack_id: Mapped[str | None] = mapped_column(String(16))  # DC0064 from v18 on
    component_name: Mapped[str] = mapped_column(Text)
    data_source_id: Mapped[str | None] = mapped_column(String(16))  # DS0017
    data_source_name: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)


# --------------------------------------------------------------------------- sync


class IngestedFile(Base):
    """A file whose content is in the database, by sha256: the next ingest skips it unread.

    ``key`` names what it loaded (release key, ATT&CK domain or description source); when that
    thing is replaced by other content, its rows here go, so the old file would load again.
    """

    __tablename__ = "ingested_files"
    __table_args__ = (Index("ix_ingested_files_key", "kind", "key"),)

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # mapping | attack | descriptions
    key: Mapped[str] = mapped_column(String(200))
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    source_file: Mapped[str] = mapped_column(String(500))
    ingested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
