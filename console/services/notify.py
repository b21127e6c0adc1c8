"""SMS notices to guardians: composed once, claimed by one sender, sent once, receipts kept.

A notice row is created per outcome with a unique dedup key, so a retried batch or a second
sender never creates a second notice. A sender claims rows by an atomic UPDATE that sets
its token, so two overlapping senders never send the same row; a claim older than the
lease is taken over, and the notice's own idempotency key (a random key stored on the
row, sent on every attempt) stops the gateway resending a message that did leave before
a crash.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from sqlalchemy import and_, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from console.models import (
    AllocationRun,
    Application,
    Notice,
    Placement,
    School,
    Status,
    utcnow,
)
from console.policy import CountyPolicy, load_policies

log = logging.getLogger(__name__)
NOTIFIED_STATUSES = (Status.PLACED, Status.UNPLACED, Status.EXCEPTION, Status.OFFLINE)
RESULT_STATUSES = (Status.PLACED, Status.UNPLACED)
LEASE = timedelta(seconds=60)


def compose_sms(
    application: Application, school_name: str | None, policy: CountyPolicy
) -> str:
    """Write the guardian's SMS: result, school, next step and the consultation phone."""
    head = f"【{policy.name}教育局】{application.guardian_name}您好："
    child = application.student_name
    phone = f"咨询电话：{policy.consultation_phone}。"
    if application.status == Status.PLACED:
        return (
            f"{head}{child}已被{school_name}录取。请按学校通知携带户口簿到校报到，"
            f"可在政务服务网查询录取结果。{phone}"
        )
    if application.status == Status.UNPLACED:
        return f"{head}{child}暂未安排学位，教育局将统筹安排并另行通知，请保持电话畅通。{phone}"
    if application.status == Status.EXCEPTION:
        return (
            f"{head}{child}的报名信息核验未通过（{application.status_reason[:40]}）。"
            f"请携带相关证件原件到{policy.name}教育局核验。{phone}"
        )
    return (
        f"{head}您未授权政务数据查询，{child}的报名需线下核验。请携带户口簿、不动产权证或居住证原件"
        f"到片区学校办理。{phone}"
    )


@dataclass
class PrepareReport:
    created: int = 0
    awaiting_approval: int = (
        0  # placement results whose run the bureau has not approved
    )


@dataclass
class NotifyReport:
    created: int = 0
    states: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def prepare_notices(
    engine: Engine,
    *,
    season_id: int,
    county_code: str,
    policy: CountyPolicy | None = None,
) -> PrepareReport:
    """Create one pending notice per application outcome that has none.

    Placement results (placed, unplaced) are notified only once the bureau has approved
    the allocation run they come from; exceptions and paper verification need no run.
    """
    policy = policy or load_policies()[county_code]
    with Session(engine) as session:
        schools = {
            s.code: s.name
            for s in session.exec(
                select(School).where(School.county_code == county_code)
            )
        }
        applications = list(
            session.exec(
                select(Application).where(
                    Application.season_id == season_id,
                    Application.county_code == county_code,
                    col(Application.status).in_(NOTIFIED_STATUSES),
                )
            )
        )
        placements = _latest_placements(
            session, [a.id for a in applications if a.id is not None]
        )
        values = []
        report = PrepareReport()
        for application in applications:
            school_code, run_state = placements.get(application.id or 0, (None, ""))
            if application.status in RESULT_STATUSES and run_state != "approved":
                report.awaiting_approval += 1
                continue
            # One notice per distinct outcome: a changed result after a reopened run gets its own.
            key = f"result:{season_id}:{application.id}:{application.status}:{school_code or ''}"
            values.append(
                {
                    "application_id": application.id,
                    "dedup_key": key,
                    "gateway_key": uuid.uuid4().hex,
                    "kind": "result",
                    "mobile": application.guardian_mobile,
                    "text": compose_sms(
                        application, schools.get(school_code or ""), policy
                    ),
                    "state": "pending",
                    "attempts": 0,
                    "created_at": utcnow(),
                    "last_error": "",
                }
            )
        dialect = engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        for start in range(0, len(values), 500):
            statement = (
                insert(Notice)
                .values(values[start : start + 500])
                .on_conflict_do_nothing(index_elements=["dedup_key"])
            )
            report.created += session.execute(statement).rowcount or 0  # type: ignore[attr-defined]
        session.commit()
    return report


def _latest_placements(
    session: Session, application_ids: list[int]
) -> dict[int, tuple[str | None, str]]:
    """Return (school code or None, run state) of each application's latest placement."""
    result: dict[int, tuple[str | None, str]] = {}
    for start in range(0, len(application_ids), 900):
        rows = session.exec(
            select(Placement.application_id, Placement.school_code, AllocationRun.state)
            .join(AllocationRun, col(AllocationRun.id) == Placement.run_id)
            .where(
                col(Placement.application_id).in_(application_ids[start : start + 900])
            )
            .order_by(col(Placement.id))
        )
        for application_id, school_code, state in rows:
            result[application_id] = (school_code, state)
    return result


