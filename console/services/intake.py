"""Intake: validate application rows and store the good ones, chunk by chunk.

`import_rows` is the one way applications enter the database, whatever their
source (a file, the platform feed or the simulator). A row is stored, updated,
left unchanged or rejected with its problems; a bad row never stops the others.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Table as SATable
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from console.db import session_scope
from console.errors import AdmissionsError
from console.intake import DEFAULT_CHUNK_SIZE
from console.intake.errorfile import write_error_file
from console.intake.headers import ERROR_COLUMN, FIELD_LABELS, SUBMISSION_ID
from console.intake.normalize import clean_row, clean_text
from console.intake.reader import ReadError, Table, open_table
from console.intake.validate import (
    LOCAL_TIME,
    REQUIRED_FIELDS,
    RowContext,
    RowError,
    SchoolRef,
    validate_clean_row,
)
from console.models import (
    STATUS_LABELS,
    Application,
    AuditEvent,
    Division,
    School,
    Stage,
    Status,
    Window,
)
from console.policy import load_policies
from console.rules.masking import mask_id_number, mask_mobile
from console.services import audit
from console.services.bulk import insert_many
from console.services.seasons import get_window, require_open

logger = logging.getLogger(__name__)

# Core tables: rows are written in bulk, without building ORM objects.
_APPLICATIONS: SATable = Application.__table__  # type: ignore[attr-defined]
_AUDIT_EVENTS: SATable = AuditEvent.__table__  # type: ignore[attr-defined]

# The `source` of applications pulled from the platform's feed.
FEED_SOURCE = "feed"
# Maximum characters of a value shown in a row error; longer values are cut short.
MAX_SHOWN_CHARS = 40
# Statuses in which an import may still change an application: nothing has been
# looked up, classified or placed on the strength of its values yet.
UPDATABLE_STATUSES = frozenset({Status.SUBMITTED, Status.OFFLINE})
_NOT_LIVE = (Status.WITHDRAWN.value, Status.REJECTED.value)
_MASKERS = {
    "student_id_number": mask_id_number,
    "guardian_id_number": mask_id_number,
    "emergency_id_number": mask_id_number,
    "guardian_mobile": mask_mobile,
    "emergency_mobile": mask_mobile,
}
# Values compared to decide whether a re-imported row changed its application.
_HASHED = (
    "county_code", "stage", "student_name", "student_id_number", "address",
    "preferential_policy", "preferred_school_code", "primary_school_code",
    "guardian_name", "guardian_id_number", "guardian_relation", "guardian_mobile",
    "property_certificate_no", "permit_issued_on", "permit_expires_on",
    "permit_authority", "permit_address", "emergency_name", "emergency_id_number",
    "emergency_relation", "emergency_mobile", "consent",
)  # fmt: skip


@dataclass
class ImportReport:
    """Counts of one import and the problems of its rejected rows."""

    import_id: str
    stored: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    blank: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.stored + self.updated + self.unchanged + self.rejected

    @property
    def rejected_rows(self) -> list[int]:
        """Return the numbers of the rejected rows, in order."""
        return sorted({error.row for error in self.errors})

    def errors_by_row(self) -> dict[int, list[RowError]]:
        grouped: dict[int, list[RowError]] = {}
        for error in self.errors:
            grouped.setdefault(error.row, []).append(error)
        return grouped

    def merge(self, other: ImportReport) -> None:
        """Add the counts and errors of `other` (one chunk) to this report."""
        self.stored += other.stored
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected += other.rejected
        self.blank += other.blank
        self.errors.extend(other.errors)

    def as_dict(self) -> dict[str, Any]:
        """Return the counts and errors with ID numbers and mobiles masked."""
        return {
            "import_id": self.import_id,
            "stored": self.stored,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "blank": self.blank,
            "errors": [
                {
                    "row": error.row,
                    "field": error.field,
                    "label": error.label,
                    "value": mask_value(error.field, error.value),
                    "message": error.message,
                    "fix": error.fix,
                }
                for error in self.errors
            ],
        }


def mask_value(field_key: str, value: str) -> str:
    """Return a row error's value for display: ID numbers and mobiles masked, and
    values over MAX_SHOWN_CHARS characters cut short with an ellipsis."""
    masker = _MASKERS.get(field_key)
    if masker and value:
        value = masker(value)
    if len(value) > MAX_SHOWN_CHARS:
        value = value[: MAX_SHOWN_CHARS - 1] + "…"
    return value


@dataclass
class _Existing:
    """The import's record of a child's live application in the season."""

    id: int
    status: str
    county_code: str
    stage: str
    intake_hash: str
    submitted_at: datetime | None


@dataclass
class _Pending:
    """The writes of one chunk, made in one transaction."""

    inserts: list[dict[str, Any]] = field(default_factory=list)
    insert_rows: list[int] = field(default_factory=list)
    resubmits: dict[str, int] = field(default_factory=dict)  # student ID -> old app
    updates: list[tuple[int, int, dict[str, Any]]] = field(default_factory=list)
    # What sorting the chunk added to the import's running sets, undone on a retry.
    new_students: list[str] = field(default_factory=list)
    new_refs: list[str] = field(default_factory=list)


def import_rows(
    bind: Session | Engine,
    rows: Iterable[Mapping[str, str]],
    *,
    window: Window,
    source: str,
    actor: str,
    first_row: int = 1,
    row_numbers: Iterable[int] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    override_by: str | None = None,
    override_reason: str | None = None,
    origin: str | None = None,
    today: date | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Validate rows of canonical field keys and store the good ones in `window`.

    With an Engine each chunk of `chunk_size` rows is committed in its own
    transaction, so a crash keeps the finished chunks and loses the current one
    whole. With a Session every chunk is written into the caller's transaction,
    which the caller commits or rolls back.
    Row numbers in errors count from `first_row` (2 for a file with a header),
    or are taken one per row from `row_numbers`.
    A child has one live application per season. A second row of the same child
    is rejected with the number of the earlier row, and so is a later submission
    of a child already stored. A re-imported row with changed values updates its
    application and audits the change, and an unchanged row is left alone. A child
    whose earlier application was withdrawn or rejected gets a new one.
    With `dry_run` nothing is written: the report counts what would be stored
    and updated, and lists the same problems.
    A closed window takes rows only when `override_by` names the operator and
    `override_reason` gives the reason. The override is audited before the first chunk
    with the reason, `origin` (the file name) and the import id, and again at the
    end with the counts.
    Raises WindowClosedError when the window is closed and nobody overrides it,
    and AdmissionsError when an override has no reason.
    """
    report = ImportReport(import_id=uuid.uuid4().hex[:12])
    overriding = window.state != "open" and bool(override_by)
    reason = (override_reason or "").strip()
    if overriding and not reason:
        raise AdmissionsError(
            "报名窗口已关闭，补录必须说明原因。请加 --reason，"
            '例如 --reason "教育局批准补录"',
            title="缺少补录原因",
        )
    override_detail = {"reason": reason, "file": origin, "import": report.import_id,
                       "source": source}  # fmt: skip
    with _session_for(bind) as session:
        if not overriding:
            require_open(window)
        elif not dry_run:  # a dry run records no override
            audit.record(session, actor=override_by or actor, action="window.override",
                         entity="window", entity_id=window.id,
                         detail=override_detail)  # fmt: skip
        context = _load_context(session, window, today or date.today())
        live, history, refs = _load_existing(session, window.season_id)
    logger.info(
        "import %s started: window %s, source %s", report.import_id, window.id, source
    )

    # Student ID number -> row number and submission id of its first row here.
    seen_rows: dict[str, tuple[int, str]] = {}
    numbered: Iterator[tuple[int, Mapping[str, str]]] = (
        zip(row_numbers, rows, strict=True) if row_numbers is not None
        else enumerate(rows, start=first_row)
    )  # fmt: skip
    while True:
        chunk = list(islice(numbered, chunk_size))
        if not chunk:
            break
        while True:
            part = ImportReport(import_id=report.import_id)
            pending = _Pending()
            for row_number, row in chunk:
                _triage(
                    row_number, row, context, part, pending, live, history, refs,
                    seen_rows, window, source,
                )  # fmt: skip
            if dry_run:
                part.stored += len(pending.inserts)
                part.updated += len(pending.updates)
                report.merge(part)
                break
            try:
                _write_chunk(bind, pending, window=window, source=source,
                             actor=actor, report=part, live=live)  # fmt: skip
            except IntegrityError:
                # Another import stored one of these children after this one loaded
                # the season: reload what is stored and sort the chunk again. A
                # concurrent import can commit a child of this chunk before each
                # attempt, so the chunk is retried as long as the reload finds the
                # stored applications changed. A conflict that a reload does not
                # explain is not a race and is raised.
                if isinstance(bind, Session):
                    raise
                for student_id in pending.new_students:
                    del seen_rows[student_id]
                for reference in pending.new_refs:
                    refs.pop(reference, None)
                refs_before = dict(refs)
                known = _live_ids(live)
                with _session_for(bind) as session:
                    live, history, refs = _load_existing(session, window.season_id)
                refs.update(refs_before)
                if _live_ids(live) == known:
                    raise
                logger.warning(
                    "import %s: chunk from row %d conflicted with a concurrent "
                    "import; retrying it", report.import_id, chunk[0][0],
                )  # fmt: skip
                continue
            report.merge(part)
            break

    if overriding and not dry_run:
        with _session_for(bind) as session:
            audit.record(session, actor=override_by or actor,
                         action="window.override.result", entity="window",
                         entity_id=window.id, detail={
                             **override_detail, "stored": report.stored,
                             "updated": report.updated, "unchanged": report.unchanged,
                             "rejected": report.rejected, "blank": report.blank,
                         })  # fmt: skip
    logger.info(
        "import %s finished: %d stored, %d updated, %d unchanged, %d rejected",
        report.import_id, report.stored, report.updated, report.unchanged,
        report.rejected,
    )  # fmt: skip
    return report


