"""Finding applications for staff: lists with filters, search, and one child's record."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from console.errors import AdmissionsError, NotFoundError
from console.intake.normalize import clean_text
from console.intake.validate import LOCAL_TIME, mask_numbers_in
from console.models import (
    LIVE_STATUSES,
    STATUS_LABELS,
    Application,
    AuditEvent,
    Division,
    Notice,
    ReviewItem,
    School,
    Season,
    Status,
    utcnow,
)
from console.rules.masking import mask_id_number, mask_mobile
from console.services import audit

MAX_LIMIT = 10_000
_ID_FIELDS = ("student_id_number", "guardian_id_number", "emergency_id_number")
_MOBILE_FIELDS = ("guardian_mobile", "emergency_mobile")

# Lengths, and the digits that console.rules.masking leaves visible at each end.
ID_NUMBER_LENGTH, ID_SHOWN_PREFIX = 18, 6
MOBILE_LENGTH, MOBILE_SHOWN_PREFIX = 11, 3
SHOWN_SUFFIX = 4


@dataclass(frozen=True)
class ApplicationFilter:
    """Filters of a list; None means any value."""

    season_year: int | None = None
    county_code: str | None = None
    school: str | None = None  # a school code or name
    status: str | None = None  # a status value or its Chinese label
    batch: str | None = None


def list_applications(
    session: Session,
    *,
    filters: ApplicationFilter = ApplicationFilter(),
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Application], int]:
    """Return one page of applications in submission order and the total that match."""
    query = select(Application)
    for condition in _conditions(session, filters):
        query = query.where(condition)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page = session.exec(
        query.order_by(col(Application.submitted_at), col(Application.id))
        .offset(offset)
        .limit(min(limit, MAX_LIMIT))
    ).all()
    return list(page), int(total)


def search_applications(
    session: Session, text: str, *, season_year: int | None = None, limit: int = 50
) -> list[Application]:
    """Find applications by name, ID number, mobile, application id or submission id.

    A query of digits matches a whole ID number or mobile, or only the digits that the
    mask shows (620402********123X, 138****5678): the last four, which a parent reads
    out over the phone, or the start of the division code. Matching hidden digits
    would let a search recover them one digit at a time without --unmask's audit.
    """
    term = clean_text(text).replace(" ", "").upper()
    if not term:
        raise AdmissionsError("搜索内容为空，请输入姓名、身份证号、手机号或申请号")
    options: list[Any] = [
        col(Application.student_name).contains(term, autoescape=True),
        col(Application.guardian_name).contains(term, autoescape=True),
        col(Application.external_ref) == term,
    ]
    if re.fullmatch(r"[\dX]{4,18}", term):
        for names, length, shown_prefix in (
            (_ID_FIELDS, ID_NUMBER_LENGTH, ID_SHOWN_PREFIX),
            (_MOBILE_FIELDS, MOBILE_LENGTH, MOBILE_SHOWN_PREFIX),
        ):
            for name in names:
                column = getattr(Application, name)
                if len(term) == length:
                    options.append(column == term)
                if len(term) <= shown_prefix:
                    options.append(column.startswith(term, autoescape=True))
                if len(term) <= SHOWN_SUFFIX:
                    options.append(column.endswith(term, autoescape=True))
    if term.isdigit() and len(term) <= 9:
        options.append(col(Application.id) == int(term))
    query = select(Application).where(or_(*options))
    season = _season_id(session, season_year)
    if season is not None:
        query = query.where(Application.season_id == season)
    query = query.order_by(col(Application.submitted_at)).limit(min(limit, MAX_LIMIT))
    return list(session.exec(query).all())


def get_application(session: Session, key: str) -> Application:
    """Return an application by its id or by the child's ID number (latest first)."""
    text = clean_text(key).replace(" ", "").upper()
    application: Application | None = None
    if text.isdigit() and len(text) < 18:
        application = session.get(Application, int(text))
    elif len(text) == 18:
        application = session.exec(
            select(Application)
            .where(Application.student_id_number == text)
            .order_by(col(Application.id).desc())
        ).first()
    if application is None:
        raise NotFoundError(
            f"没有申请号或学生身份证号为 {mask_numbers_in(key)} 的申请，"
            "请用 admissions applicants search 查找"
        )
    return application


