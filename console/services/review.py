"""The bureau's review queues: exceptions to check on paper, and batch C schools.

An application enters the "exception" queue when a lookup mismatch stopped its
classification, and the "batch_c" queue when it was classified as a
policy-guaranteed child, whose school the bureau decides. The "school" queue
contains each school's in-zone children of batches A, B, D and E: the school
confirms each one, or returns it to the bureau as an exception with its reason. Reviewers claim one
item at a time with an atomic UPDATE that sets a token, so that several
reviewers working at once never get the same item. A claim older than LEASE may
be taken over. Every decision records the reviewer, the time and the reason,
and is audited with the application.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from console.errors import AdmissionsError, NotFoundError
from console.models import (
    STATUS_LABELS,
    Application,
    ReviewItem,
    School,
    Status,
    utcnow,
)
from console.services import audit
from console.services.applicants import (
    cancel_unsent_notices,
    clean_reason,
    reject_application,
)

log = logging.getLogger(__name__)

# Queue keys and their staff-facing names.
QUEUES = {"exception": "异常待审", "batch_c": "C类入学审核", "school": "学校片区确认"}
# A claim older than this may be taken by another reviewer.
LEASE = timedelta(minutes=15)
BATCHES = ("A", "B", "C", "D", "E")
# "closed": the application left the season (withdrawn, deferred or rejected)
# before its item was decided.
STATE_LABELS = {
    "open": "待领取",
    "claimed": "审核中",
    "decided": "已决定",
    "closed": "已关闭",
}
# Batches whose in-zone children each school confirms.
SCHOOL_BATCHES = ("A", "B", "D", "E")
DECISION_LABELS = {"accept": "通过", "reject": "不予受理"}
# A school confirms its in-zone children or returns them to the bureau.
SCHOOL_DECISION_LABELS = {"accept": "确认", "reject": "退回教育局"}


def decision_label(queue: str, decision: str | None) -> str:
    """Return the staff-facing name of a decision in `queue`."""
    labels = SCHOOL_DECISION_LABELS if queue == "school" else DECISION_LABELS
    return labels.get(decision or "", "")


@dataclass
class QueueSummary:
    """Counts of one queue in one county, by item state."""

    queue: str
    open: int
    claimed: int
    decided: int


def needs_review(queue: str) -> Any:
    """Return the condition of the applications that belong in `queue`."""
    if queue == "exception":
        return col(Application.status) == Status.EXCEPTION
    if queue == "school":
        return and_(
            col(Application.status) == Status.CLASSIFIED,
            col(Application.batch).in_(SCHOOL_BATCHES),
            col(Application.zone_school_code).is_not(None),
        )
    return and_(
        col(Application.status) == Status.CLASSIFIED, col(Application.batch) == "C"
    )


def _school_scope(
    session: Session, queue: str, county_code: str, school_code: str | None
) -> Any:
    """Return the condition that narrows the school queue to one school.

    Raises AdmissionsError when the code is missing or names no school of the
    county, so that a mistyped code is not taken for an empty queue.
    """
    if queue != "school":
        return True
    if not school_code:
        raise AdmissionsError(
            "学校片区确认队列须用 --school 指定学校代码，例如 --school 620402P01",
            title="缺少学校",
        )
    code = school_code.strip().upper()
    school = session.get(School, code)
    if school is None or school.county_code != county_code:
        schools = session.exec(
            select(School.code, School.name)
            .where(School.county_code == county_code)
            .order_by(col(School.code))
        ).all()
        listed = "、".join(f"{code}（{name}）" for code, name in schools[:8])
        raise AdmissionsError(
            f"学校代码 {school_code} 不是本区县的学校，请核对后重新输入，"
            f"本区县学校如：{listed}",
            title="学校无效",
        )
    return col(Application.zone_school_code) == code


def _check_queue(queue: str) -> None:
    if queue not in QUEUES:
        names = "、".join(f"{key}（{name}）" for key, name in QUEUES.items())
        raise AdmissionsError(f"审核队列 {queue} 不存在，可选：{names}")


def sync_queue(engine: Engine, *, season_id: int, county_code: str, queue: str) -> int:
    """Add an open item for each application of the county that needs review.

    An exception gets a new item unless it has an undecided one. A batch C child
    and an in-zone child of a school get one item only, because the decision on
    them is final. Returns the items added.
    Two reviewers syncing at once may both try to add an item. The unique index
    keeps one, so the other sync leaves the queue to it.
    """
    _check_queue(queue)
    reviewed = select(ReviewItem.application_id).where(ReviewItem.queue == queue)
    if queue == "exception":
        reviewed = reviewed.where(col(ReviewItem.state).in_(["open", "claimed"]))
    try:
        with Session(engine) as session:
            ids = session.exec(
                select(Application.id).where(
                    Application.season_id == season_id,
                    Application.county_code == county_code,
                    needs_review(queue),
                    col(Application.id).not_in(reviewed),
                )
            ).all()
            for application_id in ids:
                assert application_id is not None
                session.add(ReviewItem(application_id=application_id, queue=queue))
            session.commit()
    except IntegrityError:
        log.info("review queue %s of %s synced by another reviewer", queue, county_code)
        return 0
    return len(ids)


def queue_summaries(
    session: Session, *, season_id: int, county_code: str
) -> list[QueueSummary]:
    """Return the item counts of every queue of the county."""
    counts: dict[tuple[str, str], int] = {}
    for queue, state, count in session.exec(
        select(ReviewItem.queue, ReviewItem.state, func.count())
        .join(Application, col(Application.id) == ReviewItem.application_id)
        .where(
            Application.season_id == season_id, Application.county_code == county_code
        )
        .group_by(ReviewItem.queue, ReviewItem.state)
    ):
        counts[(queue, state)] = count
    return [
        QueueSummary(
            queue,
            counts.get((queue, "open"), 0),
            counts.get((queue, "claimed"), 0),
            counts.get((queue, "decided"), 0),
        )
        for queue in QUEUES
    ]


def list_items(
    session: Session,
    *,
    season_id: int,
    county_code: str,
    queue: str,
    school_code: str | None = None,
) -> list[tuple[ReviewItem, Application]]:
    """Return the items of a queue with their applications, oldest first.

    The school queue needs `school_code`, and lists that school's items.
    """
    _check_queue(queue)
    one_school = _school_scope(session, queue, county_code, school_code)
    rows = session.exec(
        select(ReviewItem, Application)
        .join(Application, col(Application.id) == ReviewItem.application_id)
        .where(
            ReviewItem.queue == queue,
            Application.season_id == season_id,
            Application.county_code == county_code,
            one_school,
        )
        .order_by(col(ReviewItem.id))
    ).all()
    return [(item, application) for item, application in rows]


def claim_next(
    engine: Engine,
    *,
    season_id: int,
    county_code: str,
    queue: str,
    reviewer: str,
    school_code: str | None = None,
) -> tuple[ReviewItem, Application] | None:
    """Claim the next item of the queue for `reviewer` and return it, or None.

    The school queue needs `school_code`, and gives that school's items only.

    A reviewer who has claimed an item and not decided it gets it again, so running
    the command twice does not take a second item.
    """
    with Session(engine) as session:
        one_school = _school_scope(session, queue, county_code, school_code)
    sync_queue(engine, season_id=season_id, county_code=county_code, queue=queue)
    in_scope = select(Application.id).where(
        Application.season_id == season_id,
        Application.county_code == county_code,
        needs_review(queue),
        one_school,
    )
    with Session(engine) as session:
        own_claim = session.exec(
            select(ReviewItem).where(
                ReviewItem.queue == queue,
                ReviewItem.state == "claimed",
                ReviewItem.claimed_by == reviewer,
                col(ReviewItem.application_id).in_(in_scope),
            )
        ).first()
        if own_claim is not None:
            return _with_application(session, own_claim)
    for _attempt in range(5):
        now = utcnow()
        claimable = and_(
            col(ReviewItem.queue) == queue,
            col(ReviewItem.application_id).in_(in_scope),
            or_(
                col(ReviewItem.state) == "open",
                and_(
                    col(ReviewItem.state) == "claimed",
                    col(ReviewItem.claimed_at) < now - LEASE,
                ),
            ),
        )
        token = uuid.uuid4().hex
        with Session(engine) as session:
            first = (
                select(ReviewItem.id)
                .where(claimable)
                .order_by(col(ReviewItem.id))
                .limit(1)
                .scalar_subquery()
            )
            # The condition is repeated so that an item claimed in the meantime
            # is left alone rather than claimed twice.
            session.execute(
                update(ReviewItem)
                .where(col(ReviewItem.id) == first)
                .where(claimable)
                .values(
                    state="claimed", claim_token=token, claimed_by=reviewer,
                    claimed_at=now,
                )
            )  # fmt: skip
            session.commit()
            claimed = session.exec(
                select(ReviewItem).where(ReviewItem.claim_token == token)
            ).first()
            if claimed is not None:
                return _with_application(session, claimed)
            remaining = session.exec(
                select(func.count()).select_from(ReviewItem).where(claimable)
            ).one()
            if not remaining:
                return None
    return None


def _with_application(
    session: Session, item: ReviewItem
) -> tuple[ReviewItem, Application]:
    application = session.get(Application, item.application_id)
    assert application is not None
    session.expunge(item)
    session.expunge(application)
    return item, application


def decide(
    engine: Engine,
    item_id: int,
    *,
    reviewer: str,
    accept: bool,
    reason: str,
    batch: str | None = None,
    school_code: str | None = None,
) -> tuple[ReviewItem, Application]:
    """Decide a claimed item: accept with a batch and a school, or reject.

    Accepting classifies the application in `batch` with `school_code` as its
    zone school, as the bureau decided on paper. Rejecting ends it (不予受理) and
    cancels its unsent SMS. Raises AdmissionsError when the reason is missing,
    the reviewer does not hold the item, or the batch or school is invalid.
    """
    text = clean_reason(reason)
    if not text:
        raise AdmissionsError(
            '审核决定必须说明原因，请用 --reason 填写，例如 --reason "已核对房产证原件"',
            title="缺少原因",
        )
    with Session(engine) as session:
        # One conditional UPDATE takes the item and locks its row until the commit.
        # A second decision on the item, from another terminal or after a lease
        # ran out, then matches no row.
        updated_rows = session.execute(
            update(ReviewItem)
            .where(col(ReviewItem.id) == item_id)
            .where(col(ReviewItem.state) == "claimed")
            .where(col(ReviewItem.claimed_by) == reviewer)
            .values(state="decided", decided_by=reviewer, decided_at=utcnow())
        ).rowcount  # type: ignore[attr-defined]  # an UPDATE returns a CursorResult
        if updated_rows != 1:
            session.rollback()
            _raise_not_decidable(session, item_id)
        item = session.get(ReviewItem, item_id)
        assert item is not None
        application = session.get(Application, item.application_id)
        assert application is not None and application.id is not None
        _check_still_needed(item, application)
        if item.queue == "school" and (batch or school_code):
            raise AdmissionsError(
                "学校片区确认只能确认或退回教育局，不改批次和学校；"
                "请去掉 --batch 和 --school，如需改动请退回教育局",
                title="学校不能改批次",
            )
        if item.queue == "school":
            _school_decision(session, application, reviewer, text, accept=accept)
            batch, school_code = application.batch, application.zone_school_code
        elif accept:
            _accept(session, application, item, reviewer, text, batch, school_code)
        else:
            reject_application(
                session, str(application.id), actor=reviewer, reason=text
            )
        item.decision = "accept" if accept else "reject"
        item.batch = batch if accept else None
        item.school_code = school_code if accept else None
        item.reason = text
        item.claim_token = None
        session.add(item)
        audit.record(
            session, actor=reviewer, action="review.decide", entity="application",
            entity_id=application.id, detail={
                "item": item.id, "queue": item.queue, "decision": item.decision,
                "batch": item.batch, "school": item.school_code, "reason": text,
            },
        )  # fmt: skip
        session.commit()
        session.refresh(item)
        session.refresh(application)
        session.expunge(item)
        session.expunge(application)
        return item, application


def _school_decision(
    session: Session,
    application: Application,
    reviewer: str,
    reason: str,
    *,
    accept: bool,
) -> None:
    """Confirm an in-zone child, or return it to the bureau as an exception."""
    if accept:
        return
    application.status = Status.EXCEPTION
    application.status_reason = f"学校退回（{reviewer}）：{reason}"
    application.batch = None
    application.updated_at = utcnow()
    session.add(application)


def _raise_not_decidable(session: Session, item_id: int) -> None:
    """Raise the error that explains why `item_id` is not the reviewer's to decide."""
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise NotFoundError(
            f"没有编号为 {item_id} 的审核项，请用 admissions review list 查看"
        )
    if item.state == "decided":
        raise AdmissionsError(
            f"审核项 {item_id} 已由 {item.decided_by} 决定，不能再改。"
            "如需更正，请对该申请另行处理",
            title="审核项已决定",
        )
    if item.state == "closed":
        raise AdmissionsError(
            f"审核项 {item_id} 已关闭：申请 {item.application_id} 已撤回、缓学或不予受理，"
            f"无需再作决定。请用 admissions applicants show {item.application_id} 查看",
            title="审核项已关闭",
        )

    holder = f"正由 {item.claimed_by} 审核" if item.claimed_by else "尚未领取"
    # The hint is a command that runs as printed: next requires --county, and the
    # school queue requires --school as well.
    application = session.get(Application, item.application_id)
    scope = f"--county {application.county_code} " if application else ""
    if item.queue == "school" and application and application.zone_school_code:
        scope += f"--school {application.zone_school_code} "
    raise AdmissionsError(
        f"审核项 {item_id} {holder}。请先运行 admissions review next "
        f"{scope}--queue {item.queue} 领取，再作决定",
        title="审核项未由您领取",
    )