def _live_ids(live: Mapping[str, _Existing]) -> dict[str, int]:
    return {student: existing.id for student, existing in live.items()}


def _triage(
    row_number: int,
    row: Mapping[str, str],
    context: RowContext,
    report: ImportReport,
    pending: _Pending,
    live: dict[str, _Existing],
    history: dict[str, int],
    refs: dict[str, str],
    seen_rows: dict[str, tuple[int, str]],
    window: Window,
    source: str,
) -> None:
    """Decide what one row does: insert, update, nothing, or reject with errors."""
    cleaned = clean_row(row)
    if not any(cleaned.values()):
        report.blank += 1
        return
    reference = cleaned.get(SUBMISSION_ID, "")
    # A submission already stored goes through the same checks, so that a corrected
    # row updates its application and an unchanged one counts as unchanged.
    values, errors = validate_clean_row(cleaned, row_number, context)
    if errors:
        _reject(report, errors)
        return

    student_id = values["student_id_number"]
    owner = refs.get(reference) if reference else None
    if owner is not None and owner != student_id:
        _reject(report, [RowError(
            row_number, SUBMISSION_ID, reference,
            f"申报编号 {reference} 已用于另一名学生的申请",
            "核对申报编号；同一申报编号只能对应一名学生",
        )])  # fmt: skip
        return
    has_time = bool(cleaned.get("submitted_at"))
    digest = _digest(values, has_time=has_time)
    earlier = seen_rows.get(student_id)
    if earlier is not None:
        error = _duplicate_error(row_number, student_id, *earlier, source=source)
        _reject(report, [error])
        return
    seen_rows[student_id] = (row_number, reference)
    pending.new_students.append(student_id)
    if reference and owner is None:
        refs[reference] = student_id
        pending.new_refs.append(reference)

    existing = live.get(student_id)
    if existing is None:
        values["intake_hash"] = digest
        if not has_time:
            values["submitted_at"] = datetime.now(UTC)
        pending.inserts.append(values)
        pending.insert_rows.append(row_number)
        if student_id in history:
            pending.resubmits[student_id] = history[student_id]
        return
    if (existing.county_code, existing.stage) != (window.county_code, window.stage):
        error = _other_window_error(row_number, student_id, existing, context)
        _reject(report, [error])
        return
    if existing.intake_hash == digest:
        report.unchanged += 1
        return
    # Another submission of the same child is a second application, not a correction.
    if has_time and not _same_moment(existing.submitted_at, values["submitted_at"]):
        _reject(report, [_second_submission_error(row_number, student_id, existing)])
        return
    if existing.status not in UPDATABLE_STATUSES:
        label = STATUS_LABELS.get(existing.status, existing.status)
        _reject(report, [RowError(
            row_number, "student_id_number", student_id,
            f"该学生的申请已是“{label}”状态，导入不能再修改",
            "如需更正，请联系区县教育局在控制台中处理",
        )])  # fmt: skip
        return
    values["intake_hash"] = digest
    if not has_time:
        values.pop("submitted_at")  # keep the time the application first arrived
    existing.intake_hash = digest
    pending.updates.append((existing.id, row_number, values))