def application_history(session: Session, application: Application) -> dict[str, Any]:
    """Return the audit events of an application and the child's other applications."""
    events = session.exec(
        select(AuditEvent)
        .where(AuditEvent.entity == "application")
        .where(AuditEvent.entity_id == str(application.id))
        .order_by(col(AuditEvent.at), col(AuditEvent.id))
    ).all()
    others = session.exec(
        select(Application)
        .where(Application.student_id_number == application.student_id_number)
        .where(Application.id != application.id)
        .order_by(col(Application.id))
    ).all()
    return {"events": list(events), "others": list(others)}


def record_unmask(session: Session, *, actor: str, application_ids: list[int]) -> None:
    """Audit that `actor` saw full ID numbers and mobiles of these applications."""
    audit.record(session, actor=actor, action="applicant.unmask", entity="application",
                 entity_id=",".join(str(i) for i in application_ids[:50]),
                 detail={"count": len(application_ids)})  # fmt: skip


def summary_of(application: Application, *, unmask: bool = False) -> dict[str, Any]:
    """Return the fields staff see in a list, masked unless `unmask`."""
    return {
        "id": application.id,
        "student_name": application.student_name,
        "student_id_number": _shown(
            application.student_id_number, unmask, mask_id_number
        ),
        "gender": application.gender,
        "county_code": application.county_code,
        "preferred_school_code": application.preferred_school_code,
        "status": application.status,
        "status_label": STATUS_LABELS.get(application.status, application.status),
        "status_reason": application.status_reason,
        "batch": application.batch,
        "guardian_mobile": _shown(application.guardian_mobile, unmask, mask_mobile),
        "submitted_at": local_time(application.submitted_at),
        "flags": application.flags,
    }


def detail_of(application: Application, *, unmask: bool = False) -> dict[str, Any]:
    """Return every field of an application, numbers masked unless `unmask`."""
    data = application.model_dump()
    for name in _ID_FIELDS:
        data[name] = _shown(data[name], unmask, mask_id_number)
    for name in _MOBILE_FIELDS:
        data[name] = _shown(data[name], unmask, mask_mobile)
    data["status_label"] = STATUS_LABELS.get(application.status, application.status)
    data["submitted_at"] = local_time(application.submitted_at)
    data.pop("intake_hash", None)
    return data


def local_time(moment: datetime | None) -> str:
    """Return a stored UTC time as Beijing time, YYYY-MM-DD HH:MM:SS."""
    if moment is None:
        return ""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return aware.astimezone(LOCAL_TIME).strftime("%Y-%m-%d %H:%M:%S")


def school_names(session: Session) -> dict[str, str]:
    return {school.code: school.name for school in session.exec(select(School))}


def county_names(session: Session) -> dict[str, str]:
    """Return the names of divisions by code, such as 白银区 for 620402."""
    return {division.code: division.name for division in session.exec(select(Division))}


def _shown(value: str | None, unmask: bool, masker: Any) -> str:
    return (value or "") if unmask else masker(value)


def _season_id(session: Session, year: int | None) -> int | None:
    if year is None:
        return None
    season = session.exec(select(Season).where(Season.year == year)).first()
    if season is None:
        raise NotFoundError(f"没有 {year} 年度的招生数据，请检查 --season")
    return season.id


def _conditions(session: Session, filters: ApplicationFilter) -> list[Any]:
    conditions: list[Any] = []
    season = _season_id(session, filters.season_year)
    if season is not None:
        conditions.append(Application.season_id == season)
    if filters.county_code:
        conditions.append(Application.county_code == filters.county_code)
    if filters.school:
        conditions.append(
            Application.preferred_school_code == _school_code(session, filters.school)
        )
    if filters.status:
        conditions.append(Application.status == _status_value(filters.status))
    if filters.batch:
        batch = filters.batch.strip().upper()
        if batch not in ("A", "B", "C", "D", "E"):
            raise AdmissionsError(f"批次 {filters.batch} 无效，可选：A、B、C、D、E")
        conditions.append(Application.batch == batch)
    return conditions


def _school_code(session: Session, text: str) -> str:
    key = clean_text(text).replace(" ", "")
    for school in session.exec(select(School)):
        if key in (school.code, school.name):
            return school.code
    raise NotFoundError(f"学校 {text} 不存在，请填写学校代码（如 620402P01）或完整校名")


def _status_value(text: str) -> str:
    key = clean_text(text).lower()
    for value, label in STATUS_LABELS.items():
        if key in (str(value), label):
            return str(value)
    choices = "、".join(f"{value}（{label}）" for value, label in STATUS_LABELS.items())
    raise AdmissionsError(f"状态 {text} 无效，可选：{choices}")


