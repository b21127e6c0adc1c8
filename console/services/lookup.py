"""Government data lookups for a county's applications, resumable in chunks."""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from console.models import Application, Lookup, Status, utcnow
from console.services import audit
from console.services.govclient import CallResult, GovClient, RetryPolicy

log = logging.getLogger(__name__)
PURPOSE = "义务教育入学资格核验"
# Lifetime of a run's claim on a chunk. A chunk normally takes seconds, so an older
# claim belongs to a run that died without releasing it.
LEASE = timedelta(minutes=5)


@dataclass
class _Pending:
    application_id: int
    student_id: str
    guardian_id: str
    county_code: str
    has_permit_fields: bool
    done: set[str]


@dataclass
class LookupReport:
    applications: int = 0
    held_elsewhere: int = 0
    not_sent: int = 0  # calls skipped while a service's circuit breaker was open
    completed: int = 0
    incomplete: int = 0
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


def _lookups_for(
    client: GovClient, item: _Pending
) -> list[tuple[str, str, CallResult]]:
    """Run the calls one application still needs; the permit check follows from the household record."""
    first = [
        ("household", item.student_id),
        ("real_estate", item.guardian_id),
        ("social_insurance", item.guardian_id),
    ]
    if item.has_permit_fields:
        first.append(("residence_permit", item.guardian_id))
    first = [(name, subject) for name, subject in first if name not in item.done]
    results = [client.call(name, subject) for name, subject in first]
    out = [
        (name, subject, result)
        for (name, subject), result in zip(first, results, strict=True)
    ]
    by_name = {name: result for name, _s, result in out}
    household = by_name.get("household")
    if (
        household is not None
        and household.outcome == "not_found"
        and "population" not in item.done
    ):
        out.append(
            (
                "population",
                item.student_id,
                client.call("population", item.student_id),
            )
        )
    non_local = (
        household is not None
        and household.outcome == "found"
        and household.body is not None
        and not str(
            household.body["record"].get("registered_division_code", "")
        ).startswith(item.county_code)
    )
    if (
        non_local
        and "residence_permit" not in item.done
        and "residence_permit" not in by_name
    ):
        out.append(
            (
                "residence_permit",
                item.guardian_id,
                client.call("residence_permit", item.guardian_id),
            )
        )
    return out


def _candidate_ids(
    session: Session, *, season_id: int, county_code: str, stage: str | None
) -> list[int]:
    query = select(Application.id).where(
        Application.season_id == season_id,
        Application.county_code == county_code,
        Application.status == Status.SUBMITTED,
        Application.consent == True,  # noqa: E712
    )
    if stage:
        query = query.where(Application.stage == stage)
    return [
        i for i in session.exec(query.order_by(col(Application.id))) if i is not None
    ]


def _claim(engine: Engine, ids: list[int], token: str) -> list[_Pending]:
    """Claim the still-unclaimed applications of `ids` for this run and load what they need.

    The calls already made are read after the claim, so work another run finished
    before this one is not repeated.
    """
    now = utcnow()
    with Session(engine) as session:
        session.execute(
            update(Application)
            .where(
                col(Application.id).in_(ids),
                col(Application.status) == Status.SUBMITTED,
                or_(
                    col(Application.lookup_token).is_(None),
                    col(Application.lookup_claimed_at) < now - LEASE,
                ),
            )
            .values(lookup_token=token, lookup_claimed_at=now)
        )
        session.commit()
        applications = list(
            session.exec(
                select(Application)
                .where(Application.lookup_token == token)
                .order_by(col(Application.id))
            )
        )
        claimed = [a.id for a in applications if a.id is not None]
        done: dict[int, set[str]] = {}
        rows = session.exec(
            select(Lookup.application_id, Lookup.interface).where(
                col(Lookup.application_id).in_(claimed), Lookup.outcome != "failed"
            )
        )
        for application_id, interface in rows:
            done.setdefault(application_id, set()).add(interface)
    pending = []
    for a in applications:
        assert a.id is not None
        has_permit = bool(
            a.permit_issued_on or a.permit_expires_on or a.permit_authority
        )
        pending.append(
            _Pending(
                a.id,
                a.student_id_number,
                a.guardian_id_number,
                a.county_code,
                has_permit,
                done.get(a.id, set()),
            )
        )
    return pending


def _count_held(engine: Engine, ids: list[int], token: str) -> int:
    """Count applications of `ids` that another live run holds."""
    with Session(engine) as session:
        return session.exec(
            select(func.count())
            .select_from(Application)
            .where(
                col(Application.id).in_(ids),
                col(Application.status) == Status.SUBMITTED,
                col(Application.lookup_token).is_not(None),
                col(Application.lookup_token) != token,
                col(Application.lookup_claimed_at) >= utcnow() - LEASE,
            )
        ).one()


def _release(engine: Engine, token: str) -> None:
    """Drop this run's claim, whether its chunk was stored or interrupted."""
    with Session(engine) as session:
        session.execute(
            update(Application)
            .where(col(Application.lookup_token) == token)
            .values(lookup_token=None, lookup_claimed_at=None)
        )
        session.commit()