def _reject(report: ImportReport, errors: list[RowError]) -> None:
    report.rejected += 1
    report.errors.extend(errors)


def _duplicate_error(
    row_number: int, student_id: str, earlier_row: int, earlier_ref: str, *,
    source: str,
) -> RowError:  # fmt: skip
    """Return the error of a second row of one child in the same import.

    Feed items are numbered by their position in the pull, which means nothing to
    staff, so a feed error names the earlier item by its submission id.
    """
    rule = "同一学生本年度只能有一份有效申请"
    if source == FEED_SOURCE:
        earlier = (
            f"申报编号{earlier_ref}" if earlier_ref else f"本次拉取的第{earlier_row}条"
        )
        return RowError(
            row_number, "student_id_number", student_id,
            f"与{earlier}是同一名学生，{rule}",
            f"本条未保存，已保存{earlier}；如应以本条为准，请先撤回已保存的申请，"
            "再用 admissions pull --restart 重新拉取",
        )  # fmt: skip
    earlier = f"第{earlier_row}行"
    if earlier_ref:
        earlier += f"（申报编号{earlier_ref}）"
    return RowError(
        row_number, "student_id_number", student_id,
        f"与{earlier}是同一名学生，{rule}",
        f"删除本行；如需改报学校或更正信息，请修改{earlier}后重新导入",
    )  # fmt: skip


