"""Database tables (SQLModel). Timestamps are timezone-aware UTC."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Stage(StrEnum):
    PRIMARY = "primary"  # grade 1
    JUNIOR = "junior"  # grade 7


class Status(StrEnum):
    """Application status. The value is stored, and STATUS_LABELS maps it to staff-facing text."""

    SUBMITTED = "submitted"
    OFFLINE = "offline"  # no consent to lookups: verified on paper (线下核验)
    VERIFIED = "verified"
    EXCEPTION = "exception"
    CLASSIFIED = "classified"
    PLACED = "placed"
    UNPLACED = "unplaced"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    DEFERRED = "deferred"  # 缓学


STATUS_LABELS: dict[str, str] = {
    Status.SUBMITTED: "已提交",
    Status.OFFLINE: "线下核验",
    Status.VERIFIED: "数据已调取",
    Status.EXCEPTION: "异常待审",
    Status.CLASSIFIED: "已分批",
    Status.PLACED: "已录取",
    Status.UNPLACED: "未安排",
    Status.REJECTED: "不予受理",
    Status.WITHDRAWN: "已撤回",
    Status.DEFERRED: "缓学",
}

# Staff-facing names of AllocationRun.state. The stored values stay in English.
RUN_STATE_LABELS: dict[str, str] = {
    "running": "进行中",
    "committed": "已保存待审定",
    "approved": "已审定",
    "reopened": "已重新开放",
    "superseded": "已被替代",
}

# Statuses in which an application still counts as the child's one live application.
LIVE_STATUSES = frozenset(set(Status) - {Status.WITHDRAWN, Status.REJECTED})
FINAL_STATUSES = frozenset(
    {
        Status.PLACED,
        Status.UNPLACED,
        Status.EXCEPTION,
        Status.OFFLINE,
        Status.REJECTED,
        Status.WITHDRAWN,
        Status.DEFERRED,
    }
)


class Division(SQLModel, table=True):
    """Administrative division: province, city, county (区县) or street/town."""

    code: str = Field(primary_key=True, max_length=12)
    name: str
    level: str  # province, city, district, county, street, town, township
    parent_code: str | None = Field(default=None, index=True)


class School(SQLModel, table=True):
    code: str = Field(primary_key=True, max_length=16)
    county_code: str = Field(index=True, foreign_key="division.code")
    name: str
    stage: str
    seats: int
    street_code: str | None = None
    lat: float
    lon: float
    # Space-separated codes of the primary schools that feed a junior high (对口).
    feeder_primaries: str = ""
    invented: bool = True


class ZoneItem(SQLModel, table=True):
    """A street, community or compound that belongs to a school's zone (片区)."""

    id: int | None = Field(default=None, primary_key=True)
    county_code: str = Field(index=True)
    street_code: str = Field(index=True)
    name: str
    kind: str  # community, compound, village
    urban: bool
    school_code: str = Field(foreign_key="school.code")
    lat: float
    lon: float
    invented: bool = True


