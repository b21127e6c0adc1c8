"""Allocation runs: build the problem from the database, allocate, store, approve, explain."""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from console.errors import AdmissionsError, NotFoundError
from console.models import (
    RUN_STATE_LABELS,
    STATUS_LABELS,
    AllocationRun,
    Application,
    Placement,
    School,
    Season,
    Stage,
    Status,
    ZoneItem,
    utcnow,
)
from console.policy import CountyPolicy, policy_for
from console.rules import allocation as rules
from console.rules.lottery import child_token, derive_seed, input_hash
from console.services import audit
from console.services.applicants import local_time
from console.services.reference import distance_km

logger = logging.getLogger(__name__)

# Applications that take part in a run. Placed and unplaced ones come from an earlier,
# not yet approved run of the same scope and are allocated again.
INPUT_STATUSES = (Status.CLASSIFIED, Status.PLACED, Status.UNPLACED)
# Batch used when a classified application has none, so that one hand-edited row does not
# stop a run. The classifier sets a batch on every application it classifies.
BATCH_FALLBACK_IN_AREA = "A"
BATCH_FALLBACK_OUT_OF_AREA = "E"
FLUSH_EVERY = 2000

KEY_LABELS = {
    "sibling": "同胞优先",
    "household_date": "户籍登记日期早者优先",
    "property_date": "房产登记日期早者优先",
    "insurance_months": "社保缴纳月数多者优先",
    "submitted_at": "提交时间早者优先",
    "lottery": "摇号号码小者优先",
}
STAGE_LABELS: dict[str, str] = {Stage.PRIMARY: "小学一年级", Stage.JUNIOR: "初中七年级"}
PHASE_LABELS = {
    rules.PHASE_ZONE: "片区录取",
    rules.PHASE_ADJUST: "调剂录取",
    rules.PHASE_UNPLACED: "未安排",
}

ProgressCallback = Callable[[int, int], None]


def state_label(state: str) -> str:
    """Return the Chinese name of a run state, or the stored value if it has none."""
    return RUN_STATE_LABELS.get(state, state)