def _run_chunk(
    engine: Engine,
    pool: ThreadPoolExecutor,
    client: GovClient,
    chunk: list[_Pending],
    *,
    actor: str,
    report: LookupReport,
) -> None:
    """Run and store one claimed chunk; on interrupt, store what finished, then re-raise.

    Calls already made are evidence, and the services recorded them. So an interrupt
    (Ctrl-C) waits for the applications in flight and keeps every finished one. Only
    applications not yet started are left for the next run.
    """
    futures = {pool.submit(_lookups_for, client, item): item for item in chunk}
    try:
        wait(futures)
    except BaseException:
        for future in futures:
            future.cancel()
        wait([f for f in futures if not f.cancelled()])
        finished = [f for f in futures if f.done() and not f.cancelled()]
        _store_chunk(
            engine,
            [futures[f] for f in finished],
            [f.result() for f in finished],
            actor=actor,
            report=report,
        )
        log.warning(
            "lookup interrupted; stored %d finished applications", len(finished)
        )
        raise
    _store_chunk(
        engine,
        chunk,
        [future.result() for future in futures],
        actor=actor,
        report=report,
    )


def run_lookups(
    engine: Engine,
    *,
    season_id: int,
    county_code: str,
    base_url: str,
    actor: str,
    stage: str | None = None,
    concurrency: int = 16,
    chunk_size: int = 200,
    retry: RetryPolicy | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LookupReport:
    """Look up every consenting submitted application and store each call.

    Work is committed per chunk, so an interrupted batch resumes without repeating
    finished calls. An application whose calls all succeeded moves to VERIFIED; one with a
    failed call stays SUBMITTED with the failure as its reason and is retried next run.
    Each chunk is claimed first, so a second run at the same time skips the applications
    this one has claimed (counted in `held_elsewhere`) instead of querying them again.
    """
    with Session(engine) as session:
        candidates = _candidate_ids(
            session, season_id=season_id, county_code=county_code, stage=stage
        )
    report = LookupReport()
    started = time.monotonic()

    # Each worker thread runs one application's calls in turn; applications run in parallel.
    with (
        GovClient(
            base_url,
            operator=actor,
            purpose=PURPOSE,
            concurrency=concurrency,
            retry=retry,
        ) as client,
        ThreadPoolExecutor(concurrency, thread_name_prefix="lookup") as pool,
    ):
        for start in range(0, len(candidates), chunk_size):
            ids = candidates[start : start + chunk_size]
            token = uuid.uuid4().hex
            try:
                chunk = _claim(engine, ids, token)
                report.applications += len(chunk)
                report.held_elsewhere += _count_held(engine, ids, token)
                _run_chunk(engine, pool, client, chunk, actor=actor, report=report)
            finally:
                _release(engine, token)
            if progress:
                progress(min(start + chunk_size, len(candidates)), len(candidates))
    report.seconds = time.monotonic() - started
    if report.incomplete:
        log.warning(
            "%d applications incomplete; %d calls not sent while a breaker was open",
            report.incomplete,
            report.not_sent,
        )
    log.info(
        "lookups done: %d applications, %d calls, %.1f s",
        report.applications,
        report.total_calls,
        report.seconds,
    )
    return report


def _store_chunk(
    engine: Engine,
    chunk: list[_Pending],
    results: list[list[tuple[str, str, CallResult]]],
    *,
    actor: str,
    report: LookupReport,
) -> None:
    now = utcnow()
    with Session(engine) as session:
        for item, calls in zip(chunk, results, strict=True):
            failed = []
            for interface, subject, result in calls:
                if result.attempts == 0:
                    # The breaker was open: nothing was sent, so there is no call to
                    # record, only the reason why the application is incomplete.
                    report.not_sent += 1
                    failed.append(f"{interface}：{result.error}")
                    continue
                report.calls[(interface, result.outcome)] += 1
                session.add(
                    Lookup(
                        application_id=item.application_id,
                        interface=interface,
                        subject_id_number=subject,
                        purpose=PURPOSE,
                        operator=actor,
                        requested_at=now,
                        duration_ms=result.duration_ms,
                        attempts=result.attempts,
                        outcome=result.outcome,
                        http_status=result.http_status,
                        error=result.error,
                        response=result.body,
                    )
                )
                if result.outcome == "failed":
                    failed.append(f"{interface}：{result.error}")
            application = session.get(Application, item.application_id)
            assert application is not None
            if failed:
                application.status_reason = (
                    "数据查询未完成，待重试（" + "；".join(failed) + "）"
                )
                report.incomplete += 1
                application.lookup_token = None
            else:
                application.status = Status.VERIFIED
                application.status_reason = "政务数据已调取，待分批"
                report.completed += 1
            application.updated_at = now
            session.add(application)
            audit.record(
                session,
                actor=actor,
                action="lookup",
                entity="application",
                entity_id=item.application_id,
                detail={
                    "interfaces": [c[0] for c in calls],
                    "purpose": PURPOSE,
                    "failed": len(failed),
                },
            )
        session.commit()