class Season(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(unique=True)
    name: str
    created_at: datetime = Field(default_factory=utcnow)


class Window(SQLModel, table=True):
    """The application window of one county and stage in a season, with its cut-off."""

    __table_args__ = (UniqueConstraint("season_id", "county_code", "stage"),)

    id: int | None = Field(default=None, primary_key=True)
    season_id: int = Field(foreign_key="season.id", index=True)
    county_code: str = Field(foreign_key="division.code")
    stage: str
    opens_on: date
    closes_on: date
    age_cutoff: date
    state: str = "closed"  # open or closed
    opened_at: datetime | None = None
    closed_at: datetime | None = None


class Application(SQLModel, table=True):
    """One child's application in a season, with the fields of the two forms."""

    __table_args__ = (
        Index("ix_application_season_student", "season_id", "student_id_number"),
        Index("ix_application_county_status", "county_code", "status"),
        # One live application per child per season, even when two imports race.
        Index(
            "uq_application_live_student",
            "season_id",
            "student_id_number",
            unique=True,
            sqlite_where=text("status NOT IN ('withdrawn', 'rejected')"),
            postgresql_where=text("status NOT IN ('withdrawn', 'rejected')"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    season_id: int = Field(foreign_key="season.id")
    county_code: str = Field(foreign_key="division.code")
    stage: str = Stage.PRIMARY
    source: str = "import"  # import, feed, simulator
    external_ref: str | None = Field(default=None, index=True)

    student_name: str
    student_id_number: str
    gender: str
    birth_date: date
    address: str
    preferential_policy: str = "无"  # 无, 高层次人才子女, 其他优抚政策子女
    preferred_school_code: str | None = Field(default=None, foreign_key="school.code")
    # Grade 7: the primary school the child leaves.
    primary_school_code: str | None = None

    guardian_name: str
    guardian_id_number: str
    guardian_relation: str
    guardian_mobile: str
    property_certificate_no: str | None = None

    permit_issued_on: date | None = None
    permit_expires_on: date | None = None
    permit_authority: str | None = None
    permit_address: str | None = None

    emergency_name: str
    emergency_id_number: str
    emergency_relation: str
    emergency_mobile: str

    consent: bool = False
    submitted_at: datetime
    status: str = Field(default=Status.SUBMITTED, index=True)
    status_reason: str = ""
    flags: str = ""  # space-separated markers such as over_age

    batch: str | None = Field(default=None, index=True)
    batch_reason: str = ""
    zone_school_code: str | None = None
    zone_item_id: int | None = None
    household_date: date | None = None
    property_date: date | None = None
    insurance_months: int | None = None

    # The lookup run working on this application, so that two runs never query the
    # same application. A claim older than the lookup lease belongs to a dead run.
    lookup_token: str | None = None
    lookup_claimed_at: datetime | None = None

    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # Digest of the imported field values; an import compares it to find changed rows.
    intake_hash: str = ""


class Lookup(SQLModel, table=True):
    """One call to a government data-sharing interface, kept as evidence and audit."""

    __table_args__ = (
        Index("ix_lookup_application_interface", "application_id", "interface"),
    )

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="application.id")
    # household, population, residence_permit, real_estate or social_insurance
    interface: str
    subject_id_number: str
    purpose: str
    operator: str
    requested_at: datetime = Field(default_factory=utcnow)
    duration_ms: int = 0
    attempts: int = 1
    outcome: str  # found, not_found, failed
    http_status: int | None = None
    error: str = ""
    response: dict | None = Field(default=None, sa_column=Column(JSON))


class ReviewItem(SQLModel, table=True):
    """One application in a bureau review queue, claimed by one reviewer at a time.

    Queues: "exception" (a lookup mismatch to check on paper) and "batch_c" (a
    policy-guaranteed child whose school the bureau decides). An item is open,
    claimed by a reviewer under a lease, decided with its reviewer, time and
    reason, or closed when its application left the season first.
    """

    __table_args__ = (
        # One undecided item per application and queue, even when reviewers race.
        Index(
            "uq_reviewitem_open",
            "application_id",
            "queue",
            unique=True,
            sqlite_where=text("state IN ('open', 'claimed')"),
            postgresql_where=text("state IN ('open', 'claimed')"),
        ),
        Index("ix_reviewitem_queue_state", "queue", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="application.id")
    queue: str
    state: str = "open"  # open, claimed, decided, or closed when the application left
    claim_token: str | None = None
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    decision: str | None = None  # accept, reject or assign
    batch: str | None = None
    school_code: str | None = None
    reason: str = ""
    decided_by: str | None = None
    decided_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class ParentCase(SQLModel, table=True):
    """A parent's consultation, complaint or appeal (咨询、投诉、申诉), logged and resolved."""

    __table_args__ = (Index("ix_parentcase_county_state", "county_code", "state"),)

    id: int | None = Field(default=None, primary_key=True)
    season_id: int = Field(foreign_key="season.id")
    county_code: str = Field(foreign_key="division.code")
    application_id: int | None = Field(default=None, foreign_key="application.id")
    kind: str  # consultation, complaint or appeal
    summary: str
    contact_mobile: str = ""
    state: str = "open"  # open or resolved
    opened_by: str
    opened_at: datetime = Field(default_factory=utcnow)
    resolution: str = ""
    resolved_by: str | None = None
    resolved_at: datetime | None = None


class AllocationRun(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    season_id: int = Field(foreign_key="season.id")
    county_code: str
    stage: str
    seed: str = ""
    seed_source: str = ""
    input_hash: str = ""
    state: str = "committed"  # committed, approved, reopened, superseded
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = ""
    approved_at: datetime | None = None
    approved_by: str | None = None
    summary: dict | None = Field(default=None, sa_column=Column(JSON))
    reopened_at: datetime | None = None
    reopened_by: str | None = None
    reopen_reason: str = ""


class Placement(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("run_id", "application_id"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="allocationrun.id", index=True)
    application_id: int = Field(foreign_key="application.id", index=True)
    school_code: str | None = Field(default=None, foreign_key="school.code")
    phase: str  # zone, adjust, unplaced
    batch: str
    rank_in_batch: int
    priority_key: str
    explanation: str
    # Lottery pseudonym of the child (console.rules.lottery.child_token), published with the
    # draw, and what the explanation is built from: zone school, options, key, lottery number.
    child_token: str = ""
    detail: dict | None = Field(default=None, sa_column=Column(JSON))


class Notice(SQLModel, table=True):
    """One SMS to a guardian; `dedup_key` makes a notice go out once only."""

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="application.id", index=True)
    dedup_key: str = Field(unique=True)
    # Idempotency key sent to the gateway: random, so that databases sharing one gateway
    # account (several counties, a rehearsal beside production) never clash, and kept
    # on the row so that every retry of this notice sends the same key.
    gateway_key: str = Field(default_factory=lambda: uuid.uuid4().hex)
    kind: str  # result
    mobile: str
    text: str
    # pending, sending, sent, delivered, failed; cancelled when the application left
    # the season before the notice was sent
    state: str = "pending"
    attempts: int = 0
    claim_token: str | None = (
        None  # the sender that has claimed the notice while it is "sending"
    )
    claimed_at: datetime | None = None
    gateway_message_id: str | None = None
    last_error: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    delivered_at: datetime | None = None


class FeedCursor(SQLModel, table=True):
    """How far `admissions pull` has read one platform application feed."""

    feed_url: str = Field(primary_key=True)
    cursor: str = ""
    items_read: int = 0
    updated_at: datetime = Field(default_factory=utcnow)


class AuditEvent(SQLModel, table=True):
    """Append-only record of every change and every lookup."""

    # The history of one application (applicants show) is read by entity and id.
    __table_args__ = (Index("ix_auditevent_entity", "entity", "entity_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str
    action: str
    entity: str
    entity_id: str = ""
    detail: dict | None = Field(default=None, sa_column=Column(JSON))
