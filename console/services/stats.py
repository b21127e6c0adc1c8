"""Season statistics: the figures behind `admissions stats`, rehearsal and dashboard.

`season_stats` reads one season, optionally narrowed to one county and one stage,
with grouped queries. `SeasonStats.to_dict` is the JSON output and `render_tables`
renders the text tables. Both read the same `SeasonStats`, so the JSON and the tables
agree.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, inspect, or_, tuple_
from sqlmodel import Session, col, select
from tabulate import tabulate

from console.errors import AdmissionsError, NotFoundError
from console.models import (
    RUN_STATE_LABELS,
    STATUS_LABELS,
    AllocationRun,
    Application,
    Division,
    Lookup,
    Notice,
    ParentCase,
    Placement,
    ReviewItem,
    School,
    Season,
    Stage,
    Status,
    Window,
    utcnow,
)
from console.services.cases import KINDS as CASE_KINDS
from console.services.review import QUEUES as REVIEW_QUEUES
from console.services.review import needs_review

BATCHES = ("A", "B", "C", "D", "E")
UNCLASSIFIED = "unclassified"
BATCH_KEYS = (*BATCHES, UNCLASSIFIED)
BATCH_LABELS = {**{batch: f"{batch}类" for batch in BATCHES}, UNCLASSIFIED: "未分批"}

STAGE_LABELS: dict[str, str] = {Stage.PRIMARY: "小学一年级", Stage.JUNIOR: "初中七年级"}

INTERFACES = (
    "household",
    "population",
    "residence_permit",
    "real_estate",
    "social_insurance",
)
INTERFACE_LABELS = {
    "household": "户籍信息",
    "population": "人口基本信息",
    "residence_permit": "居住证核验",
    "real_estate": "不动产登记",
    "social_insurance": "社保缴费",
}

NOTICE_STATES = ("pending", "sent", "delivered", "failed")
NOTICE_STATE_LABELS = {
    "pending": "待发送",
    "sent": "已发送",
    "delivered": "已送达",
    "failed": "发送失败",
    "sending": "发送中",
    "cancelled": "已取消",
}

# Division levels of a county-level unit (区县): Baiyin has districts and counties.
COUNTY_LEVELS = ("district", "county")

# Runs whose placements are complete. A run is "running" while it is being stored.
SETTLED_RUN_STATES = ("committed", "approved", "reopened")

# Applications that left the season: their placements no longer hold a seat.
LEFT_STATUSES = (Status.WITHDRAWN, Status.REJECTED, Status.DEFERRED)

TABLE_FORMAT = "simple"
FIGURE_TEXT = re.compile(r"-|-?\d+(\.\d+)?%?")
# Staff read times in the local time of the province.
LOCAL_TIME = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class SchoolStats:
    """Seats and placements of one school in the current allocation run."""

    code: str
    name: str
    county_code: str
    stage: str
    seats: int
    first_choice: int  # live applications naming the school as preferred school
    in_zone: int  # live applications whose zone school it is
    placed: int

    @property
    def free_seats(self) -> int:
        return self.seats - self.placed

    @property
    def fill_rate(self) -> float | None:
        """Placed children per seat; None for a school without seats."""
        return self.placed / self.seats if self.seats else None


@dataclass(frozen=True)
class CountyStats:
    """One county-and-stage summary, for city and province staff."""

    county_code: str
    county_name: str
    stage: str
    applications: int  # live applications
    seats: int
    placed: int
    unplaced: int
    run_id: int | None
    run_state: str | None


@dataclass(frozen=True)
class LookupStats:
    """Calls to one data-sharing interface, by outcome."""

    interface: str
    found: int
    not_found: int
    failed: int
    mean_duration_ms: float | None

    @property
    def total(self) -> int:
        return self.found + self.not_found + self.failed

    @property
    def success_rate(self) -> float | None:
        """Share of calls that got a response (found or not found) from the service."""
        return (self.found + self.not_found) / self.total if self.total else None


@dataclass
class SeasonStats:
    """Figures of one season, optionally narrowed to one county and one stage."""

    year: int
    season_name: str
    county_code: str | None
    stage: str | None
    school_code: str | None
    generated_at: datetime
    # status value -> batch key (A..E or "unclassified") -> count, all keys present.
    status_by_batch: dict[str, dict[str, int]]
    schools: list[SchoolStats]
    counties: list[CountyStats]
    lookups: list[LookupStats]
    # One found lookup stands for one paper copy the family did not have to bring.
    paper_copies_avoided: int
    notices_by_state: dict[str, int]
    notice_hours: list[float] = field(default_factory=list)
    # review queue -> waiting, in_review and decided counts, every queue present.
    reviews: dict[str, dict[str, int]] = field(default_factory=dict)
    # case kind (consultation, complaint, appeal) -> open and resolved counts.
    cases: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def applications_total(self) -> int:
        return sum(sum(row.values()) for row in self.status_by_batch.values())

    def batch_totals(self) -> dict[str, int]:
        return {
            key: sum(row[key] for row in self.status_by_batch.values())
            for key in BATCH_KEYS
        }

    @property
    def median_hours_to_notice(self) -> float | None:
        """Median hours from submission to the first result notice sent."""
        return statistics.median(self.notice_hours) if self.notice_hours else None

    def to_dict(self) -> dict[str, Any]:
        """Return the figures as JSON-ready values; rates are fractions (4 places)."""
        return {
            "season": {"year": self.year, "name": self.season_name},
            "county": self.county_code,
            "stage": self.stage,
            "school": self.school_code,
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "applications": {
                "total": self.applications_total,
                "by_batch": self.batch_totals(),
                "by_status": {
                    status: {**row, "total": sum(row.values())}
                    for status, row in self.status_by_batch.items()
                },
            },
            "schools": [
                {
                    "code": school.code,
                    "name": school.name,
                    "county": school.county_code,
                    "stage": school.stage,
                    "seats": school.seats,
                    "first_choice": school.first_choice,
                    "in_zone": school.in_zone,
                    "placed": school.placed,
                    "free_seats": school.free_seats,
                    "fill_rate": _round(school.fill_rate),
                }
                for school in self.schools
            ],
            "counties": [
                {
                    "county": county.county_code,
                    "name": county.county_name,
                    "stage": county.stage,
                    "applications": county.applications,
                    "seats": county.seats,
                    "placed": county.placed,
                    "unplaced": county.unplaced,
                    "run_id": county.run_id,
                    "run_state": county.run_state,
                }
                for county in self.counties
            ],
            "lookups": {
                "total": sum(lookup.total for lookup in self.lookups),
                "paper_copies_avoided": self.paper_copies_avoided,
                "by_interface": [
                    {
                        "interface": lookup.interface,
                        "found": lookup.found,
                        "not_found": lookup.not_found,
                        "failed": lookup.failed,
                        "total": lookup.total,
                        "success_rate": _round(lookup.success_rate),
                        "mean_duration_ms": _round(lookup.mean_duration_ms, 1),
                    }
                    for lookup in self.lookups
                ],
            },
            "reviews": {queue: dict(counts) for queue, counts in self.reviews.items()},
            "cases": {kind: dict(counts) for kind, counts in self.cases.items()},
            "notices": {
                "total": sum(self.notices_by_state.values()),
                "by_state": dict(self.notices_by_state),
                "timed": len(self.notice_hours),
                "median_hours_to_notice": _round(self.median_hours_to_notice, 2),
            },
        }


def _round(value: float | None, places: int = 4) -> float | None:
    return None if value is None else round(value, places)


def season_stats(
    session: Session,
    *,
    year: int | None = None,
    county_code: str | None = None,
    stage: str | None = None,
    school_code: str | None = None,
) -> SeasonStats:
    """Collect the figures of the season `year` (default: the latest season).

    `county_code` and `stage` narrow every figure, and None means all counties or
    stages. `school_code` narrows to one school's applications: those in its zone,
    naming it as preferred school, or placed there in the current run.
    Raises NotFoundError when the database has no schema, no such season or no such
    school, and AdmissionsError when the school is outside the county or stage given.
    """
    season = _find_season(session, year)
    assert season.id is not None
    if school_code is not None:
        school = _find_school(session, school_code, county_code, stage)
        county_code, stage = school.county_code, school.stage
    scope = _ApplicationScope(season.id, county_code, stage)
    runs = _current_runs(session, scope)
    run_ids = [run.id for run in runs.values() if run.id is not None]
    if school_code is not None:
        scope = replace(scope, school_code=school_code, run_ids=tuple(run_ids))
    schools = _school_stats(session, scope, run_ids)
    return SeasonStats(
        year=season.year,
        season_name=season.name,
        county_code=county_code,
        stage=stage,
        school_code=school_code,
        generated_at=utcnow(),
        status_by_batch=_status_by_batch(session, scope),
        schools=schools,
        counties=_county_stats(session, scope, schools, runs),
        lookups=_lookup_stats(session, scope),
        paper_copies_avoided=_paper_copies_avoided(session, scope),
        notices_by_state=_notices_by_state(session, scope),
        notice_hours=_notice_hours(session, scope),
        reviews=_review_counts(session, scope),
        cases=_case_counts(session, scope),
    )


@dataclass(frozen=True)
class StatsScopes:
    """Seasons and counties that statistics can be narrowed to, for selectors."""

    years: list[int]  # newest first
    counties: list[tuple[str, str]]  # (code, name) of county-level divisions


def stats_scopes(session: Session) -> StatsScopes:
    """Return the season years and county-level divisions in the database.

    Raises NotFoundError when the database has no schema.
    """
    _require_schema(session)
    years = session.exec(select(Season.year).order_by(col(Season.year).desc())).all()
    counties = session.exec(
        select(Division.code, Division.name)
        .where(col(Division.level).in_(COUNTY_LEVELS))
        .order_by(col(Division.code))
    ).all()
    return StatsScopes(years=list(years), counties=[(c, n) for c, n in counties])


def _require_schema(session: Session) -> None:
    connection = session.connection()
    if not inspect(connection).has_table(Season.__tablename__):  # type: ignore[arg-type]
        raise NotFoundError(
            "数据库还没有初始化。请先运行 admissions init，"
            "或运行 admissions rehearse 演练一个招生季。",
            title="暂无统计数据",
        )


def _find_season(session: Session, year: int | None) -> Season:
    _require_schema(session)
    query = select(Season)
    if year is not None:
        query = query.where(Season.year == year)
    season = session.exec(query.order_by(col(Season.year).desc())).first()
    if season is None:
        year_text = f"{year}年度的" if year is not None else "任何"
        raise NotFoundError(
            f"数据库中没有{year_text}招生年度。请先运行 admissions season open "
            "--year 年度 --county 区县 打开报名窗口，"
            "或运行 admissions rehearse 演练一个招生季。",
            title="暂无统计数据",
        )
    return season


def _find_school(
    session: Session, school_code: str, county_code: str | None, stage: str | None
) -> School:
    school = session.get(School, school_code)
    if school is None:
        raise NotFoundError(
            f"学校代码 {school_code} 不存在。"
            "请运行 admissions stats --county 区县 查看该区县的学校代码。"
        )
    if county_code is not None and school.county_code != county_code:
        raise AdmissionsError(
            f"学校 {school_code}（{school.name}）不属于区县 {county_code}，"
            "请去掉 --county 或改用该校所在区县。"
        )
    if stage is not None and school.stage != stage:
        raise AdmissionsError(
            f"学校 {school_code}（{school.name}）的学段是 "
            f"{STAGE_LABELS.get(school.stage, school.stage)}，"
            f"与 --stage {stage} 不符，请去掉 --stage。"
        )
    return school


@dataclass(frozen=True)
class _ApplicationScope:
    season_id: int
    county_code: str | None
    stage: str | None
    school_code: str | None = None
    run_ids: tuple[int, ...] = ()  # current runs, used with school_code

    def where(self, query: Any) -> Any:
        """Narrow a query that selects from or joins Application."""
        query = query.where(Application.season_id == self.season_id)
        if self.county_code is not None:
            query = query.where(Application.county_code == self.county_code)
        if self.stage is not None:
            query = query.where(Application.stage == self.stage)
        if self.school_code is not None:
            placed_here = select(Placement.application_id).where(
                col(Placement.run_id).in_(self.run_ids),
                Placement.school_code == self.school_code,
            )
            query = query.where(
                or_(
                    col(Application.zone_school_code) == self.school_code,
                    col(Application.preferred_school_code) == self.school_code,
                    col(Application.id).in_(placed_here),
                )
            )
        return query


def _status_by_batch(
    session: Session, scope: _ApplicationScope
) -> dict[str, dict[str, int]]:
    table = {status.value: dict.fromkeys(BATCH_KEYS, 0) for status in Status}
    query = scope.where(
        select(Application.status, Application.batch, func.count()).group_by(
            col(Application.status), col(Application.batch)
        )
    )
    for status, batch, count in session.exec(query):
        row = table.setdefault(status, dict.fromkeys(BATCH_KEYS, 0))
        key = batch if batch in BATCHES else UNCLASSIFIED
        row[key] += count
    return table


def _current_runs(
    session: Session, scope: _ApplicationScope
) -> dict[tuple[str, str], AllocationRun]:
    """Return the newest stored run per (county, stage) that is not superseded."""
    query = select(AllocationRun).where(
        AllocationRun.season_id == scope.season_id,
        col(AllocationRun.state).in_(SETTLED_RUN_STATES),
    )
    if scope.county_code is not None:
        query = query.where(AllocationRun.county_code == scope.county_code)
    if scope.stage is not None:
        query = query.where(AllocationRun.stage == scope.stage)
    runs: dict[tuple[str, str], AllocationRun] = {}
    for run in session.exec(query.order_by(col(AllocationRun.id))):
        runs[(run.county_code, run.stage)] = run
    return runs


def _school_stats(
    session: Session, scope: _ApplicationScope, run_ids: list[int]
) -> list[SchoolStats]:
    live = col(Application.status).not_in([s.value for s in LEFT_STATUSES])
    first_choice = _count_by(
        session,
        scope.where(
            select(Application.preferred_school_code, func.count())
            .where(live)
            .group_by(Application.preferred_school_code)
        ),
    )
    in_zone = _count_by(
        session,
        scope.where(
            select(Application.zone_school_code, func.count())
            .where(live)
            .group_by(Application.zone_school_code)
        ),
    )
    placed: Counter[str | None] = Counter()
    if run_ids:
        placed = _count_by(
            session,
            select(Placement.school_code, func.count())
            .join(Application, col(Application.id) == Placement.application_id)
            .where(col(Placement.run_id).in_(run_ids), live)
            .group_by(Placement.school_code),
        )

    query = select(School)
    if scope.school_code is not None:
        query = query.where(School.code == scope.school_code)
    if scope.county_code is not None:
        query = query.where(School.county_code == scope.county_code)
    if scope.stage is not None:
        query = query.where(School.stage == scope.stage)
    if scope.county_code is None:
        # Across counties, only the counties and stages that run this season count:
        # a county without a window has no applications to set against its seats.
        windows = select(Window.county_code, Window.stage).where(
            Window.season_id == scope.season_id
        )
        query = query.where(tuple_(School.county_code, School.stage).in_(windows))
    query = query.order_by(
        col(School.county_code), col(School.stage).desc(), col(School.code)
    )
    return [
        SchoolStats(
            code=school.code,
            name=school.name,
            county_code=school.county_code,
            stage=school.stage,
            seats=school.seats,
            first_choice=first_choice[school.code],
            in_zone=in_zone[school.code],
            placed=placed[school.code],
        )
        for school in session.exec(query)
    ]


def _count_by(session: Session, query: Any) -> Counter[str | None]:
    return Counter({key: count for key, count in session.exec(query)})


def _county_stats(
    session: Session,
    scope: _ApplicationScope,
    schools: list[SchoolStats],
    runs: dict[tuple[str, str], AllocationRun],
) -> list[CountyStats]:
    live = col(Application.status).not_in([s.value for s in LEFT_STATUSES])
    applications = {
        (county, stage): count
        for county, stage, count in session.exec(
            scope.where(
                select(Application.county_code, Application.stage, func.count())
                .where(live)
                .group_by(Application.county_code, Application.stage)
            )
        )
    }
    seats: Counter[tuple[str, str]] = Counter()
    placed: Counter[tuple[str, str]] = Counter()
    for school in schools:
        seats[(school.county_code, school.stage)] += school.seats
        placed[(school.county_code, school.stage)] += school.placed
    unplaced: Counter[int] = Counter()
    run_ids = [run.id for run in runs.values() if run.id is not None]
    if run_ids:
        unplaced = Counter(
            {
                run_id: count
                for run_id, count in session.exec(
                    select(Placement.run_id, func.count())
                    .join(Application, col(Application.id) == Placement.application_id)
                    .where(col(Placement.run_id).in_(run_ids), live)
                    .where(col(Placement.school_code).is_(None))
                    .group_by(col(Placement.run_id))
                )
            }
        )
    names = dict(session.exec(select(Division.code, Division.name)).all())

    keys = sorted(
        set(applications) | set(seats) | set(runs),
        key=lambda k: (k[0], k[1] != Stage.PRIMARY),
    )
    rows = []
    for county, stage in keys:
        run = runs.get((county, stage))
        rows.append(
            CountyStats(
                county_code=county,
                county_name=names.get(county, county),
                stage=stage,
                applications=applications.get((county, stage), 0),
                seats=seats[(county, stage)],
                placed=placed[(county, stage)],
                unplaced=unplaced[run.id]
                if run is not None and run.id is not None
                else 0,
                run_id=run.id if run is not None else None,
                run_state=run.state if run is not None else None,
            )
        )
    return rows


def _lookup_stats(session: Session, scope: _ApplicationScope) -> list[LookupStats]:
    counts: dict[str, Counter[str]] = {}
    durations: dict[str, tuple[int, float]] = {}
    query = scope.where(
        select(
            Lookup.interface, Lookup.outcome, func.count(), func.sum(Lookup.duration_ms)
        )
        .join(Application, col(Application.id) == Lookup.application_id)
        .group_by(Lookup.interface, Lookup.outcome)
    )
    for interface, outcome, count, duration_sum in session.exec(query):
        counts.setdefault(interface, Counter())[outcome] += count
        calls, total_ms = durations.get(interface, (0, 0.0))
        durations[interface] = (calls + count, total_ms + float(duration_sum or 0))

    order = [name for name in INTERFACES if name in counts]
    order += sorted(set(counts) - set(INTERFACES))
    rows = []
    for interface in order:
        calls, total_ms = durations[interface]
        rows.append(
            LookupStats(
                interface=interface,
                found=counts[interface]["found"],
                not_found=counts[interface]["not_found"],
                # Outcomes other than found and not_found are calls without a response.
                failed=sum(
                    count
                    for outcome, count in counts[interface].items()
                    if outcome not in ("found", "not_found")
                ),
                mean_duration_ms=total_ms / calls if calls else None,
            )
        )
    return rows


def _paper_copies_avoided(session: Session, scope: _ApplicationScope) -> int:
    """Count (application, interface) pairs with a found lookup, one copy each."""
    pairs = scope.where(
        select(Lookup.application_id, Lookup.interface)
        .join(Application, col(Application.id) == Lookup.application_id)
        .where(Lookup.outcome == "found")
        .distinct()
    ).subquery()
    return session.exec(select(func.count()).select_from(pairs)).one()


def _review_counts(
    session: Session, scope: _ApplicationScope
) -> dict[str, dict[str, int]]:
    """Count each review queue's applications: waiting, in review and decided.

    Waiting counts the applications that need the queue and have no item being
    reviewed or, where a decision is final, decided. Items are created only when
    a reviewer lists or claims the queue, so waiting is counted from the
    applications, not from the items.
    """
    counts: dict[str, dict[str, int]] = {}
    for queue in REVIEW_QUEUES:
        # A school's confirmation queue contains the children of its zone only, not
        # the other children that the school scope adds.
        own_queue: Any = True
        if queue == "school" and scope.school_code is not None:
            own_queue = col(Application.zone_school_code) == scope.school_code
        by_state: Counter[str] = Counter()
        for state, count in session.exec(
            scope.where(
                select(ReviewItem.state, func.count())
                .join(Application, col(Application.id) == ReviewItem.application_id)
                .where(ReviewItem.queue == queue, own_queue)
                .group_by(ReviewItem.state)
            )
        ):
            by_state[state] = count
        settled = ["claimed"] if queue == "exception" else ["claimed", "decided"]
        handled = select(ReviewItem.application_id).where(
            ReviewItem.queue == queue, col(ReviewItem.state).in_(settled)
        )
        waiting = session.exec(
            scope.where(
                select(func.count())
                .select_from(Application)
                .where(
                    needs_review(queue),
                    col(Application.id).not_in(handled),
                    own_queue,
                )
            )
        ).one()
        counts[queue] = {
            "waiting": waiting,
            "in_review": by_state["claimed"],
            "decided": by_state["decided"],
        }
    return counts


def _case_counts(
    session: Session, scope: _ApplicationScope
) -> dict[str, dict[str, int]]:
    """Count consultations, complaints and appeals by state.

    Cases belong to a county, not to a stage; with a school in scope, only the
    cases about applications in scope count.
    """
    query = (
        select(ParentCase.kind, ParentCase.state, func.count())
        .where(ParentCase.season_id == scope.season_id)
        .group_by(ParentCase.kind, ParentCase.state)
    )
    if scope.county_code is not None:
        query = query.where(ParentCase.county_code == scope.county_code)
    if scope.school_code is not None:
        about = scope.where(select(Application.id))
        query = query.where(col(ParentCase.application_id).in_(about))
    counts = {kind: {"open": 0, "resolved": 0} for kind in CASE_KINDS}
    for kind, state, count in session.exec(query):
        counts.setdefault(kind, {"open": 0, "resolved": 0})[state] = count
    return counts


def _notices_by_state(session: Session, scope: _ApplicationScope) -> dict[str, int]:
    states = dict.fromkeys(NOTICE_STATES, 0)
    query = scope.where(
        select(Notice.state, func.count())
        .join(Application, col(Application.id) == Notice.application_id)
        .group_by(Notice.state)
    )
    for state, count in session.exec(query):
        states[state] = states.get(state, 0) + count
    return states


def _notice_hours(session: Session, scope: _ApplicationScope) -> list[float]:
    """Return hours from submission to the first sent result notice, per application."""
    first_sent = func.min(Notice.sent_at)
    query = scope.where(
        select(Application.submitted_at, first_sent)
        .join(Notice, col(Notice.application_id) == Application.id)
        .where(Notice.kind == "result", col(Notice.sent_at).is_not(None))
        .group_by(col(Application.id), col(Application.submitted_at))
    )
    hours = []
    for submitted_at, sent_at in session.exec(query):
        if submitted_at is None or sent_at is None:
            continue
        # SQLite drops the zone of stored timestamps, and the models store UTC.
        # On SQLite, func.min returns the stored text, so parse it back.
        if isinstance(sent_at, str):
            sent_at = datetime.fromisoformat(sent_at)
        delta = _as_utc(sent_at) - _as_utc(submitted_at)
        hours.append(delta.total_seconds() / 3600)
    return hours


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# ------------------------------------------------------------------------------------
# Text tables


def render_tables(stats: SeasonStats) -> str:
    """Render the figures as tabulate tables with Chinese headers, one per section."""
    sections = [
        _render_title(stats),
        _render_status_table(stats),
        _render_school_table(stats),
        _render_county_table(stats),
        _render_lookup_table(stats),
        _render_notice_table(stats),
        "审核队列\n" + _table(review_rows(stats), REVIEW_HEADERS),
        "咨询、投诉、申诉\n" + _table(case_rows(stats), CASE_HEADERS),
    ]
    return "\n\n".join(sections) + "\n"


def format_rate(value: float | None) -> str:
    """Format a fraction as a percentage with one decimal, or "-" when undefined."""
    return "-" if value is None else f"{value * 100:.1f}%"


def format_hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def scope_label(stats: SeasonStats, county_names: dict[str, str] | None = None) -> str:
    """Return a one-line title such as "2025年义务教育招生 · 白银区 · 小学一年级"."""
    parts = [stats.season_name]
    if stats.county_code is not None:
        names = county_names or {c.county_code: c.county_name for c in stats.counties}
        parts.append(names.get(stats.county_code, stats.county_code))
    else:
        parts.append("全部区县")
    parts.append(STAGE_LABELS.get(stats.stage or "", "全部学段"))
    if stats.school_code is not None:
        names = {school.code: school.name for school in stats.schools}
        parts.append(names.get(stats.school_code, stats.school_code))
    return " · ".join(parts)


def status_rows(stats: SeasonStats) -> list[list[str | int]]:
    """Rows of the status-by-batch table, ending with a total row."""
    rows: list[list[str | int]] = []
    for status, row in stats.status_by_batch.items():
        label = STATUS_LABELS.get(status, status)
        rows.append([label, *(row[key] for key in BATCH_KEYS), sum(row.values())])
    totals = stats.batch_totals()
    rows.append(
        ["合计", *(totals[key] for key in BATCH_KEYS), stats.applications_total]
    )
    return rows


STATUS_HEADERS = ["状态", *(BATCH_LABELS[key] for key in BATCH_KEYS), "合计"]
SCHOOL_HEADERS = [
    "学校代码",
    "学校",
    "学段",
    "学位",
    "第一志愿",
    "片区内",
    "已录取",
    "剩余学位",
    "学位使用率",
]
COUNTY_HEADERS = ["区县", "学段", "有效申请", "学位", "已录取", "未安排", "录取方案"]
LOOKUP_HEADERS = ["接口", "查得", "查无", "失败", "合计", "调用成功率", "平均耗时(ms)"]
NOTICE_HEADERS = ["短信状态", "条数"]
REVIEW_HEADERS = ["审核队列", "待审核", "审核中", "已决定"]
CASE_HEADERS = ["类型", "未办结", "已办结"]


def school_rows(stats: SeasonStats) -> list[list[str | int]]:
    return [
        [
            school.code,
            school.name,
            STAGE_LABELS.get(school.stage, school.stage),
            school.seats,
            school.first_choice,
            school.in_zone,
            school.placed,
            school.free_seats,
            format_rate(school.fill_rate),
        ]
        for school in stats.schools
    ]


def county_rows(stats: SeasonStats) -> list[list[str | int]]:
    rows: list[list[str | int]] = []
    for county in stats.counties:
        if county.run_id is None:
            run = "未分配"
        else:
            state = RUN_STATE_LABELS.get(county.run_state or "", county.run_state or "")
            run = f"#{county.run_id} {state}"
        rows.append(
            [
                county.county_name,
                STAGE_LABELS.get(county.stage, county.stage),
                county.applications,
                county.seats,
                county.placed,
                county.unplaced,
                run,
            ]
        )
    return rows


def lookup_rows(stats: SeasonStats) -> list[list[str | int]]:
    return [
        [
            INTERFACE_LABELS.get(lookup.interface, lookup.interface),
            lookup.found,
            lookup.not_found,
            lookup.failed,
            lookup.total,
            format_rate(lookup.success_rate),
            "-"
            if lookup.mean_duration_ms is None
            else f"{lookup.mean_duration_ms:.0f}",
        ]
        for lookup in stats.lookups
    ]


def review_rows(stats: SeasonStats) -> list[list[str | int]]:
    return [
        [
            REVIEW_QUEUES[queue],
            counts["waiting"],
            counts["in_review"],
            counts["decided"],
        ]
        for queue, counts in stats.reviews.items()
    ]


def case_rows(stats: SeasonStats) -> list[list[str | int]]:
    return [
        [CASE_KINDS.get(kind, kind), counts["open"], counts["resolved"]]
        for kind, counts in stats.cases.items()
    ]


def notice_rows(stats: SeasonStats) -> list[list[str | int]]:
    rows: list[list[str | int]] = [
        [NOTICE_STATE_LABELS.get(state, state), count]
        for state, count in stats.notices_by_state.items()
    ]
    rows.append(["合计", sum(stats.notices_by_state.values())])
    return rows


def is_figure(cell: object) -> bool:
    """Tell whether a cell is a figure to right-align: an int, "85.0%", "308" or "-"."""
    return isinstance(cell, int) or (
        isinstance(cell, str) and FIGURE_TEXT.fullmatch(cell) is not None
    )


def _table(rows: list[list[str | int]], headers: list[str]) -> str:
    columns = list(zip(*rows, strict=True)) if rows else []
    align = ["right" if all(map(is_figure, column)) else "left" for column in columns]
    return tabulate(
        rows, headers=headers, tablefmt=TABLE_FORMAT, colalign=align or None
    )


def _render_title(stats: SeasonStats) -> str:
    generated = stats.generated_at.astimezone(LOCAL_TIME).strftime("%Y-%m-%d %H:%M")
    return f"{scope_label(stats)}（统计时间 {generated}）"


def _render_status_table(stats: SeasonStats) -> str:
    return "申请状态与批次\n" + _table(status_rows(stats), STATUS_HEADERS)


def _render_school_table(stats: SeasonStats) -> str:
    if not stats.schools:
        return (
            "学校学位与录取\n（没有学校数据，请先运行 admissions init 载入基础数据。）"
        )
    return "学校学位与录取\n" + _table(school_rows(stats), SCHOOL_HEADERS)


def _render_county_table(stats: SeasonStats) -> str:
    if not stats.counties:
        return "区县汇总\n（暂无区县数据。）"
    return "区县汇总\n" + _table(county_rows(stats), COUNTY_HEADERS)


def _render_lookup_table(stats: SeasonStats) -> str:
    title = f"数据共享查询（免交纸质材料 {stats.paper_copies_avoided} 份）"
    if not stats.lookups:
        return f"{title}\n（暂无查询记录。）"
    return f"{title}\n" + _table(lookup_rows(stats), LOOKUP_HEADERS)


def _render_notice_table(stats: SeasonStats) -> str:
    median = format_hours(stats.median_hours_to_notice)
    title = (
        f"录取通知短信（提交至通知中位时长 {median} 小时，"
        f"计入 {len(stats.notice_hours)} 份申请）"
    )
    return f"{title}\n" + _table(notice_rows(stats), NOTICE_HEADERS)