def _second_submission_error(
    row_number: int, student_id: str, existing: _Existing
) -> RowError:
    submitted = _as_utc(existing.submitted_at).astimezone(LOCAL_TIME)
    return RowError(
        row_number, "student_id_number", student_id,
        f"该学生已有一份{submitted:%Y-%m-%d %H:%M:%S}提交的有效申请（申请号{existing.id}），"
        "同一学生本年度只能有一份有效申请",
        "删除本行；如确需改报，请先撤回原申请，或把本行申报时间改为原申请的时间后作为更正导入",
    )  # fmt: skip


def _as_utc(moment: datetime | None) -> datetime:
    """Return a stored timestamp as aware UTC; databases may hand it back naive."""
    if moment is None:
        return datetime.min.replace(tzinfo=UTC)
    return (
        moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    )


def _same_moment(stored: datetime | None, new: datetime) -> bool:
    return _as_utc(stored).replace(microsecond=0) == _as_utc(new).replace(microsecond=0)


def _other_window_error(
    row_number: int, student_id: str, existing: _Existing, context: RowContext
) -> RowError:
    stage = "小学" if existing.stage == Stage.PRIMARY else "初中"
    county = context.county_names.get(existing.county_code, existing.county_code)
    return RowError(
        row_number, "student_id_number", student_id,
        f"该学生本年度已在{county}的{stage}报名中有一份有效申请",
        "同一学生只能有一份有效申请；如需改报，请先撤回原申请再导入",
    )  # fmt: skip