def is_in_queue(queue: str, application: Application) -> bool:
    """Return whether `application` still belongs in `queue`, as `needs_review` selects.

    An allocation commit moves a batch C or in-zone child to placed, so its open item
    can no longer be claimed or decided.
    """
    if queue == "batch_c":
        return application.status == Status.CLASSIFIED and application.batch == "C"
    if queue == "school":
        return (
            application.status == Status.CLASSIFIED
            and application.batch in SCHOOL_BATCHES
            and application.zone_school_code is not None
        )
    return application.status == Status.EXCEPTION


def _check_still_needed(item: ReviewItem, application: Application) -> None:
    """Raise when the application left the queue after the item was claimed.

    A family may withdraw, or staff defer or reject the application, while the item
    waits. A decision then would bring an ended application back into the season.
    """
    if not is_in_queue(item.queue, application):
        label = STATUS_LABELS.get(application.status, application.status)
        raise AdmissionsError(
            f"申请 {application.id} 已是“{label}”状态，不再属于{QUEUES[item.queue]}队列，"
            f"审核项 {item.id} 不能再作决定。请用 admissions applicants show "
            f"{application.id} 查看处理记录",
            title="申请已不需审核",
        )


def _accept(
    session: Session,
    application: Application,
    item: ReviewItem,
    reviewer: str,
    reason: str,
    batch: str | None,
    school_code: str | None,
) -> None:
    if batch not in BATCHES:
        raise AdmissionsError(
            f"批次 {batch or '（未填）'} 无效，通过审核须用 --batch 指定 A、B、C、D 或 E",
            title="缺少批次",
        )

    school = session.get(School, school_code) if school_code else None
    if (
        school is None
        or school.county_code != application.county_code
        or school.stage != application.stage
    ):
        schools = session.exec(
            select(School.code, School.name).where(
                School.county_code == application.county_code,
                School.stage == application.stage,
            )
        ).all()
        listed = "、".join(f"{code}（{name}）" for code, name in schools[:8])
        raise AdmissionsError(
            f"学校 {school_code or '（未填）'} 不是本区县本学段的学校。"
            f"通过审核须用 --school 指定录取依据的学校，例如：{listed}",
            title="学校无效",
        )
    previous = STATUS_LABELS.get(application.status, application.status)
    application.status = Status.CLASSIFIED
    application.batch = batch
    application.zone_school_code = school.code
    application.batch_reason = f"{batch}类（教育局人工审核，{reviewer}）：{reason}；录取依据学校：{school.name}"
    application.status_reason = f"人工审核通过（原为{previous}）"
    application.updated_at = utcnow()
    session.add(application)
    assert application.id is not None
    if batch == "C" and item.queue == "exception":
        # The bureau chose the school while accepting the exception, so the batch C
        # queue records that decision instead of asking for a second review.
        now = utcnow()
        session.add(ReviewItem(
            application_id=application.id, queue="batch_c", state="decided",
            decision="accept", batch="C", school_code=school.code, reason=reason,
            decided_by=reviewer, decided_at=now, claimed_by=reviewer, claimed_at=now,
        ))  # fmt: skip
    # An exception's SMS reports a failed verification, which is no longer true.
    cancelled = cancel_unsent_notices(session, application.id)
    log.info(
        "review item %s accepted as batch %s, %d unsent notices cancelled",
        item.id, batch, cancelled,
    )  # fmt: skip