def lock_scope(
    session: Session, *, season_id: int, county_code: str, stage: str
) -> None:
    """Serialize writers of one allocation scope until the session's transaction ends.

    On PostgreSQL this takes a transaction-level advisory lock keyed by a hash of the
    scope, so a second commit, approval or reopening of the same season, county and
    stage waits for the first to commit or roll back. Read run states only after this
    call, because at READ COMMITTED each later statement reads what the first writer
    committed. Nothing is taken on SQLite, because console/db.py opens every SQLite
    transaction with BEGIN IMMEDIATE, so writers already queue one after the other.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    scope = f"allocation:{season_id}:{county_code}:{stage}".encode()
    # Python's hash() differs between processes, so the key comes from SHA-256.
    key = int.from_bytes(hashlib.sha256(scope).digest()[:8], "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


@dataclass
class SchoolRow:
    code: str
    name: str
    seats: int
    admitted: dict[str, int]
    overflow: int
    adjusted_in: int
    adjusted_out: int
    filled: int

    @property
    def fill_rate(self) -> float:
        return self.filled / self.seats if self.seats else 0.0


@dataclass
class AllocationReport:
    """Outcome of one run, committed or dry, with per-school rows and per-child results."""

    season_year: int
    county_code: str
    stage: str
    committed: bool
    seed: str
    seed_source: str
    input_hash: str
    schools: list[SchoolRow]
    result: rules.AllocationResult
    run_id: int | None = None
    # Application id -> why the place lock lowered its batch.
    demoted: dict[str, str] = field(default_factory=dict)
    # Application id -> the id of the application of the same child that took part.
    duplicates: dict[int, int] = field(default_factory=dict)

    @property
    def children(self) -> int:
        return len(self.result.children)

    @property
    def placed(self) -> int:
        return sum(1 for child in self.result.children if child.school is not None)

    @property
    def unplaced(self) -> int:
        return self.children - self.placed

    def summary_line(self) -> str:
        """Return one Chinese line with the counts, as the rehearsal prints it."""
        zone = sum(1 for c in self.result.children if c.phase == rules.PHASE_ZONE)
        adjusted = sum(1 for c in self.result.children if c.phase == rules.PHASE_ADJUST)
        run = f"第 {self.run_id} 次分配：" if self.run_id is not None else "试运行："
        return (
            f"{run}儿童 {self.children} 人，片区录取 {zone} 人，调剂录取 {adjusted} 人，"
            f"未安排 {self.unplaced} 人"
        )

    def table(self) -> tuple[list[str], list[list[Any]]]:
        """Return headers and rows of the per-school table shown by the command."""
        headers = [
            "学校",
            "学位",
            *[f"{b}批" for b in rules.BATCHES],
            "片区溢出",
            "调剂转入",
            "调剂转出",
            "录取",
            "满额率",
        ]
        rows = [
            [
                row.name,
                row.seats,
                *[row.admitted[b] for b in rules.BATCHES],
                row.overflow,
                row.adjusted_in,
                row.adjusted_out,
                row.filled,
                f"{row.fill_rate:.0%}",
            ]
            for row in self.schools
        ]
        return headers, rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "season": self.season_year,
            "county_code": self.county_code,
            "stage": self.stage,
            "committed": self.committed,
            "seed": self.seed,
            "seed_source": self.seed_source,
            "input_hash": self.input_hash,
            "children": self.children,
            "placed": self.placed,
            "unplaced": self.unplaced,
            "duplicates": {str(dup): kept for dup, kept in self.duplicates.items()},
            "schools": [
                {
                    "code": r.code,
                    "name": r.name,
                    "seats": r.seats,
                    "admitted": r.admitted,
                    "overflow": r.overflow,
                    "adjusted_in": r.adjusted_in,
                    "adjusted_out": r.adjusted_out,
                    "filled": r.filled,
                }
                for r in self.schools
            ],
        }


@dataclass
class _Inputs:
    season: Season
    policy: CountyPolicy
    schools: dict[str, School]
    applications: dict[str, Application]
    problem: rules.AllocationProblem
    seed_source: str
    input_hash: str
    demoted: dict[str, str]
    duplicates: dict[int, Application]  # left out: application id -> the one kept


def run_allocation(
    session: Session,
    *,
    season_id: int,
    county_code: str,
    stage: str,
    actor: str,
    commit: bool,
    seed_source: str | None = None,
    policy: CountyPolicy | None = None,
    on_progress: ProgressCallback | None = None,
) -> AllocationReport:
    """Allocate the classified children of one county and stage, and store it if `commit`.

    A committed run adds one AllocationRun, one Placement per child and the new status of
    each application to the session, all in the caller's transaction, so a failure before
    the caller commits leaves nothing behind. Raise AdmissionsError when an approved run of
    the same scope exists and has not been reopened.

    A commit holds the scope's lock (lock_scope) until the caller's transaction ends,
    so two commits of one scope run one after the other. The second supersedes the first.
    """
    if commit:
        lock_scope(session, season_id=season_id, county_code=county_code, stage=stage)
    _refuse_if_approved(
        session, season_id=season_id, county_code=county_code, stage=stage
    )
    inputs = _build_inputs(
        session,
        season_id=season_id,
        county_code=county_code,
        stage=stage,
        seed_source=seed_source,
        policy=policy,
    )
    seed = inputs.problem.seed

    run: AllocationRun | None = None
    if commit:
        # The seed follows from the published value and the input list. It is stored and
        # audited before the draw, so the audit log shows it was fixed first.
        run = AllocationRun(
            season_id=season_id,
            county_code=county_code,
            stage=stage,
            seed=seed,
            seed_source=inputs.seed_source,
            input_hash=inputs.input_hash,
            state="running",
            created_by=actor,
        )
        session.add(run)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="allocation.seed",
            entity="allocation_run",
            entity_id=run.id,
            detail={
                "seed_source": inputs.seed_source,
                "input_hash": inputs.input_hash,
                "seed": seed,
                "children": len(inputs.applications),
            },
        )
    logger.info(
        "allocation start: season=%s county=%s stage=%s children=%d commit=%s",
        season_id,
        county_code,
        stage,
        len(inputs.applications),
        commit,
    )

    result = rules.allocate(inputs.problem)
    report = AllocationReport(
        season_year=inputs.season.year,
        county_code=county_code,
        stage=stage,
        committed=commit,
        seed=seed,
        seed_source=inputs.seed_source,
        input_hash=inputs.input_hash,
        schools=_school_rows(result, inputs.schools),
        result=result,
        demoted=inputs.demoted,
        duplicates={dup: kept.id or 0 for dup, kept in inputs.duplicates.items()},
    )
    if inputs.duplicates:
        logger.warning(
            "allocation left out %d duplicate applications: %s",
            len(inputs.duplicates),
            sorted(inputs.duplicates),
        )
    if run is not None:
        _flag_duplicates(session, inputs.duplicates, actor=actor)
        _store(
            session,
            run=run,
            inputs=inputs,
            result=result,
            actor=actor,
            on_progress=on_progress,
        )
        run.summary = report.to_dict()
        run.state = "committed"
        session.add(run)
        session.flush()
        report.run_id = run.id
        audit.record(
            session,
            actor=actor,
            action="allocation.commit",
            entity="allocation_run",
            entity_id=run.id,
            detail={"placed": report.placed, "unplaced": report.unplaced},
        )
    logger.info(
        "allocation done: run=%s placed=%d unplaced=%d",
        report.run_id,
        report.placed,
        report.unplaced,
    )
    return report


def _flag_duplicates(
    session: Session, duplicates: dict[int, Application], *, actor: str
) -> None:
    """Send each left-out duplicate to the exception queue with the id of the kept one."""
    for app_id, kept in sorted(duplicates.items()):
        app = session.get(Application, app_id)
        if app is None:
            continue
        app.status = Status.EXCEPTION
        app.status_reason = (
            f"同一儿童已有申请 {kept.id} 参加本次分配，本申请未参加。"
            "请核实后撤回重复的申请。"
        )
        app.updated_at = utcnow()
        session.add(app)
        audit.record(
            session,
            actor=actor,
            action="allocation.duplicate",
            entity="application",
            entity_id=app_id,
            detail={"kept_application_id": kept.id},
        )


def _refuse_if_approved(
    session: Session, *, season_id: int, county_code: str, stage: str
) -> None:
    approved = session.exec(
        select(AllocationRun).where(
            AllocationRun.season_id == season_id,
            AllocationRun.county_code == county_code,
            AllocationRun.stage == stage,
            AllocationRun.state == "approved",
        )
    ).first()
    if approved is not None:
        raise AdmissionsError(
            f"第 {approved.id} 次分配已由 {approved.approved_by} 审定锁定，不能重新分配。"
            f"如确需重新分配，请先运行 admissions allocate reopen {approved.id} --reason 原因。",
            title="分配已锁定",
        )


def _build_inputs(
    session: Session,
    *,
    season_id: int,
    county_code: str,
    stage: str,
    seed_source: str | None,
    policy: CountyPolicy | None,
) -> _Inputs:
    season = session.get(Season, season_id)
    if season is None:
        raise NotFoundError(
            f"招生年度编号 {season_id} 不存在。请先运行 admissions season open。"
        )
    policy = policy or policy_for(county_code)
    schools = {
        school.code: school
        for school in session.exec(
            select(School).where(
                School.county_code == county_code, School.stage == stage
            )
        )
    }
    if not schools:
        raise NotFoundError(
            f"区县 {county_code} 没有{STAGE_LABELS.get(stage, stage)}学校。"
            "请先运行 admissions init 载入学校数据。"
        )
    applications = list(
        session.exec(
            select(Application)
            .where(
                Application.season_id == season_id,
                Application.county_code == county_code,
                Application.stage == stage,
                col(Application.status).in_(INPUT_STATUSES),
            )
            .order_by(col(Application.id))
        )
    )
    applications, duplicates = _drop_duplicates(applications)
    feeder = _feeder_map(schools.values()) if stage == Stage.JUNIOR else {}
    zone_items = _zone_items(session, applications)
    nearby = _nearby(zone_items, schools, policy.adjust_radius_km)
    siblings = _sibling_schools(
        session, season=season, county_code=county_code, stage=stage
    )

    tokens = {app.id: child_token(app.student_id_number) for app in applications}
    list_hash = input_hash(tokens.values())
    # NOTE: the default value is known in advance, so anyone who can change the list of
    # children could try lists until one draws well. A bureau passes a value published
    # only just before the draw, such as the number of a notarised public drawing.
    source = seed_source or f"{season.year}-{county_code}-{stage}"
    seed = derive_seed(source, list_hash)

    children = []
    for app in applications:
        assert app.id is not None
        batch, zone = _batch_and_zone(app, stage=stage, feeder=feeder)
        children.append(
            rules.Child(
                ref=str(app.id),
                token=tokens[app.id],
                batch=batch,
                zone_school=zone,
                preferred_school=app.preferred_school_code,
                origin=str(app.zone_item_id)
                if app.zone_item_id in zone_items
                else None,
                household_date=app.household_date,
                property_date=app.property_date,
                insurance_months=app.insurance_months,
                submitted_at=app.submitted_at,
                sibling=zone is not None
                and zone in siblings.get(_normalize_id(app.guardian_id_number), ()),
            )
        )
    demoted: dict[str, str] = {}
    if policy.place_lock_years > 0:
        children, demoted = _apply_place_lock(
            session,
            children,
            {str(app.id): app for app in applications},
            season=season,
            county_code=county_code,
            stage=stage,
            policy=policy,
            seed=seed,
        )
    problem = rules.AllocationProblem(
        children=tuple(children),
        schools=tuple(
            rules.SchoolSeats(code, school.seats)
            for code, school in sorted(schools.items())
        ),
        nearby=nearby,
        tiebreak=policy.tiebreak,
        seed=seed,
        sibling_priority=policy.sibling_priority,
    )
    return _Inputs(
        season=season,
        policy=policy,
        schools=schools,
        applications={str(app.id): app for app in applications},
        problem=problem,
        seed_source=source,
        input_hash=list_hash,
        demoted=demoted,
        duplicates=duplicates,
    )


def _drop_duplicates(
    applications: list[Application],
) -> tuple[list[Application], dict[int, Application]]:
    """Keep one application per child (the earliest by id), so no child gets two seats.

    The database allows one live application per ID number and season, so a second one
    here differs only in spaces or the case of the check character, as after an edit by
    hand. Return the kept applications and the ones left out.
    """
    kept: dict[str, Application] = {}
    duplicates: dict[int, Application] = {}
    for app in applications:
        token = child_token(app.student_id_number)
        first = kept.get(token)
        if first is None:
            kept[token] = app
        else:
            assert app.id is not None
            duplicates[app.id] = first
    return list(kept.values()), duplicates


def _batch_and_zone(
    app: Application, *, stage: str, feeder: dict[str, str]
) -> tuple[str, str | None]:
    """Return the batch and zone school the algorithm uses for one application.

    Batch C children go to their zone school, which is the school the bureau set in
    the batch C review. Until the review decides, classify sets it to the preferred
    school. Grade-7 graduates belong to the junior high that their primary school
    feeds, and graduates of other primaries have no zone school, so every school
    admits them only after the children of its zone.
    """
    zone = app.zone_school_code
    fallback = BATCH_FALLBACK_OUT_OF_AREA
    if stage == Stage.JUNIOR:
        zone = feeder.get(app.primary_school_code or "")
        if zone is not None:
            fallback = BATCH_FALLBACK_IN_AREA
    batch = app.batch if app.batch in rules.BATCHES else fallback
    if batch == "C":
        return batch, app.zone_school_code or app.preferred_school_code
    return batch, zone


def _feeder_map(schools: Iterable[School]) -> dict[str, str]:
    """Return primary school code -> the junior high it feeds (对口)."""
    feeder: dict[str, str] = {}
    for school in sorted(schools, key=lambda s: s.code):
        for primary in school.feeder_primaries.split():
            feeder.setdefault(primary, school.code)
    return feeder


def _zone_items(
    session: Session, applications: list[Application]
) -> dict[int, ZoneItem]:
    ids = {app.zone_item_id for app in applications if app.zone_item_id is not None}
    if not ids:
        return {}
    items = session.exec(select(ZoneItem).where(col(ZoneItem.id).in_(ids)))
    return {item.id: item for item in items if item.id is not None}


def _nearby(
    zone_items: dict[int, ZoneItem], schools: dict[str, School], radius_km: float
) -> dict[str, tuple[tuple[str, float], ...]]:
    """Return, per home zone item, the schools within the radius, nearest first."""
    nearby = {}
    for item_id, item in zone_items.items():
        distances = sorted(
            (round(distance_km(item.lat, item.lon, school.lat, school.lon), 3), code)
            for code, school in schools.items()
        )
        nearby[str(item_id)] = tuple(
            (code, d) for d, code in distances if d <= radius_km
        )
    return nearby


def _sibling_schools(
    session: Session, *, season: Season, county_code: str, stage: str
) -> dict[str, set[str]]:
    """Return guardian ID number -> schools where a child of that guardian was placed in an
    approved run of an earlier season (an older sibling attends that school)."""
    rows = session.exec(
        select(Application.guardian_id_number, Placement.school_code)
        .join(Placement, col(Placement.application_id) == col(Application.id))
        .join(AllocationRun, col(AllocationRun.id) == col(Placement.run_id))
        .join(Season, col(Season.id) == col(AllocationRun.season_id))
        .where(
            AllocationRun.county_code == county_code,
            AllocationRun.stage == stage,
            AllocationRun.state == "approved",
            col(Season.year) < season.year,
            col(Placement.school_code).is_not(None),
        )
    )
    schools: dict[str, set[str]] = defaultdict(set)
    for guardian, school_code in rows:
        if school_code:
            schools[_normalize_id(guardian)].add(school_code)
    return schools


def _normalize_certificate(value: str | None) -> str:
    return "".join((value or "").split()).upper()


def _normalize_id(value: str) -> str:
    return value.strip().upper()


def _apply_place_lock(
    session: Session,
    children: list[rules.Child],
    applications: dict[str, Application],
    *,
    season: Season,
    county_code: str,
    stage: str,
    policy: CountyPolicy,
    seed: str,
) -> tuple[list[rules.Child], dict[str, str]]:
    """Move children of batch A or B whose property already placed another family's child
    within `policy.place_lock_years` seasons (学位锁定) down to D or E.

    A property counts for one family per season too. Among families that give the same
    certificate this season, the one whose child has the higher priority keeps it.
    A family is a guardian ID number. Siblings (same guardian) are exempt from the lock
    when `place_lock_sibling_exempt` is set.
    """
    # NOTE: after the move the child keeps the zone school of the property address, because
    # the application stores one zone school. The batch, and so the priority, is lower.
    first_year = season.year - policy.place_lock_years
    rows = session.exec(
        select(
            Application.property_certificate_no,
            Application.guardian_id_number,
            Season.year,
        )
        .join(Placement, col(Placement.application_id) == col(Application.id))
        .join(AllocationRun, col(AllocationRun.id) == col(Placement.run_id))
        .join(Season, col(Season.id) == col(AllocationRun.season_id))
        .where(
            AllocationRun.county_code == county_code,
            AllocationRun.stage == stage,
            AllocationRun.state == "approved",
            col(Season.year) < season.year,
            col(Season.year) >= first_year,
            col(Placement.batch).in_(("A", "B")),
            col(Placement.school_code).is_not(None),
        )
        .order_by(col(Season.year))
    )
    holders: dict[str, tuple[str, int]] = {}
    for certificate, guardian, year in rows:
        key = _normalize_certificate(certificate)
        if key:
            holders.setdefault(key, (_normalize_id(guardian), year))

    chains = {batch: rules.key_chain(batch, policy.tiebreak) for batch in rules.BATCHES}
    from console.rules.lottery import lottery_number

    def priority(child: rules.Child) -> str:
        lottery = lottery_number(seed, child.token)
        return rules.priority_key(
            child, chains[child.batch], lottery, policy.sibling_priority
        )

    lowered = {"A": "D", "B": "E"}
    demoted: dict[str, str] = {}
    result = {child.ref: child for child in children}
    for child in sorted((c for c in children if c.batch in lowered), key=priority):
        app = applications[child.ref]
        certificate = _normalize_certificate(app.property_certificate_no)
        if not certificate:
            continue
        guardian = _normalize_id(app.guardian_id_number)
        holder = holders.get(certificate)
        if holder is None:
            holders[certificate] = (guardian, season.year)
            continue
        same_family = holder[0] == guardian
        if same_family and (
            policy.place_lock_sibling_exempt or holder[1] == season.year
        ):
            continue
        new_batch = lowered[child.batch]
        demoted[child.ref] = (
            f"该房产已于 {holder[1]} 年度用于{'本家庭' if same_family else '其他家庭'}子女入学，"
            f"{policy.place_lock_years} 年内学位锁定，由 {child.batch} 批次调整为 {new_batch} 批次"
        )
        result[child.ref] = replace(child, batch=new_batch)
    return [result[child.ref] for child in children], demoted


def _school_rows(
    result: rules.AllocationResult, schools: dict[str, School]
) -> list[SchoolRow]:
    return [
        SchoolRow(
            code=row.code,
            name=schools[row.code].name,
            seats=row.seats,
            admitted=dict(row.admitted),
            overflow=row.overflow,
            adjusted_in=row.adjusted_in,
            adjusted_out=row.adjusted_out,
            filled=row.filled,
        )
        for row in result.schools
    ]


def _store(
    session: Session,
    *,
    run: AllocationRun,
    inputs: _Inputs,
    result: rules.AllocationResult,
    actor: str,
    on_progress: ProgressCallback | None,
) -> None:
    """Add the placements of a run and the new status of each application to the session."""
    assert run.id is not None
    # Earlier unapproved runs of the scope no longer describe the applications.
    earlier = session.exec(
        select(AllocationRun)
        .where(
            AllocationRun.season_id == run.season_id,
            AllocationRun.county_code == run.county_code,
            AllocationRun.stage == run.stage,
            col(AllocationRun.id) != run.id,
            col(AllocationRun.state).in_(("committed", "reopened")),
        )
        # Reload rows this session may hold from before the scope was locked.
        .execution_options(populate_existing=True)
    )
    for old in earlier:
        old.state = "superseded"
        session.add(old)

    names = {code: school.name for code, school in inputs.schools.items()}
    radius = inputs.policy.adjust_radius_km
    now = utcnow()
    total = len(result.children)
    for done, child in enumerate(result.children, start=1):
        app = inputs.applications[child.ref]
        lock_note = inputs.demoted.get(child.ref)
        detail = child_detail(child, lock_note=lock_note)
        session.add(
            Placement(
                run_id=run.id,
                application_id=int(child.ref),
                school_code=child.school,
                phase=child.phase,
                batch=child.batch,
                rank_in_batch=child.rank_in_batch,
                priority_key=child.priority_key,
                explanation=explain_text(detail, names=names, radius_km=radius),
                child_token=child.token,
                detail=detail,
            )
        )
        app.status = Status.UNPLACED if child.school is None else Status.PLACED
        app.status_reason = status_reason(child, names=names, radius_km=radius)
        app.updated_at = now
        session.add(app)
        if done % FLUSH_EVERY == 0 or done == total:
            session.flush()
            if on_progress is not None:
                on_progress(done, total)


def child_detail(
    child: rules.ChildResult, *, lock_note: str | None = None
) -> dict[str, Any]:
    """Return the JSON stored with a placement: everything its explanation is built from."""
    detail: dict[str, Any] = {
        "batch": child.batch,
        "zone_school": child.zone_school,
        "preferred_school": child.preferred_school,
        "priority_key": child.priority_key,
        "key_used": list(child.key_used),
        "lottery": child.lottery,
        "rank_in_batch": child.rank_in_batch,
        "options": list(child.options),
        "school": child.school,
        "phase": child.phase,
        "reason": child.reason,
        "distance_km": child.distance_km,
    }
    if lock_note:
        detail["place_lock"] = lock_note
    return detail


def status_reason(
    child: rules.ChildResult, *, names: dict[str, str], radius_km: float
) -> str:
    """Return the one-line Chinese reason stored on the application."""
    name = names.get(child.school or "", child.school or "")
    if child.reason == rules.REASON_ZONE:
        return f"{child.batch}批次片区录取：{name}"
    if child.reason == rules.REASON_BUREAU:
        return f"C批次教育局指定学校录取：{name}"
    if child.reason == rules.REASON_PREFERRED:
        return f"调剂录取：{name}（意向学校有空余学位）"
    if child.reason == rules.REASON_NEAREST:
        distance = (
            f"（距家 {child.distance_km:.1f} 公里）"
            if child.distance_km is not None
            else ""
        )
        return f"调剂录取：{name}{distance}"
    if child.reason == rules.REASON_NO_OPTIONS:
        return "无片区学校、意向学校和家庭住址位置，已报教育局统筹"
    return f"片区、意向学校及半径 {radius_km:g} 公里内学校均已满额，已报教育局统筹"


def explain_text(
    detail: dict[str, Any], *, names: dict[str, str], radius_km: float
) -> str:
    """Return the Chinese explanation of one placement from its stored detail."""
    parts = []
    if detail.get("place_lock"):
        parts.append(detail["place_lock"] + "。")
    parts.append(_explain_rank(detail, names=names))
    parts.append(_explain_result(detail, names=names, radius_km=radius_km))
    return "".join(parts)


def _explain_rank(detail: dict[str, Any], *, names: dict[str, str]) -> str:
    batch = detail["batch"]
    zone = detail.get("zone_school")
    keys = "、".join(KEY_LABELS.get(key, key) for key in detail.get("key_used", []))
    sibling_flag = detail.get("priority_key", "").split("|")[1:2]
    sibling = "，享受同胞优先" if sibling_flag == ["0"] else ""
    basis = f"排序依据：{keys}；摇号号码 {detail['lottery']}{sibling}"

    if not zone:
        return f"无片区学校，{batch} 批次，排在各校片区内儿童之后（{basis}）。"
    label = "教育局指定学校" if batch == "C" else "片区学校"
    return (
        f"{label}：{names.get(zone, zone)}；{batch} 批次内排第 "
        f"{detail['rank_in_batch']} 名（批次按 A、B、C、D、E 先后录取；{basis}）。"
    )


def _explain_result(
    detail: dict[str, Any], *, names: dict[str, str], radius_km: float
) -> str:
    school = detail.get("school") or ""
    phase = detail.get("phase")
    reason = detail.get("reason")
    if phase == rules.PHASE_ZONE:
        return f"结果：{PHASE_LABELS[rules.PHASE_ZONE]}，{names.get(school, school)}。"

    if phase == rules.PHASE_ADJUST:
        full = "片区学校学位已满，进入调剂。" if detail.get("zone_school") else ""
        if reason == rules.REASON_PREFERRED:
            how = "意向学校有空余学位"
        else:
            how = "按距离就近安排"
        distance = detail.get("distance_km")
        far = f"，距家 {distance:.1f} 公里" if distance is not None else ""
        return f"{full}结果：调剂录取，{names.get(school, school)}（{how}{far}）。"

    if reason == rules.REASON_NO_OPTIONS:
        return "结果：未安排。没有片区学校、意向学校和家庭住址位置，已报教育局统筹。"
    options = "、".join(names.get(code, code) for code in detail.get("options", []))
    return (
        f"结果：未安排。可选学校（{options or '无'}，半径 {radius_km:g} 公里内）"
        "轮到时均已满额，已报教育局统筹。"
    )


def get_run(session: Session, run_id: int) -> AllocationRun:
    run = session.get(AllocationRun, run_id)
    if run is None:
        raise NotFoundError(
            f"分配记录 {run_id} 不存在。请用 admissions allocate --commit 生成分配。"
        )
    return run


def _get_run_locked(session: Session, run_id: int) -> AllocationRun:
    """Return a run after taking its scope's lock, with its state read after the lock."""
    run = get_run(session, run_id)
    lock_scope(
        session,
        season_id=run.season_id,
        county_code=run.county_code,
        stage=run.stage,
    )
    session.refresh(run)
    return run