def _digest(values: Mapping[str, Any], *, has_time: bool) -> str:
    """Return a digest of the imported values; the submission time counts when given."""
    parts = ["" if value is None else str(value) for value in map(values.get, _HASHED)]
    if has_time:
        submitted = values["submitted_at"].astimezone(UTC)
        # The same text as strftime("%Y-%m-%d %H:%M:%S") for four-digit years.
        parts.append(submitted.isoformat(sep=" ", timespec="seconds")[:19])
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def _write_chunk(
    bind: Session | Engine,
    pending: _Pending,
    *,
    window: Window,
    source: str,
    actor: str,
    report: ImportReport,
    live: dict[str, _Existing],
) -> None:
    """Insert and update one chunk with its audit events in one transaction."""
    if not pending.inserts and not pending.updates:
        return
    now = datetime.now(UTC)
    with _session_for(bind) as session:
        audit_rows: list[dict[str, Any]] = []
        new_ids: list[int] = []
        if pending.inserts:
            last_id = _last_application_id(session)
            insert_many(session, _APPLICATIONS, pending.inserts, constants={
                "season_id": window.season_id, "source": source,
                "created_at": now, "updated_at": now,
            })  # fmt: skip
            new_ids = _ids_of_inserted(
                session, window.season_id, pending.inserts, after=last_id
            )
            for app_id, values, row_number in zip(
                new_ids, pending.inserts, pending.insert_rows, strict=True
            ):
                detail: dict[str, Any] = {"import": report.import_id, "row": row_number,
                                          "source": source, "status": values["status"]}  # fmt: skip
                action = "application.create"
                previous = pending.resubmits.get(values["student_id_number"])
                if previous is not None:
                    action = "application.resubmit"
                    detail["previous_application"] = previous
                audit_rows.append(_audit(action, app_id, detail))
        for app_id, row_number, values in pending.updates:
            changes = _apply_update(session, app_id, values, now)
            audit_rows.append(_audit("application.update", app_id, {
                "import": report.import_id, "row": row_number, "source": source,
                "changes": changes,
            }))  # fmt: skip
        insert_many(session, _AUDIT_EVENTS, audit_rows, constants={
            "at": now, "actor": actor, "entity": "application",
        })  # fmt: skip

    # Only a committed (or flushed) chunk becomes known to the rows after it.
    for app_id, values in zip(new_ids, pending.inserts, strict=True):
        live[values["student_id_number"]] = _Existing(
            app_id, values["status"], window.county_code, window.stage,
            values["intake_hash"], values["submitted_at"],
        )  # fmt: skip
    report.stored += len(new_ids)
    report.updated += len(pending.updates)


def _last_application_id(session: Session) -> int:
    table = _APPLICATIONS
    return session.execute(select(func.max(table.c.id))).scalar_one() or 0


def _ids_of_inserted(
    session: Session, season_id: int, inserted: list[dict[str, Any]], *, after: int
) -> list[int]:
    """Return the ids of just-inserted applications, in insertion order.

    A plain executemany is several times faster than INSERT ... RETURNING through
    SQLAlchemy. The new rows are the season's live rows above `after`, the
    highest id before the insert. Rows of concurrent transactions there belong
    to other children, because the partial unique index makes (season, child,
    live) a key, and are left out.
    """
    table = _APPLICATIONS
    if session.connection().dialect.name == "sqlite":
        # SQLite gives each new row the highest id plus one, and this transaction
        # holds the write lock, so the rows took the ids after `after` in order.
        # The count confirms it; otherwise the ids are looked up by child below.
        count, highest = session.execute(
            select(func.count(), func.max(table.c.id)).where(table.c.id > after)
        ).one()
        if count == len(inserted) and highest == after + count:
            return list(range(after + 1, highest + 1))
    # Only the id bounds the query, so that it reads the new rows by primary key.
    found = session.execute(
        select(table.c.student_id_number, table.c.id, table.c.season_id,
               table.c.status).where(table.c.id > after)
    ).all()  # fmt: skip
    ids = {
        student: app_id
        for student, app_id, season, status in found
        if season == season_id and status not in _NOT_LIVE
    }
    return [ids[values["student_id_number"]] for values in inserted]


def _apply_update(
    session: Session, app_id: int, values: dict[str, Any], now: datetime
) -> dict[str, list[Any]]:
    """Update one application and return its changed fields as [old, new], masked."""
    table = _APPLICATIONS
    current = session.execute(select(table).where(table.c.id == app_id)).one()._mapping
    changes: dict[str, list[Any]] = {}
    for key, new in values.items():
        if key not in table.c or key == "intake_hash":
            continue
        old = current[key]
        if isinstance(old, datetime) and isinstance(new, datetime):
            same = old.replace(tzinfo=None) == new.astimezone(UTC).replace(tzinfo=None)
        else:
            same = old == new
        if not same:
            masker = _MASKERS.get(key)
            changes[key] = (
                [masker(old), masker(new)] if masker else [str(old), str(new)]
            )
    session.execute(
        update(table).where(table.c.id == app_id).values(**values, updated_at=now)
    )
    return changes