# Notices not yet handed to the gateway. An application that leaves the season
# cancels them, so that no guardian gets a result that is no longer true. This
# includes "sending" notices, because the next run takes over the claim of a dead
# sender. A live sender stores "sent" over the cancellation if the gateway accepted it.
UNSENT_NOTICE_STATES = ("pending", "failed", "sending")
CANCELLED = "cancelled"


@dataclass(frozen=True)
class _Ending:
    """A way to leave the season: the status, the audit action and the wording."""

    status: Status
    action: str
    verb: str  # staff-facing, as in {verb}必须说明原因 and 不能再{verb}
    example: str  # an example reason


WITHDRAWAL = _Ending(Status.WITHDRAWN, "application.withdraw", "撤回", "家长申请撤回")
DEFERRAL = _Ending(Status.DEFERRED, "application.defer", "办理缓学", "因病缓学一年")
REJECTION = _Ending(
    Status.REJECTED, "application.reject", "作不予受理处理", "房产证明与登记信息不符"
)


def withdraw_application(
    session: Session, key: str, *, actor: str, reason: str
) -> Application:
    """Withdraw an application at the family's request; the child may apply again.

    Raises AdmissionsError without a reason or when the application has already
    left the season, and NotFoundError when `key` names no application.
    """
    return _end_application(session, key, WITHDRAWAL, actor=actor, reason=reason)


def defer_application(
    session: Session, key: str, *, actor: str, reason: str
) -> Application:
    """Record a deferred entry (缓学): the child leaves this season's allocation.

    The application stays the child's one live application of the season, so a
    deferred child is not placed by a later import. Raises as withdraw_application.
    """
    return _end_application(session, key, DEFERRAL, actor=actor, reason=reason)


def reject_application(
    session: Session, key: str, *, actor: str, reason: str
) -> Application:
    """Reject an application (不予受理) on the bureau's decision, with the reason.

    The child may apply again with corrected documents. Raises as
    withdraw_application.
    """
    return _end_application(session, key, REJECTION, actor=actor, reason=reason)


def clean_reason(reason: str) -> str:
    """Return a staff-typed reason with its whitespace collapsed.

    Invisible format and control characters (a zero-width space pasted from a web
    page) are dropped, so that a reason of only those counts as missing. Unlike
    imported values, a reason keeps its full-width punctuation: NFKC would turn
    "，" into ",".
    """
    visible = "".join(
        char
        for char in reason
        if char.isspace() or unicodedata.category(char) not in ("Cc", "Cf")
    )
    return " ".join(visible.split())


def cancel_unsent_notices(session: Session, application_id: int) -> int:
    """Cancel the unsent notices of an application and return how many were cancelled."""
    return session.execute(
        update(Notice)
        .where(col(Notice.application_id) == application_id)
        .where(col(Notice.state).in_(UNSENT_NOTICE_STATES))
        .values(state=CANCELLED, claim_token=None)
    ).rowcount  # type: ignore[attr-defined]  # an UPDATE returns a CursorResult


def _end_application(
    session: Session, key: str, ending: _Ending, *, actor: str, reason: str
) -> Application:
    text = clean_reason(reason)
    if not text:
        raise AdmissionsError(
            f"{ending.verb}必须说明原因，请用 --reason 填写，"
            f'例如 --reason "{ending.example}"',
            title="缺少原因",
        )

    application = get_application(session, key)
    if application.status not in LIVE_STATUSES or application.status == Status.DEFERRED:
        label = STATUS_LABELS.get(application.status, application.status)
        raise AdmissionsError(
            f"申请 {application.id} 已是“{label}”状态，不能再{ending.verb}。"
            "如学生重新报名，请导入新的申请",
            title="申请已结束",
        )

    previous = application.status
    application.status = ending.status
    application.status_reason = f"{STATUS_LABELS[ending.status]}：{text}"
    application.updated_at = utcnow()
    session.add(application)

    assert application.id is not None
    cancelled = cancel_unsent_notices(session, application.id)
    # Review items still waiting for this application have nothing left to decide.
    session.execute(
        update(ReviewItem)
        .where(col(ReviewItem.application_id) == application.id)
        .where(col(ReviewItem.state).in_(["open", "claimed"]))
        .values(state="closed", claim_token=None)
    )
    audit.record(
        session, actor=actor, action=ending.action, entity="application",
        entity_id=application.id, detail={
            "reason": text, "previous_status": previous,
            "cancelled_notices": cancelled,
        },
    )  # fmt: skip
    return application