def latest_run(
    session: Session, *, season_id: int, county_code: str, stage: str
) -> AllocationRun:
    """Return the newest run of the scope that is not superseded."""
    run = session.exec(
        select(AllocationRun)
        .where(
            AllocationRun.season_id == season_id,
            AllocationRun.county_code == county_code,
            AllocationRun.stage == stage,
            AllocationRun.state != "superseded",
        )
        .order_by(col(AllocationRun.id).desc())
    ).first()
    if run is None:
        raise NotFoundError(
            f"区县 {county_code} 的{STAGE_LABELS.get(stage, stage)}还没有保存的分配。"
            "请先运行 admissions allocate --commit。"
        )
    return run


def approve_run(session: Session, *, run_id: int, actor: str) -> AllocationRun:
    """Lock a committed run and record who approved it. A locked scope rejects new runs."""
    run = _get_run_locked(session, run_id)
    if run.state == "approved":
        raise AdmissionsError(
            f"分配记录 {run_id} 已于 {local_time(run.approved_at)} "
            f"由 {run.approved_by} 审定。"
        )
    if run.state not in ("committed", "reopened"):
        raise AdmissionsError(
            f"分配记录 {run_id} 的状态是“{state_label(run.state)}”，"
            "只能审定最新保存的分配。"
            "请用 admissions allocate --commit 重新生成后再审定。"
        )

    newer = session.exec(
        select(AllocationRun.id).where(
            AllocationRun.season_id == run.season_id,
            AllocationRun.county_code == run.county_code,
            AllocationRun.stage == run.stage,
            col(AllocationRun.id) > run.id,
            AllocationRun.state != "superseded",
        )
    ).first()
    if newer is not None:
        raise AdmissionsError(
            f"分配记录 {run_id} 之后已有第 {newer} 次分配，请审定最新一次。"
        )

    run.state = "approved"
    run.approved_at = utcnow()
    run.approved_by = actor
    session.add(run)
    audit.record(
        session,
        actor=actor,
        action="allocation.approve",
        entity="allocation_run",
        entity_id=run.id,
    )
    return run


