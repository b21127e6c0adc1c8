"""SMS notices to guardians: composed once, claimed by one sender, sent once, receipts kept.

A notice row is created per outcome with a unique dedup key, so a retried batch or a second
sender never creates a second notice. A sender claims rows by an atomic UPDATE that sets
its token, so two overlapping senders never send the same row. A claim older than the
lease belongs to a sender that died and is taken over. Each notice stores a random
idempotency key that every attempt sends, so the gateway does not resend a message that
left before a crash.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta

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
from console.services.applicants import CANCELLED

log = logging.getLogger(__name__)
NOTIFIED_STATUSES = (Status.PLACED, Status.UNPLACED, Status.EXCEPTION, Status.OFFLINE)
RESULT_STATUSES = (Status.PLACED, Status.UNPLACED)
# Lifetime of a sender's claim on a batch. A batch takes seconds, so a claim older than
# this belongs to a sender that died, and another sender may take it over.
LEASE = timedelta(minutes=5)
BATCH_SIZE = 200
SEND_ATTEMPTS = 5  # tries per notice within one run, on 429, 5xx and connection errors
MAX_RETRY_AFTER = 10.0  # seconds: a longer Retry-After is cut to this
# Marks a notice this run claimed but never sent; it costs no attempt.
NOT_SENT = "未发送"
GATEWAY_DOWN_AFTER = 20  # notices failed in a row after which a batch stops sending


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
            f"{head}{child}的报名信息核验未通过（{sms_reason(application.status_reason)}）。"
            f"请携带相关证件原件到{policy.name}教育局核验。{phone}"
        )
    return (
        f"{head}您未授权政务数据查询，{child}的报名需线下核验。请携带户口簿、不动产权证或居住证原件"
        f"到片区学校办理。{phone}"
    )


def sms_reason(status_reason: str, limit: int = 40) -> str:
    """Return the first reason, cut at a comma so that no word is broken, for an SMS."""
    first = status_reason.split("；")[0].strip()
    if len(first) <= limit:
        return first
    cut = first.rfind("，", 0, limit)
    return first[:cut] if cut > 0 else "报名信息与政务数据不一致"


@dataclass
class PrepareReport:
    created: int = 0
    unallocated: int = (
        0  # classified applications that no allocation run has placed yet
    )
    awaiting_approval: int = (
        0  # placement results whose run the bureau has not approved
    )


@dataclass
class NotifyReport:
    states: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    sent_now: int = 0
    held_elsewhere: int = 0  # claimed by another sender whose lease has not run out
    exhausted: int = 0  # failed max_attempts times; sent again only with retry_failed
    stopped: bool = False  # a whole batch failed, so the run stopped before the rest
    not_sent: int = (
        0  # claimed but never sent (gateway down or Ctrl-C); back to pending
    )


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
        report_unallocated = session.exec(
            select(func.count())
            .select_from(Application)
            .where(
                Application.season_id == season_id,
                Application.county_code == county_code,
                Application.status == Status.CLASSIFIED,
            )
        ).one()
        placements = _latest_placements(
            session, [a.id for a in applications if a.id is not None]
        )
        values = []
        report = PrepareReport(unallocated=report_unallocated)
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
                .returning(col(Notice.id))
            )
            # Counted from RETURNING: psycopg reports rowcount -1 for this statement.
            report.created += len(session.execute(statement).all())
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


def _in_scope(season_id: int, county_code: str):  # type: ignore[no-untyped-def]
    return col(Notice.application_id).in_(
        select(Application.id).where(
            Application.season_id == season_id, Application.county_code == county_code
        )
    )


def _claimable(  # type: ignore[no-untyped-def]
    season_id: int,
    county_code: str,
    *,
    now: datetime,
    max_attempts: int,
    retry_failed: bool,
    failed_before: datetime | None,
):
    """Return the condition of the notices that a sender may claim now."""
    failed_ok = col(Notice.state) == "failed"
    if not retry_failed:
        failed_ok = and_(failed_ok, col(Notice.attempts) < max_attempts)
    if failed_before is not None:
        failed_ok = and_(failed_ok, col(Notice.claimed_at) < failed_before)
    return and_(
        _in_scope(season_id, county_code),
        or_(
            col(Notice.state) == "pending",
            failed_ok,
            and_(col(Notice.state) == "sending", col(Notice.claimed_at) < now - LEASE),
        ),
    )


def claim_notices(
    engine: Engine,
    *,
    season_id: int,
    county_code: str,
    max_attempts: int = 3,
    limit: int = BATCH_SIZE,
    retry_failed: bool = False,
    failed_before: datetime | None = None,
) -> tuple[str, list[Notice]]:
    """Atomically mark up to `limit` unsent notices as this sender's.

    Claimable are pending notices, failed ones below `max_attempts` (any failed one with
    `retry_failed`) last claimed before `failed_before`, and notices whose sender's lease
    ran out. Returns the token and the claimed rows.
    """
    token = uuid.uuid4().hex
    now = utcnow()
    claimable = _claimable(
        season_id, county_code, now=now, max_attempts=max_attempts,
        retry_failed=retry_failed, failed_before=failed_before,
    )  # fmt: skip
    with Session(engine) as session:
        batch = select(Notice.id).where(claimable).order_by(col(Notice.id)).limit(limit)
        # The outer condition is checked again on each row, so a row another sender
        # claimed in the meantime is skipped rather than claimed twice.
        statement = (
            update(Notice)
            .where(col(Notice.id).in_(batch.scalar_subquery()))
            .where(claimable)
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


def _asks_long_wait(response: httpx.Response) -> bool:
    try:
        return float(response.headers.get("Retry-After", "0")) > MAX_RETRY_AFTER
    except ValueError:
        return False


def _retry_delay(response: httpx.Response | None, attempt: int) -> float:
    """Seconds to wait: the gateway's Retry-After when given, else exponential back-off."""
    if response is not None and response.headers.get("Retry-After"):
        try:
            return min(MAX_RETRY_AFTER, float(response.headers["Retry-After"]))
        except ValueError:
            pass
    return min(MAX_RETRY_AFTER, 0.2 * 2**attempt)