def _audit(action: str, app_id: int, detail: dict[str, Any]) -> dict[str, Any]:
    return {"action": action, "entity_id": str(app_id), "detail": detail}


def _load_context(session: Session, window: Window, today: date) -> RowContext:
    county = session.get(Division, window.county_code)
    schools = session.scalars(
        select(School).where(School.county_code == window.county_code)  # type: ignore[arg-type]
    ).all()
    primary = session.scalars(select(School).where(School.stage == Stage.PRIMARY)).all()  # type: ignore[arg-type]
    divisions = session.scalars(select(Division)).all()
    policy = load_policies().get(window.county_code)
    return RowContext(
        county_code=window.county_code,
        county_name=county.name if county else window.county_code,
        stage=window.stage,
        age_cutoff=window.age_cutoff,
        entry_age=policy.primary_entry_age if policy else 6,
        today=today,
        schools=[
            SchoolRef(s.code, s.name, s.stage)
            for s in schools
            if s.stage == window.stage
        ],
        primary_schools={s.code: s.name for s in primary},
        county_names={d.code: d.name for d in divisions},
    )


def _load_existing(
    session: Session, season_id: int
) -> tuple[dict[str, _Existing], dict[str, int], dict[str, str]]:
    """Return the season's live applications by student ID, the latest earlier
    application of children with none live, and the student ID of each platform
    submission id seen."""
    table = _APPLICATIONS
    query = select(
        table.c.id, table.c.student_id_number, table.c.status, table.c.county_code,
        table.c.stage, table.c.intake_hash, table.c.external_ref,
        table.c.submitted_at,
    ).where(table.c.season_id == season_id).order_by(table.c.id)  # fmt: skip
    live: dict[str, _Existing] = {}
    history: dict[str, int] = {}
    refs: dict[str, str] = {}
    for row in session.execute(query):
        app_id, student_id, status, county, stage, digest, ref, submitted = row
        if ref:
            refs[ref] = student_id
        if status in _NOT_LIVE:
            history[student_id] = app_id
        else:
            live[student_id] = _Existing(
                app_id, status, county, stage, digest or "", submitted
            )
    return live, history, refs


@contextmanager
def _session_for(bind: Session | Engine) -> Iterator[Session]:
    """Yield the caller's session, or a new one that commits when the block ends.

    The caller's session gets no savepoint per chunk: pysqlite as configured in
    console.db releases an outermost SAVEPOINT as a commit, which would break the
    caller's transaction apart. An error inside a chunk reaches the caller, whose
    rollback then removes the whole import.
    """
    if isinstance(bind, Session):
        yield bind
        return
    with session_scope(bind) as session:
        yield session


@dataclass
class FileImport:
    """The outcome of importing one file."""

    report: ImportReport
    table: Table
    window: Window
    error_file: Path | None = None
    error_rows_written: int = 0


def import_file(
    engine: Engine,
    path: Path,
    *,
    actor: str,
    county_code: str | None = None,
    year: int | None = None,
    stage: str = Stage.PRIMARY,
    encoding: str | None = None,
    sheet: str | None = None,
    errors_path: Path | None = None,
    override_by: str | None = None,
    override_reason: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    dry_run: bool = False,
) -> FileImport:
    """Import a CSV or XLSX file into the window of its county, chunk by chunk.

    The county comes from `county_code` or, when every row names the same one,
    from the file. Rejected rows go to `errors_path` when it is given; an earlier
    error file there is replaced, and one that is not an error file is kept. Raises
    AdmissionsError when the file cannot be read or the window is missing.
    """
    if errors_path is not None:
        _check_error_path(path, errors_path, engine)
    try:
        table = open_table(path, encoding=encoding, sheet=sheet)
    except ReadError as exc:
        raise AdmissionsError(exc.reason, title="无法读取文件") from exc
    missing = [
        FIELD_LABELS[key] for key in REQUIRED_FIELDS if key not in table.mapping.keys
    ]
    if missing:
        raise AdmissionsError(
            f"{path.name} 缺少必填列：{'、'.join(missing)}。"
            "请在表头中补上这些列（申请表栏目名或英文字段名）后重新导入",
            title="表头不完整",
        )
    with session_scope(engine) as session:
        county = county_code or _county_of_file(session, table)
        window = get_window(session, year=year, county_code=county, stage=stage)
    report = import_rows(
        engine, _rows_of(table), window=window, source="import", actor=actor,
        first_row=table.first_row, chunk_size=chunk_size, override_by=override_by,
        override_reason=override_reason, origin=path.name, dry_run=dry_run,
    )  # fmt: skip
    outcome = FileImport(report=report, table=table, window=window)
    # An earlier error file is rewritten even without errors, so that it never
    # lists rows that this run stored.
    if errors_path is not None and (report.errors or errors_path.exists()):
        problems = {
            row: "；".join(error.describe() for error in errors)
            for row, errors in report.errors_by_row().items()
        }
        outcome.error_rows_written = write_error_file(table, errors_path, problems)
        outcome.error_file = errors_path
    return outcome


