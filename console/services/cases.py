"""Parents' consultations, complaints and appeals (咨询、投诉、申诉), logged and resolved.

Staff open a case with the parent's account, optionally naming the application
it concerns, and resolve it with what was done. Both steps are audited, and a
resolved case is never reopened: a new contact is a new case.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import Session, col, select

from console.errors import AdmissionsError, NotFoundError
from console.models import ParentCase, Season, utcnow
from console.rules.masking import mask_mobile
from console.rules.mobile import InvalidMobile, normalize_mobile
from console.services import audit
from console.services.applicants import clean_reason, get_application

KINDS = {"consultation": "咨询", "complaint": "投诉", "appeal": "申诉"}
STATES = {"open": "未办结", "resolved": "已办结"}
MAX_TEXT = 500


@dataclass(frozen=True)
class CaseFilter:
    """Filters of a case list; None means any value."""

    county_code: str | None = None
    kind: str | None = None
    state: str | None = None


def _text(value: str, label: str, example: str) -> str:
    text = clean_reason(value)
    if not text:
        raise AdmissionsError(
            f"{label}不能为空，请填写，例如 “{example}”", title=f"缺少{label}"
        )
    if len(text) > MAX_TEXT:
        raise AdmissionsError(
            f"{label}有{len(text)}个字，超过上限{MAX_TEXT}个字，请精简后重新填写",
            title=f"{label}过长",
        )
    return text


def open_case(
    session: Session,
    *,
    season_id: int,
    county_code: str,
    kind: str,
    summary: str,
    actor: str,
    application_key: str | None = None,
    mobile: str | None = None,
) -> ParentCase:
    """Log a consultation, complaint or appeal and return it.

    `application_key` (an application id or the child's ID number) must name an
    application of the county. Raises AdmissionsError for an unknown kind, an
    empty or overlong summary, a bad mobile or an application of another county.
    """
    if kind not in KINDS:
        kinds = "、".join(f"{key}（{label}）" for key, label in KINDS.items())
        raise AdmissionsError(f"类型 {kind} 无效，可选：{kinds}", title="类型无效")
    text = _text(summary, "事由", "询问片区划分")
    contact = ""
    if mobile:
        try:
            # Full-width digits typed with a Chinese input method fold to ASCII,
            # as they do on import.
            contact = normalize_mobile(unicodedata.normalize("NFKC", mobile))
        except InvalidMobile as exc:
            raise AdmissionsError(
                f"联系电话 {mask_mobile(mobile)} 无效：{exc.reason}，"
                "请填写11位手机号码，如 13812345678",
                title="联系电话无效",
            ) from None
    application_id = None
    if application_key:
        application = get_application(session, application_key)
        if application.county_code != county_code:
            raise AdmissionsError(
                f"申请 {application.id} 不属于本区县，请核对申请号或区县",
                title="申请不属于本区县",
            )
        if application.season_id != season_id:
            season = session.get(Season, application.season_id)
            year = season.year if season else application.season_id
            raise AdmissionsError(
                f"申请 {application.id} 属于{year}年度，不属于本年度。"
                f"请加 --season {year} 登记，或核对申请号",
                title="申请不属于本年度",
            )
        application_id = application.id
    case = ParentCase(
        season_id=season_id, county_code=county_code, application_id=application_id,
        kind=kind, summary=text, contact_mobile=contact, opened_by=actor,
    )  # fmt: skip
    session.add(case)
    session.flush()
    audit.record(session, actor=actor, action="case.open", entity="case",
                 entity_id=case.id, detail={"kind": kind, "application": application_id})  # fmt: skip
    return case


def resolve_case(
    session: Session, case_id: int, *, resolution: str, actor: str
) -> ParentCase:
    """Record how a case was resolved; raises AdmissionsError when it already was."""
    case = session.get(ParentCase, case_id)
    if case is None:
        raise NotFoundError(
            f"没有编号为 {case_id} 的咨询投诉记录，请用 admissions cases list 查看"
        )
    text = _text(resolution, "办理结果", "已电话答复家长片区划分依据")
    # The state is checked in the UPDATE itself, so that of two staff resolving
    # the same case at once only the first is recorded.
    resolved = session.execute(
        update(ParentCase)
        .where(col(ParentCase.id) == case_id, col(ParentCase.state) == "open")
        .values(state="resolved", resolution=text, resolved_by=actor,
                resolved_at=utcnow())
        .returning(col(ParentCase.id))
    ).first()  # fmt: skip
    session.refresh(case)
    if resolved is None:
        raise AdmissionsError(
            f"记录 {case_id} 已由 {case.resolved_by} 办结。家长再次来电请新建一条记录",
            title="记录已办结",
        )
    audit.record(session, actor=actor, action="case.resolve", entity="case",
                 entity_id=case.id, detail={"kind": case.kind})  # fmt: skip
    return case


def list_cases(
    session: Session, *, season_id: int, filters: CaseFilter
) -> list[ParentCase]:
    """Return the cases of the season that match `filters`, oldest first."""
    query = select(ParentCase).where(ParentCase.season_id == season_id)
    if filters.county_code is not None:
        query = query.where(ParentCase.county_code == filters.county_code)
    if filters.kind is not None:
        query = query.where(ParentCase.kind == filters.kind)
    if filters.state is not None:
        query = query.where(ParentCase.state == filters.state)
    return list(session.exec(query.order_by(col(ParentCase.id))).all())