def reopen_run(
    session: Session, *, run_id: int, actor: str, reason: str
) -> AllocationRun:
    """Unlock an approved run so that its scope may be allocated again, and audit why."""
    if not reason.strip():
        raise AdmissionsError("重新开放已审定的分配必须说明原因，请用 --reason 填写。")
    run = _get_run_locked(session, run_id)
    if run.state != "approved":
        raise AdmissionsError(
            f"分配记录 {run_id} 的状态是“{state_label(run.state)}”，"
            "只有已审定的分配需要重新开放。"
        )
    run.state = "reopened"
    run.reopened_at = utcnow()
    run.reopened_by = actor
    run.reopen_reason = reason.strip()
    session.add(run)
    audit.record(
        session,
        actor=actor,
        action="allocation.reopen",
        entity="allocation_run",
        entity_id=run.id,
        detail={"reason": run.reopen_reason},
    )
    return run


def placement_of(
    session: Session, *, application_id: int, run_id: int | None = None
) -> tuple[Placement, AllocationRun]:
    """Return the placement of an application in a run, by default its newest valid run."""
    query = (
        select(Placement, AllocationRun)
        .join(AllocationRun, col(AllocationRun.id) == col(Placement.run_id))
        .where(Placement.application_id == application_id)
    )
    if run_id is not None:
        query = query.where(Placement.run_id == run_id)
    else:
        query = query.where(AllocationRun.state != "superseded")
    row = session.exec(query.order_by(col(Placement.run_id).desc())).first()
    if row is None:
        where = f"第 {run_id} 次分配中" if run_id is not None else "有效的分配中"
        application = session.get(Application, application_id)
        if application is None:
            state = "，也没有这个申请号"
        else:
            label = STATUS_LABELS.get(application.status, application.status)
            state = f"，该申请现为“{label}”（{application.status_reason}）"
        raise NotFoundError(
            f"申请 {application_id} 在{where}没有记录{state}。"
            f"请检查申请编号或分配记录编号，或用 admissions applicants show "
            f"{application_id} 查看处理记录。"
        )
    return row[0], row[1]