def _sms_client(base_url: str, concurrency: int) -> httpx.Client:
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(5.0, connect=2.0),
        limits=httpx.Limits(max_connections=concurrency),
    )


def _send_all(
    client: httpx.Client, pool: ThreadPoolExecutor, notices: list[Notice]
) -> list[tuple[Notice, str | None, str]]:
    """Send each notice, retrying 429, 5xx and connection errors; return (notice, id, error).

    A gateway whose Retry-After exceeds MAX_RETRY_AFTER, or that failed
    GATEWAY_DOWN_AFTER notices in a row, is taken as down: the remaining notices of the
    batch fail at once and wait for the next run.
    """
    gateway_down = threading.Event()
    lock = threading.Lock()
    failures_in_row = [0]

    def outcome(ok: bool) -> None:
        with lock:
            failures_in_row[0] = 0 if ok else failures_in_row[0] + 1
            if failures_in_row[0] >= GATEWAY_DOWN_AFTER:
                gateway_down.set()

    def send(notice: Notice) -> tuple[Notice, str | None, str]:
        error = ""
        for attempt in range(SEND_ATTEMPTS):
            if gateway_down.is_set():
                return notice, None, NOT_SENT
            response = None
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
                    outcome(True)
                    return notice, response.json()["message_id"], ""
                error = f"短信网关返回 HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    break
            except httpx.HTTPError as exc:
                error = f"短信网关连接失败：{type(exc).__name__}"
            if response is not None and _asks_long_wait(response):
                gateway_down.set()
                break
            if attempt + 1 < SEND_ATTEMPTS:
                time.sleep(_retry_delay(response, attempt))
        log.info("sms for notice %s failed: %s", notice.id, error)
        outcome(False)
        return notice, None, error

    futures = {pool.submit(send, notice): notice for notice in notices}
    try:
        wait(futures)
    except BaseException:
        # Ctrl-C: let the sends in flight finish, so their message ids are stored, and
        # hand back the ones not started as never sent.
        for future in futures:
            future.cancel()
        wait([f for f in futures if not f.cancelled()])
        raise _Interrupted(
            [
                f.result() if not f.cancelled() else (futures[f], None, NOT_SENT)
                for f in futures
            ]
        ) from None
    return [future.result() for future in futures]


def _fetch_receipts(
    client: httpx.Client, pool: ThreadPoolExecutor, message_ids: list[str]
) -> dict[str, dict]:
    """Poll the gateway for each message's delivery receipt; a missing one is polled next run."""

    def fetch(message_id: str) -> tuple[str, dict | None]:
        for attempt in range(3):
            response = None
            try:
                response = client.get(f"/sms/messages/{message_id}")
                if response.status_code == 200:
                    return message_id, response.json()
                if response.status_code != 429 and response.status_code < 500:
                    break
            except httpx.HTTPError as exc:
                log.info("receipt for %s not fetched: %s", message_id, exc)
            time.sleep(_retry_delay(response, attempt))
        return message_id, None

    pairs = list(pool.map(fetch, message_ids))
    return {m: body for m, body in pairs if body}


class _Interrupted(Exception):
    """Raised by _send_all on Ctrl-C, carrying what each notice of the batch came to."""

    def __init__(self, results: list[tuple[Notice, str | None, str]]) -> None:
        super().__init__("sending interrupted")
        self.results = results