def _check_error_path(path: Path, errors_path: Path, engine: Engine) -> None:
    """Raise AdmissionsError when the error file would overwrite the input file, the
    SQLite database file, or an existing file that is not an earlier error file.
    """
    suggestion = path.with_name(f"{path.stem}-错误行{path.suffix}")
    if _same_file(path, errors_path):
        raise AdmissionsError(
            f"--errors 指定的 {errors_path} 就是要导入的文件 {path}，"
            f"写入错误行会覆盖原文件。请改用另一个文件，例如 --errors {suggestion}",
            title="错误文件与导入文件相同",
        )
    database = engine.url.database if engine.url.get_backend_name() == "sqlite" else ""
    if database and database != ":memory:" and _same_file(Path(database), errors_path):
        raise AdmissionsError(
            f"--errors 指定的 {errors_path} 是数据库文件，写入错误行会毁坏数据库。"
            f"请改用另一个文件，例如 --errors {suggestion}",
            title="错误文件与数据库相同",
        )
    if errors_path.exists() and not _is_error_file(errors_path):
        raise AdmissionsError(
            f"--errors 指定的 {errors_path} 已存在，且不是导入生成的错误行文件"
            f"（没有“{ERROR_COLUMN}”列），未覆盖。请改用另一个文件，"
            f"例如 --errors {suggestion}",
            title="错误文件已存在",
        )


def _is_error_file(path: Path) -> bool:
    """Tell whether `path` is a file that an import wrote its rejected rows to."""
    if not path.is_file():
        return False
    try:
        return ERROR_COLUMN in open_table(path).mapping.headers
    except (ReadError, OSError, ValueError):
        return False


def _same_file(first: Path, second: Path) -> bool:
    """Tell whether two paths name one file, also through `..`, symbolic links,
    hard links and case-insensitive file systems."""
    if first.resolve() == second.resolve():
        return True
    return first.exists() and second.exists() and os.path.samefile(first, second)


def _rows_of(table: Table) -> Iterator[dict[str, str]]:
    try:
        yield from table.rows()
    except ReadError as exc:
        raise AdmissionsError(exc.reason, title="无法读取文件") from exc


def _county_of_file(session: Session, table: Table) -> str:
    """Return the one county every row names, or raise asking for --county."""
    names = {d.code: d.name for d in session.scalars(select(Division))}
    by_name = {name: code for code, name in names.items()}
    found: set[str] = set()
    if "county" in table.mapping.keys:
        column = table.mapping.keys.index("county")
        # Only the county column is read, and each distinct cell is cleaned once.
        cells = {cells[column] for cells in table.records() if column < len(cells)}
        for cell in cells:
            text = clean_text(cell).replace(" ", "")
            if text:
                found.add(by_name.get(text, text))
    counties = sorted(code for code in found if code in names)
    if len(counties) == 1:
        return counties[0]
    listed = "、".join(f"{code}（{names.get(code, '未知')}）" for code in sorted(found))
    raise AdmissionsError(
        f"无法从文件确定区县（文件中的区县：{listed or '无'}）。"
        "请用 --county 指定，例如 --county 白银区",
        title="未指定区县",
    )