@dataclass(frozen=True)
class Move:
    application_id: int
    student_name: str
    before: str | None
    after: str | None
    phase_before: str | None
    phase_after: str | None


def diff_runs(session: Session, *, first_id: int, second_id: int) -> list[Move]:
    """Return the children whose school or phase differs between two runs."""
    first = _placements_by_application(session, get_run(session, first_id))
    second = _placements_by_application(session, get_run(session, second_id))
    names = dict(
        session.exec(
            select(Application.id, Application.student_name).where(
                col(Application.id).in_(set(first) | set(second))
            )
        ).all()
    )
    moves = []
    for app_id in sorted(set(first) | set(second)):
        before, after = first.get(app_id), second.get(app_id)
        key_before = (before.school_code, before.phase) if before else None
        key_after = (after.school_code, after.phase) if after else None
        if key_before == key_after:
            continue
        moves.append(
            Move(
                application_id=app_id,
                student_name=names.get(app_id, ""),
                before=before.school_code if before else None,
                after=after.school_code if after else None,
                phase_before=before.phase if before else None,
                phase_after=after.phase if after else None,
            )
        )
    return moves


def _placements_by_application(
    session: Session, run: AllocationRun
) -> dict[int, Placement]:
    rows = session.exec(select(Placement).where(Placement.run_id == run.id))
    return {placement.application_id: placement for placement in rows}