def claim_notices(
    engine: Engine,
    *,
    season_id: int,
    county_code: str,
    max_attempts: int = 3,
    limit: int | None = None,
) -> tuple[str, list[Notice]]:
    """Atomically mark unsent notices as this sender's; return the token and the claimed rows."""
    token = uuid.uuid4().hex
    now = utcnow()
    in_scope = select(Application.id).where(
        Application.season_id == season_id, Application.county_code == county_code
    )
    with Session(engine) as session:
        statement = (
            update(Notice)
            .where(col(Notice.application_id).in_(in_scope))
            .where(
                or_(
                    and_(
                        col(Notice.state).in_(["pending", "failed"]),
                        col(Notice.attempts) < max_attempts,
                    ),
                    and_(
                        col(Notice.state) == "sending",
                        col(Notice.claimed_at) < now - LEASE,
                    ),
                )
            )
            .values(state="sending", claim_token=token, claimed_at=now)
        )
        session.execute(statement)
        session.commit()
        claimed = list(
            session.exec(
                select(Notice).where(
                    Notice.claim_token == token, Notice.state == "sending"
                )
            )
        )
    return token, claimed


def _sms_client(base_url: str, concurrency: int) -> httpx.Client:
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(5.0, connect=2.0),
        limits=httpx.Limits(max_connections=concurrency),
    )


def _send_all(
    base_url: str, notices: list[Notice], concurrency: int
) -> list[tuple[Notice, str | None, str]]:
    """Send each notice, retrying server errors; return (notice, message id, error)."""
    with _sms_client(base_url, concurrency) as client:

        def send(notice: Notice) -> tuple[Notice, str | None, str]:
            error = ""
            for attempt in range(3):
                try:
                    response = client.post(
                        "/sms/send",
                        json={
                            "mobile": notice.mobile,
                            "text": notice.text,
                            "idempotency_key": notice.gateway_key,
                        },
                    )
                    if response.status_code == 200:
                        return notice, response.json()["message_id"], ""
                    error = f"短信网关返回 HTTP {response.status_code}"
                    if response.status_code < 500 and response.status_code != 429:
                        break
                except httpx.HTTPError as exc:
                    error = f"短信网关连接失败：{type(exc).__name__}"
                time.sleep(0.2 * 2**attempt)
            log.warning("sms for notice %s failed: %s", notice.id, error)
            return notice, None, error

        with ThreadPoolExecutor(concurrency, thread_name_prefix="sms") as pool:
            return list(pool.map(send, notices))


def _fetch_receipts(
    base_url: str, message_ids: list[str], concurrency: int
) -> dict[str, dict]:
    """Poll the gateway for each message's delivery receipt."""
    with _sms_client(base_url, concurrency) as client:

        def fetch(message_id: str) -> tuple[str, dict | None]:
            try:
                response = client.get(f"/sms/messages/{message_id}")
            except httpx.HTTPError as exc:
                log.warning("receipt for %s not fetched: %s", message_id, exc)
                return message_id, None
            return message_id, response.json() if response.status_code == 200 else None

        with ThreadPoolExecutor(concurrency, thread_name_prefix="receipt") as pool:
            pairs = list(pool.map(fetch, message_ids))
    return {m: body for m, body in pairs if body}


def send_notices(
    engine: Engine,
    *,
    season_id: int,
    county_code: str,
    base_url: str,
    concurrency: int = 16,
    max_attempts: int = 3,
) -> NotifyReport:
    """Send every claimable notice of the county, then record delivery receipts."""
    report = NotifyReport()
    _token, claimed = claim_notices(
        engine, season_id=season_id, county_code=county_code, max_attempts=max_attempts
    )
    results = _send_all(base_url, claimed, concurrency) if claimed else []
    now = utcnow()
    with Session(engine) as session:
        for notice, message_id, error in results:
            row = session.get(Notice, notice.id)
            assert row is not None
            row.attempts += 1
            row.claim_token = None
            if message_id:
                row.state, row.gateway_message_id, row.sent_at, row.last_error = (
                    "sent",
                    message_id,
                    now,
                    "",
                )
            else:
                row.state, row.last_error = "failed", error
                report.errors.append(f"通知 {row.id}：{error}")
            session.add(row)
        session.commit()
        sent = list(
            session.exec(
                select(Notice).where(
                    Notice.state == "sent",
                    col(Notice.application_id).in_(
                        select(Application.id).where(
                            Application.season_id == season_id,
                            Application.county_code == county_code,
                        )
                    ),
                )
            )
        )
    message_ids = [n.gateway_message_id for n in sent if n.gateway_message_id]
    receipts = _fetch_receipts(base_url, message_ids, concurrency) if sent else {}
    with Session(engine) as session:
        for notice in sent:
            body = receipts.get(notice.gateway_message_id or "")
            if body and body.get("status") == "delivered":
                row = session.get(Notice, notice.id)
                assert row is not None
                row.state = "delivered"
                row.delivered_at = utcnow()
                session.add(row)
            elif body and body.get("status") == "failed":
                row = session.get(Notice, notice.id)
                assert row is not None
                row.state, row.last_error = "failed", "运营商回执：发送失败"
                session.add(row)
        session.commit()
        counts = session.exec(
            select(Notice.state, func.count())
            .where(
                col(Notice.application_id).in_(
                    select(Application.id).where(
                        Application.season_id == season_id,
                        Application.county_code == county_code,
                    )
                )
            )
            .group_by(Notice.state)
        )
        for state, count in counts:
            report.states[state] = count
    return report