def _store_results(
    engine: Engine, results: list[tuple[Notice, str | None, str]], report: NotifyReport
) -> None:
    """Store sends and failures; a notice that was never sent goes back to pending."""
    now = utcnow()
    with Session(engine) as session:
        for notice, message_id, error in results:
            row = session.get(Notice, notice.id)
            assert row is not None
            row.claim_token = None
            if row.state == CANCELLED and not message_id:
                # The application left the season while this run held the notice,
                # so a notice it did not get out stays cancelled.
                session.add(row)
                continue
            if error == NOT_SENT:
                row.state = "pending"
                report.not_sent += 1
                session.add(row)
                continue
            row.attempts += 1
            if message_id:
                row.state, row.gateway_message_id, row.sent_at = "sent", message_id, now
                row.last_error = ""
                report.sent_now += 1
            else:
                row.state, row.last_error = "failed", error
                report.errors.append(f"通知 {row.id}：{error}")
            session.add(row)
        session.commit()


def _store_receipts(
    engine: Engine, sent: list[Notice], receipts: dict[str, dict]
) -> None:
    with Session(engine) as session:
        for notice in sent:
            body = receipts.get(notice.gateway_message_id or "")
            if not body or body.get("status") not in ("delivered", "failed"):
                continue
            row = session.get(Notice, notice.id)
            assert row is not None
            if body["status"] == "delivered":
                row.state, row.delivered_at = "delivered", utcnow()
            else:
                # The carrier could not deliver it: a new idempotency key makes the next
                # attempt a new message instead of a repeat of the failed one.
                row.state, row.last_error = "failed", "运营商回执：发送失败"
                row.gateway_key = uuid.uuid4().hex
            session.add(row)
        session.commit()


def send_notices(
    engine: Engine,
    *,
    season_id: int,
    county_code: str,
    base_url: str,
    concurrency: int = 16,
    max_attempts: int = 3,
    retry_failed: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> NotifyReport:
    """Send every claimable notice of the county in batches, then record delivery receipts.

    Each batch is claimed, sent and stored before the next is claimed, so a claim never
    outlives its lease while the sender is alive, and two senders share the work.
    `progress` gets the notices handled so far and those claimable at the start.
    """
    report = NotifyReport()
    started = utcnow()
    with Session(engine) as session:
        total = session.exec(
            select(func.count()).select_from(Notice).where(_claimable(
                season_id, county_code, now=started, max_attempts=max_attempts,
                retry_failed=retry_failed, failed_before=started,
            ))
        ).one()  # fmt: skip
    with (
        _sms_client(base_url, concurrency) as client,
        ThreadPoolExecutor(concurrency, thread_name_prefix="sms") as pool,
    ):
        while True:
            _token, claimed = claim_notices(
                engine,
                season_id=season_id,
                county_code=county_code,
                max_attempts=max_attempts,
                retry_failed=retry_failed,
                # A notice that failed in this run is not claimed again by it.
                failed_before=started,
                limit=batch_size,
            )
            if not claimed:
                break
            try:
                results = _send_all(client, pool, claimed)
            except _Interrupted as interrupted:
                _store_results(engine, interrupted.results, report)
                raise KeyboardInterrupt from None
            _store_results(engine, results, report)
            if progress is not None:
                handled = report.sent_now + len(report.errors) + report.not_sent
                progress(handled, max(total, handled))
            if all(message_id is None for _n, message_id, _e in results):
                log.warning("every sms of a batch failed; stopping this run")
                report.stopped = True
                break
        with Session(engine) as session:
            sent = list(
                session.exec(
                    select(Notice).where(
                        Notice.state == "sent", _in_scope(season_id, county_code)
                    )
                )
            )
        message_ids = [n.gateway_message_id for n in sent if n.gateway_message_id]
        receipts = _fetch_receipts(client, pool, message_ids) if message_ids else {}
    _store_receipts(engine, sent, receipts)
    with Session(engine) as session:
        counts = session.exec(
            select(Notice.state, func.count())
            .where(_in_scope(season_id, county_code))
            .group_by(Notice.state)
        )
        for state, count in counts:
            report.states[state] = count
        report.exhausted = session.exec(
            select(func.count())
            .select_from(Notice)
            .where(
                _in_scope(season_id, county_code),
                Notice.state == "failed",
                col(Notice.attempts) >= max_attempts,
            )
        ).one()
        report.held_elsewhere = session.exec(
            select(func.count())
            .select_from(Notice)
            .where(
                _in_scope(season_id, county_code),
                Notice.state == "sending",
                col(Notice.claimed_at) >= utcnow() - LEASE,
            )
        ).one()
    if report.errors:
        log.warning("%d notices failed in this run", len(report.errors))
    return report