EXPORT_FORMAT = "admissions-allocation/1"


def export_document(
    session: Session, *, run_id: int, unmask: bool = False
) -> dict[str, Any]:
    """Return the published form of a run: run, schools and one record per child.

    Names and ID numbers are masked unless `unmask`. The child token replaces the ID
    number in the lottery. The document is enough to repeat the draw and to check the
    allocation's properties without the database.
    """
    from console.rules.masking import mask_id_number, mask_name

    run = get_run(session, run_id)
    season = session.get(Season, run.season_id)
    summary = run.summary or {}
    rows = session.exec(
        select(Placement, Application)
        .join(Application, col(Application.id) == col(Placement.application_id))
        .where(Placement.run_id == run.id)
        .order_by(col(Placement.application_id))
    ).all()
    if unmask:
        logger.info("export of run %s with unmasked personal data", run.id)
    children = []
    for placement, app in rows:
        detail = placement.detail or {}
        children.append(
            {
                "application_id": app.id,
                "token": placement.child_token,
                "student_name": app.student_name
                if unmask
                else mask_name(app.student_name),
                "student_id_number": (
                    app.student_id_number
                    if unmask
                    else mask_id_number(app.student_id_number)
                ),
                "batch": placement.batch,
                "priority_key": placement.priority_key,
                "key_used": detail.get("key_used", []),
                "lottery": detail.get("lottery", ""),
                "rank_in_batch": placement.rank_in_batch,
                "zone_school": detail.get("zone_school"),
                "preferred_school": detail.get("preferred_school"),
                "options": detail.get("options", []),
                "school": placement.school_code,
                "phase": placement.phase,
                "reason": detail.get("reason", ""),
                "distance_km": detail.get("distance_km"),
                "place_lock": detail.get("place_lock"),
                "explanation": placement.explanation,
            }
        )
    schools = []
    for row in summary.get("schools", []):
        seats = row["seats"]
        schools.append(
            {**row, "fill_rate": round(row["filled"] / seats, 4) if seats else 0.0}
        )
    return {
        "format": EXPORT_FORMAT,
        "run": {
            "id": run.id,
            "season": season.year if season else None,
            "county_code": run.county_code,
            "stage": run.stage,
            "state": run.state,
            "seed_source": run.seed_source,
            "input_hash": run.input_hash,
            "seed": run.seed,
            "created_at": run.created_at.isoformat(),
            "created_by": run.created_by,
            "approved_at": run.approved_at.isoformat() if run.approved_at else None,
            "approved_by": run.approved_by,
        },
        "schools": schools,
        "children": children,
    }


def verify_document(
    document: dict[str, Any], *, seed_source: str | None = None
) -> rules.Verification:
    """Repeat the draw and the placements of an exported run, without the database."""
    if document.get("format") != EXPORT_FORMAT:
        raise AdmissionsError(
            f"文件格式为 {document.get('format')!r}，不是 {EXPORT_FORMAT}。"
            "请使用 admissions export allocation --format json 导出的文件。"
        )
    run = document["run"]
    children = [
        rules.PublishedChild(
            ref=str(child["application_id"]),
            token=child["token"],
            batch=child["batch"],
            priority_key=child["priority_key"],
            lottery=child["lottery"],
            zone_school=child["zone_school"],
            preferred_school=child["preferred_school"],
            options=tuple(child["options"]),
            school=child["school"],
            phase=child["phase"],
        )
        for child in document["children"]
    ]
    seats = {school["code"]: school["seats"] for school in document["schools"]}
    return rules.verify_draw(
        seed_source=seed_source if seed_source is not None else run["seed_source"],
        recorded_input_hash=run["input_hash"],
        recorded_seed=run["seed"],
        children=children,
        seats=seats,
    )


def verify_run(
    session: Session, *, run_id: int, seed_source: str | None = None
) -> rules.Verification:
    """Repeat a stored draw: child tokens from the ID numbers, then as verify_document."""
    document = export_document(session, run_id=run_id, unmask=False)
    tokens = dict(
        session.exec(
            select(Application.id, Application.student_id_number)
            .join(Placement, col(Placement.application_id) == col(Application.id))
            .where(Placement.run_id == run_id)
        ).all()
    )
    outcome = verify_document(document, seed_source=seed_source)
    for child in document["children"]:
        expected = child_token(tokens[child["application_id"]])
        if expected != child["token"]:
            outcome.problems.append(
                f"申请 {child['application_id']} 的儿童代号与身份证号不符，身份证号可能在分配后被修改"
            )
    return outcome
